"""Scenario 7: SIGTERM (Fly's kill_signal) stops sqld cleanly, Litestream ships the last write
in its final sync, and run.sh exits 0 well inside fly.toml's kill_timeout."""

from __future__ import annotations

import sqlite3

import pytest

from tests.runtime.cluster import hrana, restore_backup, wait_until_backed_up

KILL_TIMEOUT_S = 30  # fly.toml kill_timeout (settings.kill_timeout_seconds default)


@pytest.mark.parametrize("target", ["file", "s3"])
def test_sigterm_ships_last_write_and_exits_zero_quickly(
    target, launcher, file_config, s3_config, s3, keys, tools, tmp_path
):
    token = keys.token("rw")
    if target == "file":
        node = launcher.start("primary", "primary", litestream_config=file_config)
    else:
        config, _ = s3_config(sync_interval="10s")  # the final sync, not a timer, must ship it
        node = launcher.start(
            "primary", "primary", litestream_config=config, extra_env=s3.litestream_env
        )
    wait_until_backed_up(tools, node.env)
    hrana(node.url, token, ["CREATE TABLE events (id INTEGER PRIMARY KEY, what TEXT)"])
    for i in range(50):
        hrana(node.url, token, [f"INSERT INTO events VALUES ({i}, 'event {i}')"])
    hrana(node.url, token, ["INSERT INTO events VALUES (1000, 'the last write')"])

    stopped = node.stop(timeout=KILL_TIMEOUT_S)
    print(f"\nSIGTERM to exit ({target}): {stopped.seconds:.2f}s, exit code {stopped.exit_code}")
    assert stopped.exit_code == 0, node.log_text()[-3000:]
    assert stopped.leftover_pids == []
    assert stopped.seconds < KILL_TIMEOUT_S / 3
    assert "sqld was shutdown gracefully" in node.log_text()

    restored = restore_backup(tools, node.env, tmp_path / "restored.db")
    with sqlite3.connect(restored) as db:
        last = db.execute("SELECT what FROM events WHERE id = 1000").fetchall()
        count = db.execute("SELECT count(*) FROM events").fetchone()[0]
    assert last == [("the last write",)]
    assert count == 51
