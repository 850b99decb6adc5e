"""restoreFrom: a stack whose primary starts on an empty volume from another stack's backup, as
of a time, then backs up to its own target; it never writes the source, never clones twice, and
no process but Litestream's restore sees the source's keys. Real run.sh, sqld, Litestream, moto.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.runtime.cluster import (
    DB_RELATIVE,
    backup_file_count,
    hrana,
    litestream_config,
    process_argv,
    process_environ,
    process_group_pids,
    s3_settings,
    wait_until_backed_up,
)

SOURCE_BUCKET = "clone-source"
SOURCE_PREFIX = "prod"
BATCH = 100  # rows per write: ids 0-99 before t1, 100-199 before t2
CLONE_ROW = 10_000  # what a clone writes itself
# Distinct values, so any leak is found by text wherever it lands.
RESTORE_KEY_ID = "restore-from-key-id-7d1e"
RESTORE_SECRET = "restore-from-secret-93bf0c"


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def restore_from_config(path: Path, s3) -> Path:
    """assets/restore-from.yml.j2 rendered as the program does for a clone of the source."""
    from infra.assets import render_template
    from infra.settings import StackSettings

    settings = StackSettings(
        app_name="clone",
        backup_target="file",
        restore_from=f"s3://{SOURCE_BUCKET}/{SOURCE_PREFIX}",
        restore_from_endpoint=s3.endpoint,
        restore_from_region=s3.region,
        restore_from_access_key_id=RESTORE_KEY_ID,
        restore_from_secret_access_key=RESTORE_SECRET,
    )
    path.write_text(render_template("restore-from.yml.j2", settings))
    return path


def bucket_listing(s3, bucket: str) -> list[tuple[str, int, str]]:
    """Every object's key, size and ETag, in key order."""
    pages = s3.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sorted(
        (obj["Key"], obj["Size"], obj["ETag"]) for page in pages for obj in page.get("Contents", [])
    )


def insert_batch(node, token, first: int) -> None:
    """BATCH rows in one statement: one transaction."""
    values = ",".join(f"({i}, 'source {i}')" for i in range(first, first + BATCH))
    hrana(node.url, token, [f"INSERT INTO t VALUES {values}"])


def wait_for_upload(tools, env, before: int, settle: float = 1.5) -> int:
    """Until the backup holds more LTX files than `before`, then one more sync interval and a
    bit, so every transaction committed so far is in the store."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        count = backup_file_count(tools, env)
        if count > before:
            time.sleep(settle)
            return backup_file_count(tools, env)
        time.sleep(0.2)
    raise TimeoutError("no new upload in 15 s")


def ids(node, token) -> list[int]:
    return [row[0] for row in hrana(node.url, token, ["SELECT id FROM t ORDER BY id"])[0]]


@pytest.fixture(scope="module")
def source(module_launcher, s3, tools, keys):
    """A source stack backing up to its own bucket: BATCH rows, then t1, then BATCH more, then
    t2; stopped, so its bucket only changes if someone else writes it."""
    s3.create_bucket(SOURCE_BUCKET)
    token = keys.token("rw")
    config = litestream_config(
        module_launcher.root / "litestream-source.yml",
        **s3_settings(s3, SOURCE_BUCKET, SOURCE_PREFIX),
    )
    node = module_launcher.start(
        "primary", "source", litestream_config=config, extra_env=s3.litestream_env
    )
    wait_until_backed_up(tools, node.env)
    hrana(node.url, token, ["CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"])
    count = wait_for_upload(tools, node.env, backup_file_count(tools, node.env))
    insert_batch(node, token, 0)
    count = wait_for_upload(tools, node.env, count)
    rows_t1 = len(ids(node, token))
    # t1: whole seconds, after every upload of the first batch and before the second's commit.
    time.sleep(1.0)
    t1 = rfc3339(datetime.now(UTC))
    time.sleep(1.5)
    insert_batch(node, token, BATCH)
    wait_for_upload(tools, node.env, count)
    rows_t2 = len(ids(node, token))
    time.sleep(1.0)
    t2 = rfc3339(datetime.now(UTC))
    rows = {"t1": rows_t1, "t2": rows_t2}
    assert rows == {"t1": BATCH, "t2": 2 * BATCH}
    assert node.stop().exit_code == 0
    listing = bucket_listing(s3, SOURCE_BUCKET)
    assert listing, "the source uploaded nothing"
    print(f"\nsource: {rows['t1']} rows at t1 {t1}, {rows['t2']} at t2 {t2}; "
          f"{len(listing)} objects in s3://{SOURCE_BUCKET}")  # fmt: skip
    return {"t1": t1, "t2": t2, "rows": rows, "listing": listing, "config": config}


@pytest.fixture
def start_clone(launcher, s3, s3_config, tmp_path):
    """Starts a clone primary of the source: its own backup under a fresh prefix in another
    bucket, the source's keys as the Fly secrets carry them, the time as fly.toml's [env]."""
    restore_config = restore_from_config(tmp_path / "restore-from.yml", s3)

    def start(name: str, as_of: str = "", own=None, **kwargs):
        own_config, prefix = own or s3_config()
        env = {
            **s3.litestream_env,
            "RESTORE_FROM_CONFIG": str(restore_config),
            "RESTORE_FROM": f"s3://{SOURCE_BUCKET}/{SOURCE_PREFIX}",
            "RESTORE_FROM_TIME": as_of,
            "RESTORE_FROM_ACCESS_KEY_ID": RESTORE_KEY_ID,
            "RESTORE_FROM_SECRET_ACCESS_KEY": RESTORE_SECRET,
            **kwargs.pop("extra_env", {}),
        }
        node = launcher.start("primary", name, litestream_config=own_config, extra_env=env,
                              **kwargs)  # fmt: skip
        return node, (own_config, prefix)

    return start


def test_a_clone_as_of_t1_has_exactly_the_rows_up_to_t1_and_never_writes_the_source(
    source, start_clone, s3, keys, tools
):
    token = keys.token("rw")
    clone, (_, prefix) = start_clone("clone-t1", as_of=source["t1"])
    assert f"cloning s3://{SOURCE_BUCKET}/{SOURCE_PREFIX} as of {source['t1']}" in clone.log_text()
    assert ids(clone, token) == list(range(BATCH))
    print(f"\nclone as of t1: {len(ids(clone, token))} rows")

    # It takes writes and backs them up to its own target, not the source's.
    wait_until_backed_up(tools, clone.env)
    hrana(clone.url, token, [f"INSERT INTO t VALUES ({CLONE_ROW}, 'clone')"])
    assert clone.stop().exit_code == 0
    assert s3.object_keys("runtime-tests", prefix), "the clone backed nothing up of its own"
    after = bucket_listing(s3, SOURCE_BUCKET)
    assert after == source["listing"]
    print(f"source listing before/after the clone: {len(after)} objects, equal: "
          f"{after == source['listing']}")  # fmt: skip


@pytest.mark.parametrize("as_of", ["", "t2", "now"])
def test_a_clone_without_a_time_or_after_the_last_backup_has_every_row(
    source, start_clone, keys, as_of
):
    """Empty is the latest; a time after the last upload (as "now" in the README's recipe) is
    the latest too: the -config form of restore has no upper bound (replica.go)."""
    when = {"": "", "t2": source["t2"], "now": rfc3339(datetime.now(UTC))}[as_of]
    clone, _ = start_clone(f"clone-{as_of or 'latest'}", as_of=when)
    assert f"as of {when or 'latest'}" in clone.log_text()
    assert ids(clone, keys.token("rw")) == list(range(2 * BATCH))
    print(f"\nclone as of {as_of or 'latest'}: {2 * BATCH} rows")


def test_a_clone_that_has_backed_up_restores_its_own_backup_not_the_source(
    source, start_clone, launcher, keys, tools
):
    token = keys.token("rw")
    clone, own = start_clone("clone-own", as_of=source["t1"])
    wait_until_backed_up(tools, clone.env)
    before = backup_file_count(tools, clone.env)
    hrana(clone.url, token, [f"INSERT INTO t VALUES ({CLONE_ROW}, 'clone')"])
    wait_for_upload(tools, clone.env, before)
    assert clone.stop().exit_code == 0

    # The volume is lost; the stack still says restoreFrom, now with no time (the latest, which
    # holds rows the clone never had): its own backup wins.
    clone.data_dir.rename(clone.data_dir.with_name("lost-volume"))
    again, _ = start_clone("clone-own", as_of="", own=own, ports=clone.ports)
    log = again.log_text().rsplit("no database at", 1)[-1]  # this start's lines
    assert "restored" in log and "this stack's own backup" in log
    assert "cloning" not in log
    assert ids(again, token) == [*range(BATCH), CLONE_ROW]


def test_a_time_before_the_first_backup_fails_the_start_instead_of_starting_empty(
    start_clone, source
):
    clone, _ = start_clone("clone-too-early", as_of="2000-01-01T00:00:00Z", wait=False)
    assert clone.proc.wait(30) == 1
    log = clone.log_text()
    assert "could not clone" in log and "not starting empty" in log
    assert not (clone.data_dir / DB_RELATIVE).exists()


def test_the_sources_keys_reach_no_argv_and_not_sqld(source, start_clone, tmp_path, tools):
    # Every litestream run (the two restores and replicate) goes through a wrapper that records
    # its argv, then execs the real one.
    argv_log = tmp_path / "litestream-argv.log"
    wrapper = tmp_path / "litestream"
    wrapper.write_text(
        f'#!/usr/bin/env bash\nprintf "%s\\n" "$*" >>"{argv_log}"\n'
        f'exec "{tools.litestream}" "$@"\n'
    )
    wrapper.chmod(0o755)
    clone, _ = start_clone(
        "clone-secrets", as_of=source["t1"], extra_env={"LITESTREAM_BIN": str(wrapper)}
    )
    runs = argv_log.read_text().splitlines()
    commands = [run.split()[0] for run in runs]
    # Its own backup (none yet), then the source; `sync` runs may follow (a backup watchdog).
    assert commands[:3] == ["restore", "restore", "replicate"], runs
    assert set(commands[3:]) <= {"sync"}, runs

    seen = list(runs)
    environs = {}
    for pid in process_group_pids(clone.proc.pid):
        try:
            seen.append(" ".join(process_argv(pid)))
            environs[pid] = process_environ(pid)
        except OSError:
            continue
    (sqld,) = clone.sqld_pids()
    for text in [*seen, clone.log_text()]:
        assert RESTORE_KEY_ID not in text and RESTORE_SECRET not in text
    assert not any(k.startswith("RESTORE_FROM_") and "KEY" in k for k in environs[sqld])
    assert RESTORE_SECRET not in "\0".join(environs[sqld].values())
    # Litestream replicate (the node's top process after run.sh's exec) does not keep them either.
    assert RESTORE_SECRET not in "\0".join(environs[clone.proc.pid].values())
