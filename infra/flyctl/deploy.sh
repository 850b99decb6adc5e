# Build $BUILD_DIR remotely and deploy it to $APP_NAME; when $PRIMARY_REGION changed, move the
# primary there first.
#
# `deploy DIR -a APP --config DIR/fly.toml --dockerfile DIR/Dockerfile --remote-only
# --ha=false --strategy S --wait-timeout T --yes` (internal/command/deploy/deploy.go). flyctl
# first changes into the positional directory (command.go
# ChangeWorkingDirectoryToFirstArgIfPresent) and only then resolves relative --config and
# --dockerfile (deploy_build.go resolveDockerfilePath), so the folder is made absolute first.
# --ha is a bool flag: it takes its value only as `--ha=false` (spf13/pflag); with [mounts]
# flyctl makes one machine anyway. --yes answers confirmations; deploy's remaining prompts
# (detaching a volume) fail when not interactive whatever the flag says.
#
# Moving the primary. flyctl sets PRIMARY_REGION in every machine's env from fly.toml's
# primary_region (internal/appconfig/machines.go), so the deployed one is read back from
# `machine list --json` (machine/list.go: fly-go Machine, config.env). The last line this
# script prints names the region it deployed with; when the previous run's (pulumi-command
# passes it in PULUMI_COMMAND_STDOUT) names this one, nothing is looked up. A deploy updates
# machines where they are and makes none in a new primary region while any machine exists
# (deploy/machines_deploymachinesapp.go), so the move is:
# 1. `machine stop ID -a APP --signal SIGTERM --timeout K` (machine/stop.go): the old primary
#    stops as Fly stops it, and Litestream ships its last writes. `--wait-timeout` would wait
#    at most a minute (fly-go flaps_machines_wait.go caps it) where K may be five, so the
#    script polls `machine list` until the machine is stopped, up to K + 30 s;
# 2. `scale count 0 --region OLD` removes it (count_machines.go destroys without a stop, so
#    it comes second); its volume stays, for the volume's own resource to release;
# 3. the deploy: every replica now follows PRIMARY_REGION;
# 4. `scale count 1 --region NEW` starts the new primary from the new release
#    (count_machines.go clones the group's machine config), on the volume made there before;
#    run.sh finds no database and restores the backup.
set -u
context=$(CDPATH='' cd "$BUILD_DIR" && pwd -P) || exit 1

# "ID REGION PRIMARY_REGION STATE" per machine ("-" for a missing value), from
# `machine list --json` (Go's encoder, 4-space indent: a machine's own fields at 8 spaces,
# its config.env entries deeper).
machine_rows() {
  listed=$("$FLYCTL" machine list -a "$APP_NAME" --json) || return 1
  printf '%s\n' "$listed" | awk '
function str(s) { sub(/^[^:]*: "/, "", s); sub(/",?[ \t\r]*$/, "", s); return s }
function or_dash(s) { return s == "" ? "-" : s }
/^        "id": "/ { id = str($0) }
/^        "state": "/ { st = str($0) }
/^        "region": "/ { rg = str($0) }
/^ +"PRIMARY_REGION": "/ { pr = str($0) }
/^    }/ {
  if (id != "") print id, or_dash(rg), or_dash(pr), or_dash(st)
  id = ""; rg = ""; pr = ""; st = ""
}
'
}

# From machine_rows on stdin: the ids of the machines in region $1 not stopped yet.
not_stopped_in() {
  awk -v r="$1" '$2 == r && $4 != "stopped" { print $1 }'
}

# Waits until no machine of $1 (a region) is still running, at most $2 seconds.
wait_until_stopped() {
  waited=0
  while :; do
    polled=$(machine_rows) || return 1
    stopping=$(printf '%s\n' "$polled" | not_stopped_in "$1")
    [ -z "$stopping" ] && return 0
    if [ "$waited" -ge "$2" ]; then
      echo "machines $(echo "$stopping" | tr '\n' ' ')in $1 did not stop within $2 s" >&2
      return 1
    fi
    sleep 2
    waited=$((waited + 2))
  done
}

previous=$(printf '%s\n' "${PULUMI_COMMAND_STDOUT:-}" | sed -n 's/^deployed with primary region //p' | tail -n 1)
if [ "$previous" != "$PRIMARY_REGION" ]; then
  rows=$(machine_rows) || exit 1
  old=$(printf '%s\n' "$rows" | awk -v new="$PRIMARY_REGION" '$3 != "-" && $3 != new { print $3; exit }')
  if [ -n "$old" ]; then
    echo "moving the primary from $old to $PRIMARY_REGION"
    # One stopped already (by Fly's autostop, or a run that failed later) stopped the same way.
    running=$(printf '%s\n' "$rows" | not_stopped_in "$old")
    if [ -n "$running" ]; then
      # shellcheck disable=SC2086 # machine ids are single words
      "$FLYCTL" machine stop $running -a "$APP_NAME" --signal SIGTERM \
        --timeout "$KILL_TIMEOUT_S" || exit 1
      wait_until_stopped "$old" "$((KILL_TIMEOUT_S + 30))" || exit 1
    fi
    if printf '%s\n' "$rows" | awk -v r="$old" '$2 == r { found = 1 } END { exit !found }'; then
      "$FLYCTL" scale count 0 --region "$old" -a "$APP_NAME" --yes || exit 1
    fi
  fi
fi

"$FLYCTL" deploy "$context" -a "$APP_NAME" --config "$context/fly.toml" \
  --dockerfile "$context/Dockerfile" --remote-only --ha=false \
  --strategy "$DEPLOY_STRATEGY" --wait-timeout "$DEPLOY_WAIT_TIMEOUT" --yes || exit 1
if [ -n "${old:-}" ]; then
  "$FLYCTL" scale count 1 --region "$PRIMARY_REGION" -a "$APP_NAME" --yes || exit 1
  echo "the primary now runs in $PRIMARY_REGION; the $old volume is released by its own step"
fi
echo "deployed with primary region $PRIMARY_REGION"
