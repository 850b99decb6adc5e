"""Scenario 1: only holders of a token signed by the stack's key get in, and run.sh refuses to
start a database that would accept anyone."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.runtime.cluster import (
    RUN_SH,
    Keys,
    Ports,
    Tools,
    http_status,
    node_env,
    port_is_listening,
    process_group_pids,
)


def test_request_without_token_is_refused(cluster):
    assert http_status(cluster.primary.url, token=None) == 401


def test_token_from_another_key_is_refused(cluster):
    assert http_status(cluster.primary.url, token=Keys().token("rw")) == 401


def test_rw_token_writes_and_ro_token_reads_but_cannot_write(cluster, client, keys):
    url = cluster.primary.url
    rw = client.run(
        url,
        keys.token("rw"),
        [
            "CREATE TABLE IF NOT EXISTS auth_probe (v TEXT)",
            "INSERT INTO auth_probe VALUES ('written with rw')",
        ],
    )
    assert all(r["ok"] for r in rw), rw

    ro = client.run(
        url,
        keys.token("ro"),
        ["SELECT v FROM auth_probe", "INSERT INTO auth_probe VALUES ('written with ro')"],
    )
    assert ro[0]["ok"] and ["written with rw"] in ro[0]["rows"], ro
    assert not ro[1]["ok"], "a read-only token wrote"
    after = client.run(url, keys.token("ro"), ["SELECT count(*) FROM auth_probe"])
    assert after[0]["rows"] == [[1]]


def test_key_is_not_in_logs_or_any_process_arguments(cluster, keys):
    for node in [cluster.primary, *cluster.replicas]:
        assert keys.public_key not in node.log_text()
        pids = process_group_pids(node.proc.pid)
        assert pids, f"{node.role} is not running"
        for pid in pids:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            assert keys.public_key not in cmdline


def _marker_wrapper(path: Path, real: Path, marker: Path) -> Path:
    """A stand-in that records being started, then runs the real binary."""
    path.write_text(f'#!/bin/sh\ntouch "{marker}"\nexec "{real}" "$@"\n')
    path.chmod(0o755)
    return path


def test_without_key_run_sh_exits_with_a_message_and_starts_nothing(tools, tmp_path):
    ports = Ports.pick()
    marker = tmp_path / "something-started"
    wrapped = Tools(
        sqld=_marker_wrapper(tmp_path / "sqld", tools.sqld, marker),
        litestream=_marker_wrapper(tmp_path / "litestream", tools.litestream, marker),
    )
    for role in ("primary", "replica"):
        for key in (None, ""):
            env = node_env(
                role,
                tmp_path / "data",
                ports,
                tools=wrapped,
                keys=None,
                litestream_config=tmp_path / "unused.yml",
                primary_grpc_url="http://127.0.0.1:1",
            )
            if key is not None:
                env["SQLD_AUTH_JWT_KEY"] = key
            done = subprocess.run(
                ["bash", str(RUN_SH)], env=env, capture_output=True, text=True, timeout=30
            )
            assert done.returncode != 0
            assert "run.sh: SQLD_AUTH_JWT_KEY is not set" in done.stderr
            assert not marker.exists(), "run.sh started a process without a key"
            assert not port_is_listening(ports.http)
            assert not (tmp_path / "data" / "sqld").exists()
