"""Moving the local stack's primary to other regions under a continuous write load, through the
real program and the harness (`pulumi up` with a new primaryRegion), with real sqld, Litestream
and an S3 server (moto). Shared by tests/test_local_move.py and `python -m bench --only move`.

Each move is measured from the client's side: every acknowledged write must be on the new
primary (lost = 0), and the downtime runs from the last write acknowledged before the move's
gap to the first one after it (the longest gap between two acknowledgements while `up` ran).
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from infra.local_stack import nodes
from infra.settings import parse_settings
from tests.harness import Harness
from tests.project import PROJECT
from tests.runtime.cluster import (
    LibsqlClient,
    LoadRun,
    S3Server,
    Tools,
    hrana,
    litestream_config,
    restore_backup,
    s3_settings,
)
from tests.runtime.workload import Accounting

TABLE = "load"
REGION_KEY = f"{PROJECT}:primaryRegion"
SECRET_KEYS = [f"{PROJECT}:s3AccessKeyId", f"{PROJECT}:s3SecretAccessKey"]
_prefixes = itertools.count()


def s3_backup_config(config: dict[str, str], s3: S3Server, bucket: str) -> dict[str, str]:
    """The stack's config with its backup in the S3 server, under a prefix of its own."""
    prefix = f"moves-{os.getpid()}-{next(_prefixes)}"
    return {
        **config,
        f"{PROJECT}:backupTarget": "s3",
        f"{PROJECT}:backupPath": prefix,
        f"{PROJECT}:s3Bucket": bucket,
        f"{PROJECT}:s3Endpoint": s3.endpoint,
        f"{PROJECT}:s3Region": s3.region,
        f"{PROJECT}:s3AccessKeyId": s3.access_key_id,
        f"{PROJECT}:s3SecretAccessKey": s3.secret_access_key,
    }


def without_aws_env(env: dict[str, str]) -> dict[str, str]:
    """The caller's AWS_* settings would reach Litestream; AWS_CA_BUNDLE breaks its S3 client
    (as tests/runtime/cluster.py's nodes, which never inherit them)."""
    return {k: v for k, v in env.items() if not k.startswith("AWS_")}


def settings_of(config: dict[str, str]):
    return parse_settings({k.split(":", 1)[1]: v for k, v in config.items()})


@dataclass
class Move:
    source: str
    target: str
    up_seconds: float  # the whole `pulumi up`: program, status, the primary's and replicas' steps
    downtime: float  # last ack before the gap -> first ack after it
    log: str


@dataclass
class MoveRun:
    moves: list[Move]
    accounting: Accounting
    replicas_converged_s: float  # after the load stopped, until every replica has every row
    backup_rows: int  # rows in a restore of the backup after the last move
    config: dict[str, str]

    @property
    def lost(self) -> int:
        return len(self.accounting.missing_acked)


def longest_gap(acks: list[float], start: float, end: float) -> float:
    """The longest time between two consecutive acknowledgements around [start, end]."""
    times = sorted(acks)
    gaps = [b - a for a, b in itertools.pairwise(times) if b >= start and a <= end]
    return max(gaps, default=end - start)


def wait_for(load: LoadRun, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while len(load.acks) < count:
        if time.monotonic() > deadline or load.proc.poll() is not None:
            raise TimeoutError(f"only {len(load.acks)} of {count} writes acknowledged")
        time.sleep(0.02)


def ids(url: str, token: str) -> set[int]:
    return {row[0] for row in hrana(url, token, [f"SELECT id FROM {TABLE}"], timeout=60)[0]}


def backup_row_count(tools: Tools, config: dict[str, str], s3: S3Server, scratch: Path) -> int:
    settings = settings_of(config)
    rendered = litestream_config(
        scratch / "restore.yml", **s3_settings(s3, settings.s3_bucket, settings.backup_path)
    )
    env = {**without_aws_env(dict(os.environ)), **s3.litestream_env,
           "DATA_DIR": str(scratch / "data"), "LITESTREAM_CONFIG": str(rendered)}  # fmt: skip
    out = scratch / f"restored-{time.monotonic_ns()}.db"
    restore_backup(tools, env, out)
    with sqlite3.connect(out) as db:
        return db.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]


def run_moves(
    harness: Harness,
    config: dict[str, str],
    targets: list[str],
    *,
    tools: Tools,
    client: LibsqlClient,
    s3: S3Server,
    writers: int = 4,
    steady_s: float = 1.0,
    between: Callable[[int, dict[str, str]], dict[str, str]] | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> MoveRun:
    """`up` CONFIG (an S3 backup), then move the primary to each region of TARGETS in turn
    while WRITERS write continuously to the primary's address. between(i, config), if given,
    may change the config before move i (e.g. protect)."""
    harness.env = without_aws_env(harness.env)
    first = harness.up(config, SECRET_KEYS)
    if not first.ok:
        raise AssertionError(first.log_text)
    token = first.outputs["readWriteToken"]
    url = first.outputs["httpsUrl"]  # the primary's address: the same before and after a move
    hrana(url, token, [f"CREATE TABLE {TABLE} (id INTEGER PRIMARY KEY, writer INT, payload TEXT)"])
    load = client.start_load(url, token, table=TABLE, writers=writers, duration_s=600)
    moves = []
    try:
        wait_for(load, 100)
        for index, target in enumerate(targets):
            if between:
                config = between(index, config)
            time.sleep(steady_s)  # the load runs steadily before each move
            source = settings_of(config).primary_region
            config = {**config, REGION_KEY: target}
            log(f"move: {source} -> {target}")
            started = time.time()
            moved = harness.up(config, SECRET_KEYS)
            ended = time.time()
            if not moved.ok:
                raise AssertionError(moved.log_text)
            wait_for(load, len(load.acks) + 100)  # the new primary takes writes
            gap = longest_gap(list(load.acks.values()), started, ended)
            moves.append(Move(source, target, ended - started, gap, moved.log_text))
        time.sleep(steady_s)
    finally:
        load.stop()
    found = ids(url, token)
    accounting = Accounting.of(load, found)

    # The replicas follow the restored primary: each ends with exactly its rows.
    started = time.monotonic()
    for replica in nodes(settings_of(config))[1:]:
        while ids(f"http://{replica.http}", token) != found:
            if time.monotonic() - started > 30:
                raise AssertionError(f"{replica.name} does not have the primary's rows")
            time.sleep(0.1)
    converged = time.monotonic() - started

    # The new primary backs up where the old one did: a restore has every row (after a sync).
    with tempfile.TemporaryDirectory(prefix="move-restore-") as scratch:
        deadline = time.monotonic() + 15
        while (backed_up := backup_row_count(tools, config, s3, Path(scratch))) != len(found):
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
    return MoveRun(moves, accounting, converged, backed_up, config)
