#!/usr/bin/env bash
# Machine entrypoint. The primary restores its database from the backup if the volume is empty
# and runs sqld under `litestream replicate -exec`; a replica runs sqld alone, which pulls the
# database from the primary's gRPC port and forwards writes there.
set -euo pipefail

log() { echo "run.sh: $*" >&2; }

# sqld reads SQLD_AUTH_JWT_KEY itself; without it sqld would serve everyone (main.rs).
if [[ -z "${SQLD_AUTH_JWT_KEY:-}" ]]; then
  log "SQLD_AUTH_JWT_KEY is not set; refusing to start a database without authentication"
  exit 1
fi

# gRPC mutual TLS: without it the gRPC port serves the whole database to anyone who can reach it
# (FIELD-NOTES). All five PEMs (Fly secrets) or none; on Fly (FLY_MACHINE_ID is always set there)
# none means a misconfigured machine, so refuse rather than replicate in clear.
tls_vars=(GRPC_TLS_CA_CERT GRPC_TLS_SERVER_CERT GRPC_TLS_SERVER_KEY GRPC_TLS_CLIENT_CERT
  GRPC_TLS_CLIENT_KEY)
tls_missing=()
for var in "${tls_vars[@]}"; do [[ -n "${!var:-}" ]] || tls_missing+=("$var"); done
if ((${#tls_missing[@]} == ${#tls_vars[@]})); then
  grpc_tls=""
  if [[ -n "${FLY_MACHINE_ID:-}" ]]; then
    log "on Fly but the GRPC_TLS_* secrets are not set; refusing to serve replication in clear"
    exit 1
  fi
elif ((${#tls_missing[@]})); then
  log "partial gRPC TLS material: ${tls_missing[*]} not set; set all of ${tls_vars[*]} or none"
  exit 1
else
  grpc_tls=1
fi

DATA_DIR="${DATA_DIR:-/data}"
export DATA_DIR # litestream.yml expands ${DATA_DIR}

# In the image we start as root only to own the volume; the work runs as the image's user.
# gosu re-runs this script with the environment as it came.
if [[ "$(id -u)" == 0 ]] && command -v gosu >/dev/null; then
  log "taking ownership of $DATA_DIR for user sqld, dropping root"
  mkdir -p "$DATA_DIR"
  find "$DATA_DIR" \! -user sqld -exec chown sqld:sqld {} +
  exec gosu sqld "$0" "$@"
fi

SQLD_BIN="${SQLD_BIN:-sqld}"
LITESTREAM_BIN="${LITESTREAM_BIN:-litestream}"
LITESTREAM_CONFIG="${LITESTREAM_CONFIG:-/etc/litestream.yml}"
http_addr="${SQLD_HTTP_LISTEN_ADDR:-[::]:8080}"
grpc_addr="${SQLD_GRPC_LISTEN_ADDR:-[::]:5001}"
# Metrics, all off unless set (fly.toml sets them). metrics.pl serves GET /metrics on
# METRICS_LISTEN_ADDR and nothing else; what it reads stays on loopback: sqld's admin API can
# create, delete and reconfigure databases (libsql-server src/http/admin/mod.rs), and Litestream's
# metrics server also serves Go's pprof handlers (cmd/litestream/replicate.go).
metrics_addr="${METRICS_LISTEN_ADDR:-}"
admin_addr="${SQLD_ADMIN_LISTEN_ADDR:-}"
litestream_metrics_addr="${LITESTREAM_METRICS_ADDR:-}"
# sqld also reads these names from the environment (clap `env`): clear them so only the flags
# below count, e.g. a replica must not inherit the gRPC listener that conflicts with
# --primary-grpc-url, a stray SQLD_HTTP_AUTH would replace JWT auth, and a stray admin key or
# address would change who reaches the admin API.
unset SQLD_HTTP_LISTEN_ADDR SQLD_GRPC_LISTEN_ADDR SQLD_PRIMARY_GRPC_URL SQLD_DB_PATH SQLD_HTTP_AUTH \
  SQLD_ADMIN_LISTEN_ADDR LIBSQL_ADMIN_AUTH_KEY LIBSQL_DISABLE_METRICS METRICS_LISTEN_ADDR

is_loopback() { [[ "$1" =~ ^(127\.[0-9]+\.[0-9]+\.[0-9]+|\[::1\]):[0-9]+$ ]]; }
for setting in "SQLD_ADMIN_LISTEN_ADDR=$admin_addr" "LITESTREAM_METRICS_ADDR=$litestream_metrics_addr"; do
  if [[ -n "${setting#*=}" ]] && ! is_loopback "${setting#*=}"; then
    log "$setting: must be a loopback address (127.x.x.x:PORT or [::1]:PORT); only metrics.pl" \
      "may listen for the scraper"
    exit 1
  fi
done
if [[ -n "$metrics_addr" && -z "$admin_addr" ]]; then
  log "METRICS_LISTEN_ADDR needs SQLD_ADMIN_LISTEN_ADDR (loopback): sqld's metrics live there"
  exit 1
fi

if [[ -n "${SQLD_ROLE:-}" ]]; then
  role="$SQLD_ROLE"
elif [[ -n "${FLY_REGION:-}" && -n "${PRIMARY_REGION:-}" ]]; then
  role=replica
  [[ "$FLY_REGION" == "$PRIMARY_REGION" ]] && role=primary
else
  log "set SQLD_ROLE, or FLY_REGION and PRIMARY_REGION, to choose primary or replica"
  exit 1
fi

sqld_args=(--db-path "$DATA_DIR/sqld" --http-listen-addr "$http_addr")
[[ -n "$admin_addr" ]] && sqld_args+=(--admin-listen-addr "$admin_addr")
sqld_args+=(--no-welcome)
db="$DATA_DIR/sqld/dbs/default/data"

case "$role" in
  replica)
    if [[ -z "${PRIMARY_GRPC_URL:-}" && ( -z "${PRIMARY_REGION:-}" || -z "${FLY_APP_NAME:-}" ) ]]; then
      log "a replica needs PRIMARY_GRPC_URL, or PRIMARY_REGION and FLY_APP_NAME"
      exit 1
    fi
    primary_url="${PRIMARY_GRPC_URL:-http://${PRIMARY_REGION}.${FLY_APP_NAME}.internal:5001}"
    ;;
  primary) ;;
  *)
    log "SQLD_ROLE must be primary or replica, not '$role'"
    exit 1
    ;;
esac

# sqld reads TLS material from files only. Off the volume (a snapshot must not carry keys),
# private to this user; printf is a builtin, so no PEM ever appears in an argv.
if [[ -n "$grpc_tls" ]]; then
  tls_dir="$(mktemp -d "${TMPDIR:-/tmp}/grpc-tls.XXXXXX")" # mode 700
  (
    umask 077
    for var in "${tls_vars[@]}"; do printf '%s\n' "${!var}" >"$tls_dir/$var.pem"; done
  )
  if [[ "$role" == primary ]]; then
    sqld_args+=(--grpc-tls --grpc-cert-file "$tls_dir/GRPC_TLS_SERVER_CERT.pem"
      --grpc-key-file "$tls_dir/GRPC_TLS_SERVER_KEY.pem"
      --grpc-ca-cert-file "$tls_dir/GRPC_TLS_CA_CERT.pem")
  else
    # sqld's gRPC client (tonic) does TLS for https:// URLs only and talks plain h2 to http://
    # ones, even with --primary-grpc-tls. It checks the name "sqld" in the primary's
    # certificate whatever host it dials (config.rs: domain_name("sqld")).
    primary_url="https://${primary_url#*://}"
    sqld_args+=(--primary-grpc-tls --primary-grpc-cert-file "$tls_dir/GRPC_TLS_CLIENT_CERT.pem"
      --primary-grpc-key-file "$tls_dir/GRPC_TLS_CLIENT_KEY.pem"
      --primary-grpc-ca-cert-file "$tls_dir/GRPC_TLS_CA_CERT.pem")
  fi
  log "gRPC mutual TLS on, material in $tls_dir"
else
  log "gRPC without TLS (allowed off Fly only): anyone who reaches the gRPC port can replicate"
fi
unset "${tls_vars[@]}"
# sqld gets none of the S3 credentials: Litestream reads them, and copies LITESTREAM_* to AWS_*
# in its own environment, which its -exec child would inherit.
sqld_env=(env)
for var in LITESTREAM_ACCESS_KEY_ID LITESTREAM_SECRET_ACCESS_KEY AWS_ACCESS_KEY_ID \
  AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN RESTORE_FROM_ACCESS_KEY_ID \
  RESTORE_FROM_SECRET_ACCESS_KEY; do sqld_env+=(-u "$var"); done

# Only for the sqld that serves: the primary's bootstrap sqld below has no admin API, and sqld
# refuses an admin key without one. A new key at every start, in the environment only (Litestream
# shows its -exec command line in its pprof handlers); metrics.pl sends it, nothing else has it.
export_admin_key() {
  [[ -n "$admin_addr" ]] || return 0
  LIBSQL_ADMIN_AUTH_KEY="$(head -c 24 /dev/urandom | base64 | tr -d '\n')"
  export LIBSQL_ADMIN_AUTH_KEY
}

start_metrics() { # metrics.pl, as a child of this process: it exits when the node does
  [[ -n "$metrics_addr" ]] || return 0
  local gate
  gate="$(dirname "${BASH_SOURCE[0]}")/metrics.pl"
  if ! command -v perl >/dev/null || [[ ! -r "$gate" ]]; then
    log "no perl or no $gate: serving no metrics"
    return 0
  fi
  "${sqld_env[@]}" METRICS_LISTEN_ADDR="$metrics_addr" METRICS_SQLD_ADMIN="$admin_addr" \
    METRICS_ROLE="$role" METRICS_REGION="${FLY_REGION:-}" \
    METRICS_LITESTREAM_ADDR="${1:-}" METRICS_LITESTREAM_SOCKET="${2:-}" \
    LITESTREAM_CONFIG="$LITESTREAM_CONFIG" DATA_DIR="$DATA_DIR" perl "$gate" </dev/null >&2 &
  log "metrics on http://$metrics_addr/metrics; sqld's admin API on $admin_addr only"
}

if [[ "$role" == replica ]]; then
  log "role replica (region ${FLY_REGION:-none}): sqld follows $primary_url, no Litestream"
  export_admin_key
  start_metrics
  exec "${sqld_env[@]}" "$SQLD_BIN" "${sqld_args[@]}" --primary-grpc-url "$primary_url"
fi

log "role primary (region ${FLY_REGION:-none}): sqld under Litestream, gRPC on $grpc_addr"
mkdir -p "$(dirname "$db")"
if [[ -e "$db" ]]; then
  log "database exists at $db; no restore"
else
  log "no database at $db; restoring from the backup if one exists"
  "$LITESTREAM_BIN" restore -config "$LITESTREAM_CONFIG" \
    -if-db-not-exists -if-replica-exists -o "$db" "$db"
  if [[ -e "$db" ]]; then
    log "restored $db from this stack's own backup"
  elif [[ -n "${RESTORE_FROM_CONFIG:-}" ]]; then
    # A clone with no backup of its own yet (one that has backed up restored above, and never
    # clones again): the other stack's backup, only read. Litestream takes the keys from the
    # config's ${VAR}s; empty ones would fall back to this stack's own AWS_* keys.
    if [[ -z "${RESTORE_FROM_ACCESS_KEY_ID:-}" || -z "${RESTORE_FROM_SECRET_ACCESS_KEY:-}" ]]; then
      log "RESTORE_FROM_ACCESS_KEY_ID and RESTORE_FROM_SECRET_ACCESS_KEY must be set to clone"
      exit 1
    fi
    as_of="${RESTORE_FROM_TIME:-latest}"
    log "no backup of this stack yet; cloning ${RESTORE_FROM:-$RESTORE_FROM_CONFIG} as of $as_of"
    clone_args=(-config "$RESTORE_FROM_CONFIG" -o "$db")
    # -timestamp takes the last state whose LTX files were all written before it; a time after
    # the last backup gives the latest (the -config form skips the bounds check the URL form
    # has). No -if-replica-exists: nothing at or before the time must fail the start, not start
    # empty (replica.go CalcRestorePlan, cmd/litestream/restore.go).
    [[ -n "${RESTORE_FROM_TIME:-}" ]] && clone_args+=(-timestamp "$RESTORE_FROM_TIME")
    if ! "$LITESTREAM_BIN" restore "${clone_args[@]}" "$db"; then
      log "could not clone ${RESTORE_FROM:-the source} as of $as_of; not starting empty"
      exit 1
    fi
    log "cloned $db from ${RESTORE_FROM:-the source} as of $as_of; it backs up to its own target"
  else
    log "no backup yet; starting empty"
  fi
fi
unset RESTORE_FROM_ACCESS_KEY_ID RESTORE_FROM_SECRET_ACCESS_KEY # Litestream replicate needs neither

# Litestream creates _litestream_seq and _litestream_lock from its own process (db.go init);
# page writes made outside sqld never reach sqld's replication log, so replicas would get a
# schema naming pages they never received. Creating the tables through sqld first puts them in
# the log. A short-lived sqld on loopback does it, guarded by a one-off HTTP basic credential
# (sqld prefers SQLD_HTTP_AUTH over JWT: make_user_auth_strategy in main.rs). It borrows the
# gRPC port, free until the real sqld starts, so Fly's /health check on the HTTP port never
# mistakes it for the database.
boot_port="${grpc_addr##*:}"
boot_credential="$(head -c 24 /dev/urandom | base64 | tr -d '\n')"

boot_request() { # SECONDS METHOD PATH [BODY] -> prints the raw HTTP response
  local wait_seconds="$1" body="${4:-}" response=""
  shift
  exec 3<>"/dev/tcp/127.0.0.1/$boot_port" || return 1
  printf '%s %s HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic %s\r\nConnection: close\r\n' \
    "$1" "$2" "$boot_credential" >&3
  printf 'Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' "${#body}" "$body" >&3
  IFS= read -r -d '' -t "$wait_seconds" response <&3 || true
  exec 3<&-
  printf '%s' "$response"
}

create_litestream_tables() {
  local sql='CREATE TABLE IF NOT EXISTS _litestream_seq (id INTEGER PRIMARY KEY, seq INTEGER);'
  sql+=' CREATE TABLE IF NOT EXISTS _litestream_lock (id INTEGER);'
  local body="{\"requests\":[{\"type\":\"sequence\",\"sql\":\"$sql\"},{\"type\":\"close\"}]}"
  SQLD_HTTP_AUTH="basic:$boot_credential" "${sqld_env[@]}" "$SQLD_BIN" \
    --db-path "$DATA_DIR/sqld" --http-listen-addr "127.0.0.1:$boot_port" --no-welcome >&2 &
  local boot_pid=$! response="" attempt
  trap 'kill -TERM "$boot_pid"; wait "$boot_pid"; log "stopped while starting"; exit 0' TERM INT
  for ((attempt = 1; attempt <= 100; attempt++)); do # up to ~10 s for sqld to listen
    response="$(boot_request 1 GET /health 2>/dev/null || true)"
    [[ "$response" == "HTTP/1.1 200"* ]] && break
    kill -0 "$boot_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [[ "$response" == "HTTP/1.1 200"* ]]; then
    response="$(boot_request 30 POST /v2/pipeline "$body" 2>/dev/null || true)"
  fi
  kill -TERM "$boot_pid" 2>/dev/null || true
  wait "$boot_pid" || true
  trap - TERM INT
  if [[ "$response" != "HTTP/1.1 200"* || "$response" == *'"type":"error"'* ]]; then
    log "could not create Litestream's tables through a loopback sqld on port $boot_port:" \
      "${response%%$'\r'*}"
    return 1
  fi
  log "Litestream's tables exist through sqld"
}
create_litestream_tables

# Litestream's side of the metrics (litestream.yml expands these): its metrics server on loopback,
# and its control socket, where metrics.pl reads the time of the last successful sync and the
# backup watchdog below forces syncs. The socket is always on; the metrics server only with metrics.
export LITESTREAM_METRICS_ADDR="" LITESTREAM_SOCKET LITESTREAM_SOCKET_ENABLED=true
LITESTREAM_SOCKET="$(mktemp -d "${TMPDIR:-/tmp}/litestream.XXXXXX")/control.sock" # dir mode 700
[[ -n "$metrics_addr" ]] && LITESTREAM_METRICS_ADDR="$litestream_metrics_addr"
export_admin_key
start_metrics "$LITESTREAM_METRICS_ADDR" "$LITESTREAM_SOCKET"

# Backup watchdog. On a full volume Litestream 0.5 stops making LTX files and retries with a
# backoff that doubles up to 5 minutes (db.go DB.monitor, DefaultSyncBackoffMax), so once space is
# back it may sit idle for minutes; meanwhile its last-sync time keeps moving, since the replica
# loop records a sync with nothing to ship (replica.go syncOnce). Every BACKUP_WATCHDOG_SECONDS
# this forces a sync through the control socket (server.go handleSync: DB sync, then upload),
# which resumes the backup as soon as it can, and says so in the log when backups stop and resume.
# It reads a pipe this process holds open: EOF means Litestream exited, and so does the watchdog.
backup_watchdog() {
  local every="${BACKUP_WATCHDOG_SECONDS:-5}" state=ok out free_kib
  while true; do
    read -r -t "$every" _ && continue
    (($? > 128)) || return 0
    if out="$("$LITESTREAM_BIN" sync -socket "$LITESTREAM_SOCKET" -wait -timeout 60 "$db" 2>&1)"; then
      [[ "$state" == ok ]] || log "backups resumed: Litestream is shipping new writes to the backup again"
      state=ok
    elif [[ "$state" == ok ]]; then
      state=failing
      if [[ "$out" == *"disk full"* || "$out" == *"disk is full"* || "$out" == *"no space left"* ]]; then
        free_kib="$(df -Pk "$DATA_DIR" | tail -n 1 | tr -s ' ' | cut -d ' ' -f 4)"
        log "backups paused: the volume at $DATA_DIR is full (${free_kib} KiB free), so Litestream" \
          "cannot stage new writes and nothing new reaches the backup. Grow the volume" \
          "(volumeSizeGb) or free space; backups resume by themselves within ${every}s of that"
      else
        log "backups failing: a forced Litestream sync failed: ${out//$'\n'/ }"
      fi
    fi
  done
}
exec {watchdog_pipe}> >(backup_watchdog)
log "backup watchdog on (fd $watchdog_pipe): a forced Litestream sync every ${BACKUP_WATCHDOG_SECONDS:-5}s"

# Only Litestream checkpoints the primary's WAL. sqld's own autocheckpoint (every 1000 WAL
# frames, PASSIVE, upgraded to TRUNCATE one time in ten: connection_manager.rs checkpoint) is
# held back only by Litestream's long read transaction, and Litestream loses that transaction
# whenever a control-socket sync (the watchdog's) opens the database or checkpoints: it is begun
# with that request's context, which ends with the request (db.go init/execCheckpoint,
# server.go handleSync). sqld then backfilled frames Litestream had not staged and restarted the
# WAL; Litestream took the restart as harmless (verify: lastPageMatch, detectFullCheckpoint) and
# the backup lost those commits. A checkpoint interval turns sqld's autocheckpoint off
# (namespace/configurator/helpers.rs); a year means its periodic one never comes in practice.
# Litestream's own checkpoints stage every frame first (checkpointWithExecutor).
# litestream -exec splits its argument like a shell (go-shellwords): quote every word.
sqld_command="$(printf '%q ' "${sqld_env[@]}" "$SQLD_BIN" "${sqld_args[@]}" \
  --grpc-listen-addr "$grpc_addr" --checkpoint-interval-s 31536000)"
log "starting litestream replicate -config $LITESTREAM_CONFIG -exec sqld"
exec "$LITESTREAM_BIN" replicate -config "$LITESTREAM_CONFIG" -exec "$sqld_command"
