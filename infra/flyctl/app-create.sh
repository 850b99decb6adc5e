# Create $APP_NAME in $ORG, or adopt it when it already exists in $ORG.
#
# `apps create NAME --org ORG` (internal/command/apps/create.go). App names are global: a taken
# name fails with "Validation failed: Name has already been taken" and fly-go's name_taken
# suggestion (fly-go flaps/flaps_error.go). On any failure the app is looked up in `apps list
# --org ORG --json` (internal/command/apps/list.go; fly.App has no json tags, so the app's own
# "Name" sits at 8 spaces, its organization's at 12): found means it is ours (taken earlier, or
# created before a later step failed) and is adopted; otherwise a taken name belongs to another
# organization, which is said; any other error is passed on.
set -u
exec 3>&1
if err=$("$FLYCTL" apps create "$APP_NAME" --org "$ORG" 2>&1 1>&3 3>&-); then
  [ -z "$err" ] || printf '%s\n' "$err" >&2
  exit 0
fi
if ! apps=$("$FLYCTL" apps list --org "$ORG" --json); then
  printf '%s\n' "$err" >&2
  exit 1
fi
if printf '%s\n' "$apps" | grep -qxF "        \"Name\": \"$APP_NAME\","; then
  echo "adopting existing app $APP_NAME in org $ORG"
  exit 0
fi
printf '%s\n' "$err" >&2
case $err in
  *'already been taken'*|*'App names are unique'*)
    echo "app name $APP_NAME belongs to another organization, not $ORG: choose another app name" >&2
    ;;
esac
exit 1
