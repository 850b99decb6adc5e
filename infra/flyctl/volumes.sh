# Shared by the scripts that handle volumes: which volumes of $VOLUME_NAME in $REGION the app
# has, waiting until machines let go of them, destroying them. flyctl's JSON comes from
# internal/render/render.go JSON: Go's encoder with a 4-space indent, one field per line, which
# is what the line-based parsing below relies on (no jq on the machines that run this).

# From `volumes list --json` on stdin, one line per volume named $1 in region $2:
# "ID SIZE_GB SNAPSHOT_RETENTION ATTACHED_MACHINE" (machine "-" when detached). The array holds
# flat objects (fly-go volume_types.go Volume), so a closing brace ends one volume.
matching_volumes() {
  awk -v want_name="$1" -v want_region="$2" '
function str(s) { sub(/^[^:]*: "/, "", s); sub(/",?[ \t\r]*$/, "", s); return s }
function num(s) { sub(/^[^:]*: /, "", s); sub(/,?[ \t\r]*$/, "", s); return s + 0 }
/^[ \t]*"id": "/ { id = str($0) }
/^[ \t]*"name": "/ { nm = str($0) }
/^[ \t]*"region": "/ { rg = str($0) }
/^[ \t]*"size_gb": / { sz = num($0) }
/^[ \t]*"snapshot_retention": / { keep = num($0) }
/^[ \t]*"attached_machine_id": "/ { on = str($0) }
/^[ \t]*}/ {
  if (id != "" && nm == want_name && rg == want_region) print id, sz, keep, (on == "" ? "-" : on)
  id = ""; nm = ""; rg = ""; sz = 0; keep = 0; on = ""
}
'
}

# Sets $matches to the app's volumes of this name in this region. An app that is gone has none
# and sets $app_gone. `volumes list` hides destroyed volumes (fly-go flaps_volumes.go).
# shellcheck disable=SC2034 # app_gone: not every script asks
list_volumes() {
  if ! vols=$("$FLYCTL" volumes list -a "$APP_NAME" --json 2>&1); then
    case $vols in
      *'Could not find App'*) app_gone=1; matches=''; return 0 ;;
    esac
    printf '%s\n' "$vols" >&2
    return 1
  fi
  matches=$(printf '%s\n' "$vols" | matching_volumes "$VOLUME_NAME" "$REGION")
}

# Polls once a second until at most $1 of the volumes are attached, for at most
# $DETACH_TIMEOUT_S seconds. `scale count` destroys machines without waiting for them
# (internal/command/scale/count_machines.go destroyMachine), and a volume stays "bound to
# machine" until its machine is gone.
wait_until_attached_at_most() {
  tries=0
  while :; do
    list_volumes || return 1
    attached=$(printf '%s\n' "$matches" | awk 'NF && $4 != "-" { n++ } END { print n + 0 }')
    [ "$attached" -gt "$1" ] || return 0
    if [ "$tries" -ge "$DETACH_TIMEOUT_S" ]; then
      echo "volumes $VOLUME_NAME in $REGION are still attached to machines after" \
        "${DETACH_TIMEOUT_S}s; run the step again once they have:" >&2
      printf '%s\n' "$matches" |
        awk 'NF && $4 != "-" { print "  " $1 " attached to machine " $4 }' >&2
      return 1
    fi
    [ "$tries" -gt 0 ] || echo "waiting for machines to let go of their volumes" >&2
    tries=$((tries + 1))
    sleep 1
  done
}

# Destroys each volume id given; one that is already gone is done. `volumes destroy ID -a APP
# --yes` (internal/command/volumes/destroy.go): without -a, flyctl looks the volume up over
# GraphQL first, which fails with "Could not find Volume with id" (superfly/flyctl#4663).
destroy_volumes() {
  for id in "$@"; do
    if err=$("$FLYCTL" volumes destroy "$id" -a "$APP_NAME" --yes 2>&1 1>&3 3>&-); then
      continue
    fi
    if list_volumes && ! printf '%s\n' "$matches" | cut -d' ' -f1 | grep -qxF "$id"; then
      echo "volume $id is already gone"
      continue
    fi
    printf '%s\n' "$err" >&2
    return 1
  done
}
