# Destroy every volume named $VOLUME_NAME in $REGION once no machine holds it.
#
# Runs after the region is scaled to 0, which does not wait for its machines to go, so this
# waits (at most $DETACH_TIMEOUT_S seconds) for every volume to detach first. A missing app
# means its volumes are gone too.
set -u
exec 3>&1
wait_until_attached_at_most 0 || exit 1
if [ -n "${app_gone:-}" ]; then
  echo "app $APP_NAME is gone"
  exit 0
fi
# shellcheck disable=SC2046 # volume ids are single words
destroy_volumes $(printf '%s\n' "$matches" | cut -d' ' -f1) || exit 1
