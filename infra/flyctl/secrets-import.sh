# Stage the secrets read from stdin (NAME=VALUE lines; see flyctl.secrets_stdin).
#
# `secrets import -a APP --stage` (internal/command/secrets/import.go, secrets.go): --stage
# sets them without restarting machines; the next deploy applies them. The request carries
# every value, so flyctl runs as private_flyctl (private.sh).
set -u
private_flyctl secrets import -a "$APP_NAME" --stage
