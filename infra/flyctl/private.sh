# flyctl for a call that carries secret values, without writing them anywhere.
#
# flyctl logs every API request and response body at Debug (fly-go http.go LoggingTransport,
# also under the Machines API client): to stderr with LOG_LEVEL=debug (internal/logger/
# logger.go levelFromEnv), and always to a log file under its config directory (cli.go Run ->
# logger/logfile/fs.go CreateLogFile, ~/.fly/logs/flyctl-<time>.log, the 10 newest kept; the
# file sink has no level, file_logger.go). So these calls run with LOG_LEVEL=info and with
# FLY_CONFIG_DIR (helpers/config.go) at a private folder that is removed afterwards, holding
# a copy of the config file, where a `fly auth login` keeps its token. (sh has no local
# variables: the names here are prefixed so they never overwrite a caller's.)
private_flyctl() {
  private_dir=$(mktemp -d) || return 1
  private_config="${FLY_CONFIG_DIR:-${HOME:-}/.fly}/config.yml"
  if [ -f "$private_config" ]; then
    (umask 077 && cp "$private_config" "$private_dir/config.yml") ||
      { rm -rf "$private_dir"; return 1; }
  fi
  FLY_CONFIG_DIR="$private_dir" LOG_LEVEL=info "$FLYCTL" "$@"
  private_status=$?
  rm -rf "$private_dir"
  return "$private_status"
}
