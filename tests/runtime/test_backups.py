"""Scenario 3: Litestream backs the primary up to a file target and to S3, and a primary
that starts without a database restores every row; a stack without a backup starts empty."""

from __future__ import annotations

import shutil

from tests.runtime.cluster import hrana, scalar, wait_until_backed_up

ROWS = 200


def write_rows(node, token, table="backed_up", rows=ROWS):
    hrana(node.url, token, [f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, v TEXT)"])
    for start in range(0, rows, 50):
        values = ",".join(f"({i}, 'row {i}')" for i in range(start, min(start + 50, rows)))
        hrana(node.url, token, [f"INSERT INTO {table} VALUES {values}"])


def assert_every_row(node, token, table="backed_up", rows=ROWS):
    assert scalar(node.url, token, f"SELECT count(*) FROM {table}") == rows
    assert scalar(node.url, token, f"SELECT sum(id) FROM {table}") == rows * (rows - 1) // 2


def test_file_target_restores_a_primary_whose_database_is_gone(
    launcher, file_config, keys, tools
):
    token = keys.token("rw")
    first = launcher.start("primary", "first", litestream_config=file_config)
    wait_until_backed_up(tools, first.env)
    write_rows(first, token)
    assert first.stop().exit_code == 0

    # The file target lives on the volume: a new volume gets a copy of the backup folder only.
    (launcher.root / "second").mkdir()
    shutil.copytree(first.data_dir / "backups", launcher.root / "second" / "backups")
    second = launcher.start("primary", "second", litestream_config=file_config)
    assert "run.sh: restored" in second.log_text()
    assert_every_row(second, token)


def test_s3_target_restores_onto_an_empty_data_dir(launcher, s3_config, s3, keys, tools):
    token = keys.token("rw")
    config, prefix = s3_config()
    first = launcher.start("primary", "first", litestream_config=config,
                           extra_env=s3.litestream_env)
    wait_until_backed_up(tools, first.env)
    write_rows(first, token)
    assert first.stop().exit_code == 0
    assert s3.object_keys("runtime-tests", prefix), "nothing was uploaded to S3"

    second = launcher.start("primary", "second", litestream_config=config,
                            extra_env=s3.litestream_env)
    assert "run.sh: restored" in second.log_text()
    assert_every_row(second, token)


def test_new_stack_without_backup_starts_empty_and_takes_writes(launcher, s3_config, s3, keys):
    token = keys.token("rw")
    config, _ = s3_config()
    node = launcher.start("primary", "fresh", litestream_config=config,
                          extra_env=s3.litestream_env)
    assert "run.sh: no backup yet; starting empty" in node.log_text()
    names = hrana(node.url, token, ["SELECT name FROM sqlite_master"])[0]
    assert sorted(names) == [["_litestream_lock"], ["_litestream_seq"]]
    write_rows(node, token, rows=10)
    assert_every_row(node, token, rows=10)
