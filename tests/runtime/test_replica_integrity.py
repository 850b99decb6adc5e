"""Scenario 6: after Litestream has worked the primary's database under writes (its own
bookkeeping writes and checkpoints), a replica's SQLite file is intact and holds exactly the
primary's rows. The control shows the check catches the failure run.sh prevents."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from tests.runtime.cluster import (
    DB_RELATIVE,
    Ports,
    backup_file_count,
    hrana,
    http_status,
    inspect_sqlite,
    litestream_config,
    node_env,
    scalar,
    wait_until_backed_up,
)
from tests.runtime.workload import create_load_table, ids_on, wait_for_acks


def wait_until_same_rows(primary, replicas, token, timeout=20.0) -> set[int]:
    deadline = time.monotonic() + timeout
    expected = ids_on(primary, token)
    while time.monotonic() < deadline:
        if all(ids_on(r, token) == expected for r in replicas):
            return expected
        time.sleep(0.1)
    raise AssertionError("replicas did not converge on the primary's rows")


def test_replica_file_is_intact_and_equal_to_primary_after_litestream_ran(
    cluster, client, keys, tools
):
    token = keys.token("rw")
    primary = cluster.primary
    backups_before = backup_file_count(tools, primary.env)
    db_file_before = primary.db_path.stat().st_size
    create_load_table(primary, token)
    # ~2 KB rows: well past 1000 WAL pages, so sqld and Litestream both checkpoint.
    load = client.start_load(
        primary.url, token, table="load", writers=4, duration_s=4, payload_bytes=2000
    )
    wait_for_acks(load, 100)
    load.wait()
    assert not load.in_doubt
    assert backup_file_count(tools, primary.env) > backups_before, "Litestream shipped nothing"
    # Pages only reach the main file through checkpoints (sqld's or Litestream's).
    assert primary.db_path.stat().st_size > db_file_before + 1_000_000, "nothing checkpointed"
    expected = wait_until_same_rows(primary, cluster.replicas, token)
    assert len(expected) == len(load.acks)

    for index, replica in enumerate(cluster.replicas):
        assert replica.stop().exit_code == 0
        integrity, (ids, tables) = inspect_sqlite(
            replica.db_path, ["SELECT id FROM load", "SELECT name FROM sqlite_master"]
        )
        assert integrity == "ok"
        assert {row[0] for row in ids} == expected
        assert ("_litestream_seq",) in tables
        # Restart it on the same volume so later tests in this module keep two replicas.
        restarted = cluster.restart_replica(index)
        assert scalar(restarted.url, token, "SELECT count(*) FROM load") == len(expected)


def test_control_tables_made_by_litestream_itself_break_the_replica(tools, keys, tmp_path):
    """Without run.sh's step that creates Litestream's tables through sqld, Litestream creates
    them from its own process and the replica's file ends up malformed. If this ever passes
    cleanly, sqld or Litestream changed and run.sh's extra step may be unnecessary."""
    token = keys.token("rw")
    primary_ports, replica_ports = Ports.pick(), Ports.pick()
    config = litestream_config(tmp_path / "litestream.yml", backup_target="file")
    primary_env = node_env("primary", tmp_path / "p", primary_ports, tools=tools, keys=keys,
                           litestream_config=config)
    replica_env = node_env("replica", tmp_path / "r", replica_ports, tools=tools, keys=keys)
    del replica_env["SQLD_GRPC_LISTEN_ADDR"]  # sqld refuses it next to --primary-grpc-url
    db_dir = tmp_path / "p" / DB_RELATIVE.parent
    db_dir.mkdir(parents=True)
    sqld = [str(tools.sqld), "--no-welcome", "--http-listen-addr"]
    started = []
    try:
        started.append(subprocess.Popen(
            [str(tools.litestream), "replicate", "-config", str(config), "-exec",
             " ".join([*sqld, f"127.0.0.1:{primary_ports.http}", "--db-path",
                       str(tmp_path / "p" / "sqld"), "--grpc-listen-addr",
                       f"127.0.0.1:{primary_ports.grpc}"])],
            env=primary_env, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))
        wait_for_http(primary_ports.http, token)
        wait_until_backed_up(tools, primary_env)  # Litestream has made its tables by now
        hrana(f"http://127.0.0.1:{primary_ports.http}", token,
              ["CREATE TABLE t (v BLOB)", "INSERT INTO t VALUES (randomblob(3000))"])
        started.append(subprocess.Popen(
            [*sqld, f"127.0.0.1:{replica_ports.http}", "--db-path", str(tmp_path / "r" / "sqld"),
             "--primary-grpc-url", f"http://127.0.0.1:{primary_ports.grpc}"],
            env=replica_env, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))
        wait_for_http(replica_ports.http, token)
        for _ in range(20):
            hrana(f"http://127.0.0.1:{primary_ports.http}", token,
                  ["INSERT INTO t VALUES (randomblob(3000))"])
        time.sleep(1.5)
        started[1].send_signal(signal.SIGTERM)
        started[1].wait(10)
        integrity, _ = inspect_sqlite(tmp_path / "r" / DB_RELATIVE, [])
        assert integrity != "ok"
    finally:
        for proc in started:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(10)


def wait_for_http(port: int, token: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if http_status(f"http://127.0.0.1:{port}", token) == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"nothing answered on {port}")
