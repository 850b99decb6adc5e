# Run $MACHINE_COUNT machines in $REGION, with one volume each.
#
# `scale count N --region R -a APP --yes` (internal/command/scale/count.go, count_machines.go:
# N is the total across the listed regions; new machines clone the deployed config and reuse
# unattached volumes in R before creating new ones; without --yes a non-interactive run
# fails). Machines removed leave their volumes, and `scale count` does not wait for them to go
# (count_machines.go destroyMachine): once at most N volumes are still attached (bounded
# wait), the unattached ones are destroyed, so the region keeps one volume per machine.
set -u
exec 3>&1
"$FLYCTL" scale count "$MACHINE_COUNT" --region "$REGION" -a "$APP_NAME" --yes || exit $?
wait_until_attached_at_most "$MACHINE_COUNT" || exit 1
# shellcheck disable=SC2046 # volume ids are single words
destroy_volumes $(printf '%s\n' "$matches" | awk 'NF && $4 == "-" { print $1 }') || exit 1
