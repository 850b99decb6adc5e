# Make $REGION hold at least $MACHINE_COUNT volumes named $VOLUME_NAME as the settings say;
# converges when re-run (an input change runs it again).
#
# Refuses before changing anything if a volume is bigger than $VOLUME_SIZE_GB ("volumes cannot
# shrink"). Creates the missing ones with `volumes create` (internal/command/volumes/create.go:
# --yes skips the "pinned to a host" prompt, which fails when not interactive; --vm-size and
# --vm-memory become the request's ComputeRequirements via flag.GetMachineGuest, so the volume
# lands on a host that fits the machine, where without them it is placed for the default
# shared-cpu-1x). Grows smaller ones with `volumes extend` (extend.go; never prompts) and sets
# another retention with `volumes update --snapshot-retention` (update.go). Every volume is
# ours to make: `scale count` would size new ones from the cloned machine's mount and leave
# their retention to the API (scale/machine_defaults.go), so it only reuses these.
set -u
list_volumes || exit 1
if [ -n "${app_gone:-}" ]; then
  echo "app $APP_NAME does not exist" >&2
  exit 1
fi
shrink=$(printf '%s\n' "$matches" | awk -v n="$VOLUME_SIZE_GB" '$2 > n {
  printf "volumes cannot shrink: %s is %s GB, asked for %s GB\n", $1, $2, n; exit }')
if [ -n "$shrink" ]; then
  printf '%s\n' "$shrink" >&2
  exit 1
fi
missing=$(printf '%s\n' "$matches" |
  awk -v want="$MACHINE_COUNT" 'NF { have++ } END { print want - have }')
if [ "$missing" -gt 0 ]; then
  "$FLYCTL" volumes create "$VOLUME_NAME" -a "$APP_NAME" --region "$REGION" \
    --size "$VOLUME_SIZE_GB" --snapshot-retention "$SNAPSHOT_RETENTION_DAYS" \
    --vm-size "$VM_SIZE" --vm-memory "$VM_MEMORY_MB" --count "$missing" --yes --json \
    >/dev/null || exit $?
  echo "created $missing volume(s) $VOLUME_NAME in $REGION" >&2
fi
smaller=$(printf '%s\n' "$matches" | awk -v n="$VOLUME_SIZE_GB" 'NF && $2 < n { print $1 }')
for id in $smaller; do
  "$FLYCTL" volumes extend "$id" -a "$APP_NAME" --size "$VOLUME_SIZE_GB" >&2 || exit $?
done
other=$(printf '%s\n' "$matches" |
  awk -v d="$SNAPSHOT_RETENTION_DAYS" 'NF && $3 != d { print $1 }')
for id in $other; do
  "$FLYCTL" volumes update "$id" -a "$APP_NAME" \
    --snapshot-retention "$SNAPSHOT_RETENTION_DAYS" >/dev/null || exit $?
  echo "volume $id keeps snapshots $SNAPSHOT_RETENTION_DAYS days" >&2
done
echo "$VOLUME_NAME in $REGION: $MACHINE_COUNT x $VOLUME_SIZE_GB GB," \
  "snapshots kept $SNAPSHOT_RETENTION_DAYS days, placed for $VM_SIZE with $VM_MEMORY_MB MB"
