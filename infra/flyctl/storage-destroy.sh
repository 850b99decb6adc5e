# Destroy $APP_NAME's Tigris bucket ($TIGRIS_BUCKET if the app is gone) and the secrets that pointed
# at it; gone counts as done.
#
# `storage destroy -a APP --yes` (internal/command/extensions/tigris/destroy.go: core.go
# Discover finds the app's bucket; without --yes a non-interactive run fails). It leaves the
# app's AWS_* and BUCKET_NAME secrets, which would stop a later `storage create` from setting
# new ones (setSecretsFromExtension skips names that exist), so they are unset, staged
# (`secrets unset ... --stage`, internal/command/secrets/unset.go): the next deploy drops them.
set -u
exec 3>&1
if err=$("$FLYCTL" storage destroy -a "$APP_NAME" --yes 2>&1 1>&3 3>&-); then
  [ -z "$err" ] || printf '%s\n' "$err" >&2
else
  case $err in
    *'Could not find App'*)
      # `apps destroy` keeps buckets made with `storage create -a` (apps/destroy.go removes
      # only the statics bucket), so look for ours by name (Discover: GetAddOn).
      if err=$("$FLYCTL" storage destroy "$TIGRIS_BUCKET" --yes 2>&1 1>&3 3>&-); then exit 0; fi
      case $err in *'Could not find AddOn'*) echo "bucket $TIGRIS_BUCKET is gone"; exit 0 ;; esac
      printf '%s\n' "$err" >&2
      exit 1
      ;;
    *'No project found'*) echo "app $APP_NAME has no Tigris bucket" ;;
    *) printf '%s\n' "$err" >&2; exit 1 ;;
  esac
fi
# shellcheck disable=SC2086 # names are single words
exec "$FLYCTL" secrets unset $tigris_secret_names -a "$APP_NAME" --stage
