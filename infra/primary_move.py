"""Moving the primary to another region, and refusing the moves that would lose data.

A move is a change of `primaryRegion`. The new primary starts on an empty volume and restores
the backup, so the backup must be off the machine and already where it was: a `file` backup
lives on the old primary's volume, and a backup location changed in the same run holds
nothing yet. Pulumi gives a program no view of the previous run's settings, but a resource
hook does: the engine passes it the old and new inputs of the `primary-region` marker
(pulumi/pulumi pkg/resource/deploy/step.go UpdateStep.Apply -> deployment.go RunHooks), and
with `on_dry_run` it runs in preview too, so a refused move stops `pulumi preview` and
`pulumi up` before anything else runs (every Fly command depends on the marker).
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
from pulumi_command import local

from infra.settings import PROJECT, StackSettings

HOOK_NAME = "refuse-a-primary-move-that-loses-data"


def backup_location(settings: StackSettings) -> str:
    """Where the primary's backup is, as one comparable string (no credential in it)."""
    if settings.backup_target == "file":
        return f"file:{settings.backup_path}"
    if settings.backup_target == "tigris":
        return f"tigris:{settings.tigris_bucket}/{settings.backup_path}"
    return f"s3:{settings.s3_endpoint}/{settings.s3_bucket}/{settings.backup_path}"


def marker_environment(settings: StackSettings) -> dict[str, str]:
    return {
        "PRIMARY_REGION": settings.primary_region,
        "BACKUP_LOCATION": backup_location(settings),
        "REPLICA_REGIONS": " ".join(settings.replica_regions),
    }


def move_problem(old: Mapping[str, str], new: Mapping[str, str]) -> str | None:
    """Why the change from the old marker environment to the new one must not run, or None."""
    before, after = old.get("PRIMARY_REGION"), new["PRIMARY_REGION"]
    if not before or before == after:
        return None
    key = f"{PROJECT}:primaryRegion"
    where, now = old.get("BACKUP_LOCATION", ""), new["BACKUP_LOCATION"]
    if now.startswith("file:"):
        return (
            f"{key} {before} -> {after}: with backupTarget file the database and its only "
            f"backup are on the {before} volume, and a Fly volume cannot move to another region. "
            f"Back up off the machine first (backupTarget: tigris, `pulumi up`, then let it "
            f"back up), then change primaryRegion; or set primaryRegion back to {before}."
        )
    if where != now:
        return (
            f"{key} {before} -> {after} in the same run as a new backup location ({where} -> "
            f"{now}): the new primary would restore from a backup that does not hold the data "
            f"yet. Change the backup alone first (`pulumi up`), then change primaryRegion."
        )
    if before in new.get("REPLICA_REGIONS", "").split():
        return (
            f"{key} {before} -> {after} while {before} becomes a replica region: its volume "
            f"still holds the old primary's database. Move the primary first, then add "
            f"{before} to replicas in a later `pulumi up`."
        )
    return None


def _refuse(args: pulumi.ResourceHookArgs) -> None:
    problem = move_problem(
        (args.old_inputs or {}).get("environment") or {},
        (args.new_inputs or {}).get("environment") or {},
    )
    if problem:
        raise ValueError(problem)


def marker(settings: StackSettings, opts: pulumi.ResourceOptions) -> local.Command:
    """A Command that runs nothing and records where the primary and its backup are."""
    hook = pulumi.ResourceHook(
        HOOK_NAME, _refuse, opts=pulumi.ResourceHookOptions(on_dry_run=True)
    )
    return local.Command(
        "primary-region",
        environment=marker_environment(settings),
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(hooks=pulumi.ResourceHookBinding(before_update=[hook]))
        ),
    )
