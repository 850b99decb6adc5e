# Destroy $APP_NAME; an app that is already gone counts as destroyed.
#
# `apps destroy NAME --yes` (internal/command/apps/destroy.go: the app is positional, there is
# no -a; without --yes a non-interactive run fails). A missing app fails in GetApp with
# `Could not find App "NAME"`, the only error taken as success.
set -u
exec 3>&1
if err=$("$FLYCTL" apps destroy "$APP_NAME" --yes 2>&1 1>&3 3>&-); then
  [ -z "$err" ] || printf '%s\n' "$err" >&2
  exit 0
fi
case $err in
  *'Could not find App'*) echo "app $APP_NAME is already gone"; exit 0 ;;
esac
printf '%s\n' "$err" >&2
exit 1
