"""Restoring large databases from the S3 target: `python -m bench --only restore-s3`.

For each size: a moto S3 server on loopback and a real primary (run.sh, sqld, Litestream with
the S3 target). The rows go in through sqld's HTTP API, so the backup is what Litestream made
of sqld's own writes. Once every transaction Litestream recorded is in the bucket, the primary
stops gracefully. Then, each timed on its own:

a. `litestream restore` of the latest backup into an empty folder;
b. a fresh primary on an empty DATA_DIR: run.sh restores, starts sqld under Litestream, and the
   clock stops when an authenticated `SELECT count(*)` returns the right row count;
c. the restore drill (infra/drill.py's run_drill) against the bucket.

moto is a Python process: every byte goes through it, so the figures are bounded by moto on
this machine, not by Tigris or a real S3."""

from __future__ import annotations

import os
import re
import resource
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from infra import assets, drill
from infra.settings import StackSettings
from tests.runtime.cluster import (
    DB_RELATIVE,
    HranaError,
    S3Server,
    hrana,
    s3_settings,
    scalar,
)

from .fleet import Fleet
from .stats import Table

BUCKET = "bench-restore"
MIB = 2**20

SCHEMA = [
    "CREATE TABLE events (id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL, "
    "created_at TEXT NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL)",
    "CREATE INDEX events_by_account ON events (account_id, created_at)",
]
# An application event of about 500 bytes: an account, a timestamp within a year, one of four
# kinds, and a JSON payload with ids and free text (random hex, so it barely compresses, as
# user text and ids compress little under LZ4), plus repeated keys and a user agent (which do).
INSERT_EVENTS = (
    "INSERT INTO events (account_id, created_at, kind, payload) "
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) "
    "SELECT abs(random()) % 50000, "
    "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || (abs(random()) % 31536000) || ' seconds'), "
    "CASE abs(random()) % 4 WHEN 0 THEN 'order.created' WHEN 1 THEN 'order.paid' "
    "WHEN 2 THEN 'order.shipped' ELSE 'profile.updated' END, "
    "json_object('order_id', lower(hex(randomblob(8))), 'items', abs(random()) % 9 + 1, "
    "'total_cents', abs(random()) % 100000, 'currency', 'EUR', "
    "'note', lower(hex(randomblob(150))), 'ip', '10.' || (abs(random()) % 256) || '.' || "
    "(abs(random()) % 256) || '.' || (abs(random()) % 256), "
    "'user_agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Safari/537.36') FROM n"
)
ROWS_PER_REQUEST = 20_000  # about 10 MiB per request and transaction
LTX_NAME = re.compile(r"(?:^|/)([0-9a-f]{4})/([0-9a-f]{16})-([0-9a-f]{16})\.ltx$")


# --- pure helpers --------------------------------------------------------------------------------


def ltx_levels(keys: list[str]) -> dict[int, int]:
    """Level -> number of LTX files, from object keys like `prefix/0001/<min>-<max>.ltx`."""
    levels: dict[int, int] = {}
    for key in keys:
        match = LTX_NAME.search(key)
        if match:
            level = int(match[1], 16)
            levels[level] = levels.get(level, 0) + 1
    return dict(sorted(levels.items()))


def max_txid(names: list[str]) -> int:
    """The highest transaction id in LTX file names or keys (0 when there are none)."""
    return max((int(m[3], 16) for m in map(LTX_NAME.search, names) if m), default=0)


def mib_per_s(size_bytes: int, seconds: float) -> float:
    return size_bytes / MIB / seconds if seconds > 0 else float("nan")


def med_min(samples: list[float], digits: int = 2) -> str:
    """'median (min)', or the one value; 'n/a' for none."""
    if not samples:
        return "n/a"
    if len(samples) == 1:
        return f"{samples[0]:.{digits}f}"
    return f"{statistics.median(samples):.{digits}f} (min {min(samples):.{digits}f})"


# --- measurement ---------------------------------------------------------------------------------


@dataclass
class Bucket:
    objects: int
    bytes: int
    levels: dict[int, int]


@dataclass
class SizeResult:
    target_mib: int
    rows: int
    db_bytes: int
    bucket: Bucket
    write_s: float
    upload_wait_s: float
    busy_retries: int
    restore_s: list[float] = field(default_factory=list)
    restore_cpu_s: list[float] = field(default_factory=list)
    restored_bytes: int = 0
    first_answer_s: list[float] = field(default_factory=list)
    first_count_s: list[float] = field(default_factory=list)
    drill_s: list[float] = field(default_factory=list)
    drill_restore_s: list[float] = field(default_factory=list)
    drill_verdicts: list[str] = field(default_factory=list)


def bucket_state(s3: S3Server, prefix: str) -> Bucket:
    objects = _objects(s3, prefix)
    return Bucket(len(objects), sum(size for _, size in objects),
                  ltx_levels([key for key, _ in objects]))  # fmt: skip


def local_ltx_names(data_dir: Path) -> list[str]:
    """Litestream's local level-0 LTX files: each transaction it has recorded, uploaded or not
    (its meta folder beside the database, `.data-litestream/ltx/0/`)."""
    meta = (data_dir / DB_RELATIVE).parent / ".data-litestream" / "ltx" / "0"
    return [f"{p.parent.name.zfill(4)}/{p.name}" for p in meta.glob("*.ltx")]


def wait_uploaded(s3: S3Server, prefix: str, data_dir: Path, timeout: float) -> float:
    """Seconds until the bucket holds the newest transaction Litestream has recorded locally,
    and that newest one has not moved for 3 s (Litestream records on its 1 s monitor tick)."""
    started = time.monotonic()
    stable_since, last_local = time.monotonic(), -1
    while time.monotonic() - started < timeout:
        local = max_txid(local_ltx_names(data_dir))
        if local != last_local:
            stable_since, last_local = time.monotonic(), local
        if local and max_txid(_keys(s3, prefix)) >= local and time.monotonic() - stable_since >= 3:
            return time.monotonic() - started
        time.sleep(0.5)
    raise TimeoutError(f"backup not complete after {timeout:.0f} s")


def _objects(s3: S3Server, prefix: str) -> list[tuple[str, int]]:
    client = s3.client()
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return [(obj["Key"], obj["Size"]) for page in pages for obj in page.get("Contents", [])]


def _keys(s3: S3Server, prefix: str) -> list[str]:
    return [key for key, _ in _objects(s3, prefix)]


def fill(url: str, token: str, target_bytes: int, log) -> tuple[int, int, float, int]:
    """Insert events through sqld's HTTP API, ROWS_PER_REQUEST per request (one transaction
    each), until the database holds target_bytes of pages. A request refused with SQLITE_BUSY
    ("database is locked": sqld shares the file with Litestream) is sent again, as an
    application would. (rows, database bytes, seconds, requests retried)."""
    started = time.monotonic()
    hrana(url, token, SCHEMA)
    size = retried = 0
    while size < target_bytes:
        rows_now = min(ROWS_PER_REQUEST, max(1000, (target_bytes - size) // 600))
        try:
            hrana(url, token, [INSERT_EVENTS.format(rows=rows_now)], timeout=600)
        except HranaError as err:
            if "SQLITE_BUSY" not in str(err) or retried > 1000:
                raise
            retried += 1
            time.sleep(0.05)
            continue
        pages, page_size = (scalar(url, token, f"PRAGMA {p}") for p in ("page_count", "page_size"))
        size = int(pages) * int(page_size)
        log(f"    {size / MIB:,.0f} MiB")
    rows = int(scalar(url, token, "SELECT count(*) FROM events"))
    return rows, size, time.monotonic() - started, retried


def restore_once(fleet: Fleet, config: Path, env: dict[str, str], out_dir: Path):
    """(wall seconds, CPU seconds, bytes) of one `litestream restore` into an empty folder."""
    out_dir.mkdir(parents=True)
    out = out_dir / "data"
    db = str(Path(env["DATA_DIR"]) / DB_RELATIVE)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        [str(fleet.tools.litestream), "restore", "-config", str(config), "-o", str(out), db],
        env=env, check=True, capture_output=True, timeout=3600,
    )  # fmt: skip
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu, out.stat().st_size, out


def count_rows(path: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT count(*) FROM events").fetchone()[0]
    finally:
        conn.close()


def measure_size(fleet: Fleet, opt, size_mib: int, reps: int) -> SizeResult:
    log = opt.log
    name = f"s3r-{size_mib}"
    s3 = S3Server(fleet.tools.moto_server, fleet.root / f"{name}-moto.log")  # one per size
    try:
        s3.create_bucket(BUCKET)
        settings = StackSettings(app_name="letter-unboxed-db-bench",
                                 **s3_settings(s3, BUCKET, name))  # fmt: skip
        config = fleet.root / f"{name}.yml"
        config.write_text(assets.render_template("litestream.yml.j2", settings))

        # The source primary: an empty volume, rows through the HTTP API.
        node = fleet.start("primary", f"{name}-source", litestream_config=config,
                           extra_env=s3.litestream_env, ready_timeout=120)  # fmt: skip
        token = fleet.token
        log(f"  {size_mib} MiB: writing")
        rows, db_bytes, write_s, busy = fill(node.url, token, size_mib * MIB, log)
        upload_wait_s = wait_uploaded(s3, name, node.data_dir, timeout=1800)
        source_env = node.env
        fleet.stop(node)  # SIGTERM: Litestream's final sync
        shutil.rmtree(node.data_dir, ignore_errors=True)
        bucket = bucket_state(s3, name)
        result = SizeResult(size_mib, rows, db_bytes, bucket, write_s, upload_wait_s, busy)
        log(f"  {size_mib} MiB: {rows:,} rows, {db_bytes / MIB:,.0f} MiB, bucket "
            f"{bucket.objects} objects {bucket.bytes / MIB:,.0f} MiB {bucket.levels}")  # fmt: skip

        # (a) litestream restore into an empty folder.
        for i in range(reps):
            out_dir = fleet.root / f"{name}-restore-{i}"
            wall, cpu, size, out = restore_once(fleet, config, source_env, out_dir)
            if count_rows(out) != rows:
                raise RuntimeError(f"restore {i} of {size_mib} MiB lost rows")
            shutil.rmtree(out_dir)
            result.restore_s.append(wall)
            result.restore_cpu_s.append(cpu)
            result.restored_bytes = size
            log(f"  {size_mib} MiB: restore {wall:.2f} s (CPU {cpu:.2f} s), {size:,} bytes")

        # (c) the drill, before any new primary adds to the bucket.
        environ = {"PATH": os.environ.get("PATH", ""),
                   "LITESTREAM_BIN": str(fleet.tools.litestream)}  # fmt: skip
        for _ in range(reps):
            lines: list[str] = []
            started = time.perf_counter()
            found = drill.run_drill("bench", settings, project_dir=fleet.root, environ=environ,
                                    max_age=7 * 86400, out=lines.append)  # fmt: skip
            result.drill_s.append(time.perf_counter() - started)
            report = "\n".join(lines)
            match = re.search(r"restored txid \S+ in ([0-9.]+)s", report)
            if match:
                result.drill_restore_s.append(float(match[1]))
            counted = re.search(r"^\s+events\s+([0-9,]+)$", report, re.M)
            ok = not found and counted and int(counted[1].replace(",", "")) == rows
            result.drill_verdicts.append("PASS" if ok else "FAIL: " + "; ".join(found))
            log(f"  {size_mib} MiB: drill {result.drill_s[-1]:.2f} s, {result.drill_verdicts[-1]}")

        # (b) a fresh primary on an empty DATA_DIR, through run.sh's restore.
        for i in range(reps):
            cs = fleet.cold_start(f"{name}-cold-{i}", litestream_config=config,
                                  extra_env=s3.litestream_env, poll_s=0.01,
                                  timeout=1800)  # fmt: skip
            result.first_answer_s.append(cs.ready_s)
            while int(scalar(cs.node.url, token, "SELECT count(*) FROM events")) != rows:
                if time.monotonic() - cs.node.started_at > 1800:
                    raise TimeoutError("the restored primary never had every row")
                time.sleep(0.01)
            result.first_count_s.append(time.monotonic() - cs.node.started_at)
            if "restored" not in cs.node.log_text():
                raise RuntimeError("the fresh primary did not restore")
            log(f"  {size_mib} MiB: fresh primary answered in {cs.ready_s:.2f} s, right count "
                f"at {result.first_count_s[-1]:.2f} s")  # fmt: skip
            fleet.stop(cs.node)
            shutil.rmtree(cs.node.data_dir, ignore_errors=True)
        return result
    finally:
        s3.stop()


def s3_restores(fleet: Fleet, opt) -> Table:
    sizes = [(10, 2), (100, 2)] if opt.quick else [(100, 3), (1024, 2)]
    results = [measure_size(fleet, opt, size, reps) for size, reps in sizes]
    header = ["database", "rows", "objects in bucket", "bucket bytes", "restore (s)", "MiB/s",
              "time to first query (s)", "drill (s)", "runs"]  # fmt: skip
    rows = []
    for r in results:
        speeds = [mib_per_s(r.restored_bytes, s) for s in r.restore_s]
        rows.append([
            f"{r.db_bytes / MIB:,.0f} MiB", f"{r.rows:,}", str(r.bucket.objects),
            f"{r.bucket.bytes:,} ({r.bucket.bytes / MIB:,.0f} MiB)", med_min(r.restore_s),
            f"{statistics.median(speeds):.0f} (max {max(speeds):.0f})",
            med_min(r.first_count_s), med_min(r.drill_s), str(len(r.restore_s)),
        ])  # fmt: skip
    notes = [
        "Rows: application events of about 500 bytes (account, timestamp, kind, a JSON payload "
        "with random ids and 300 hex characters of text, a repeated user agent) and an index "
        f"on (account, timestamp), written through sqld's HTTP API, {ROWS_PER_REQUEST:,} rows "
        "per request (one transaction each), into a primary that run.sh started on an empty "
        "volume with the S3 target (Litestream 0.5.17, sync 1 s). Once the bucket held the "
        "newest transaction Litestream had recorded, the primary got SIGTERM (final sync).",
        "restore: `litestream restore -o` of the latest backup into an empty folder on the "
        "same disk, median (min) of the runs; MiB/s = restored file bytes / wall time, "
        "median (max). time to first query: a fresh primary on an empty DATA_DIR, from "
        "`Popen(bash run.sh)` (restore, bootstrap sqld, `litestream replicate -exec sqld`) to "
        "the first authenticated `SELECT count(*) FROM events` that returns the source's row "
        "count, polled every 10 ms. drill: `infra.drill.run_drill` on the bucket (ltx listing, "
        "restore into a temporary folder, `integrity_check`, a count per table).",
        "moto is an in-process Python S3 server on loopback and holds the objects in memory: "
        "every byte of a restore passes through it, on the same 2 shared cores as Litestream, "
        "so these figures are bounded by moto and this machine, not by Tigris.",
    ]
    for r in results:
        speeds = [mib_per_s(r.restored_bytes, s) for s in r.restore_s]
        notes.append(
            f"{r.target_mib} MiB: restored {r.restored_bytes:,} bytes; restore runs "
            f"{', '.join(f'{s:.2f}' for s in r.restore_s)} s (CPU "
            f"{', '.join(f'{s:.2f}' for s in r.restore_cpu_s)} s; "
            f"{', '.join(f'{v:.0f}' for v in speeds)} MiB/s); first authenticated answer "
            f"{', '.join(f'{s:.2f}' for s in r.first_answer_s)} s, right count "
            f"{', '.join(f'{s:.2f}' for s in r.first_count_s)} s; drill "
            f"{', '.join(f'{s:.2f}' for s in r.drill_s)} s (its restore "
            f"{', '.join(f'{s:.2f}' for s in r.drill_restore_s)} s; "
            f"{', '.join(r.drill_verdicts)}); bucket LTX files by level "
            f"{', '.join(f'L{k}: {v}' for k, v in r.bucket.levels.items())}; setup: writing "
            f"{r.write_s:.1f} s ({r.busy_retries} requests sent again after SQLITE_BUSY), then "
            f"{r.upload_wait_s:.1f} s until the bucket had it all."
        )
    return Table("Restore from the S3 target (moto)", header, rows, notes)
