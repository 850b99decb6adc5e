# Stop every machine in $REGION: the delete of a region's machines (or, for the primary
# region, of the deploy), so an app that is gone, or one with no machines and no release to
# take a config from ("could not create a fly.toml from any machines", appconfig/remote.go
# FromRemoteApp; "this app has no complete releases", scale/count_machines.go), already has
# none and counts as done. `scale count 0 --region R -a APP --yes` (scale/count.go).
set -u
exec 3>&1
if err=$("$FLYCTL" scale count 0 --region "$REGION" -a "$APP_NAME" --yes 2>&1 1>&3 3>&-); then
  [ -z "$err" ] || printf '%s\n' "$err" >&2
  exit 0
fi
case $err in
  *'Could not find App'*|*'has no complete releases'*|*'fly.toml from any machines'*)
    echo "app $APP_NAME has no machines in $REGION"
    exit 0
    ;;
esac
printf '%s\n' "$err" >&2
exit 1
