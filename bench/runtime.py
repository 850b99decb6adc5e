"""Runtime figures with real run.sh, sqld and Litestream on loopback (tests/runtime/cluster.py)."""

from __future__ import annotations

import multiprocessing
import os
import random
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tests.runtime.cluster import (
    DB_RELATIVE,
    LibsqlClient,
    hrana,
    litestream_config,
    s3_settings,
    scalar,
    wait_until_backed_up,
)

from .consistency import consistency
from .fleet import Fleet
from .hrana import Conn, integer
from .restore import s3_restores
from .stats import Summary, Table, fmt, met, ms

BUCKET = "bench-backups"


@dataclass
class Options:
    quick: bool = False
    big: bool = False  # the 1 GB restore
    s3_restore: bool = True

    @staticmethod
    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def n(self, full: int, quick: int) -> int:
        return quick if self.quick else full


def lat_row(label: str, samples_s: list[float], target: str, ok: bool | None) -> list[str]:
    s = Summary.of(ms(samples_s))
    return [label, str(s.n), fmt(s.p50, 2), fmt(s.p99, 2), s.spread("ms", 2), target, met(ok)]


LAT_HEADER = ["figure", "n", "p50 (ms)", "p99 (ms)", "min–max", "target", "met?"]


# --- write latency through a replica vs the primary, and replication lag ------------------------


def latency_and_lag(fleet: Fleet, opt: Options) -> Table:
    config = litestream_config(fleet.root / "ls-latency.yml", backup_target="file")
    primary = fleet.start("primary", "lat-primary", litestream_config=config)
    replica = fleet.start("replica", "lat-replica", primary_grpc_url=primary.grpc_url)
    token = fleet.token
    hrana(primary.url, token, ["CREATE TABLE w (id INTEGER PRIMARY KEY, via TEXT, t REAL)",
                               "CREATE TABLE lag (id INTEGER PRIMARY KEY, t REAL)"])  # fmt: skip
    p, r, rp = Conn(primary.url, token), Conn(replica.url, token), Conn(replica.url, token)
    deadline = time.monotonic() + 30
    while not rp.execute("SELECT name FROM sqlite_master WHERE name = 'lag'"):
        if time.monotonic() > deadline:
            raise TimeoutError("replica never saw the schema")
        time.sleep(0.05)
    insert = "INSERT INTO w (via, t) VALUES (?, unixepoch('subsec'))"
    for _ in range(20):  # warm up both paths (connections, statement caches, gRPC channel)
        p.execute(insert, [{"type": "text", "value": "p"}])
        r.execute(insert, [{"type": "text", "value": "r"}])
    n = opt.n(400, 100)
    direct, via_replica = [], []
    for i in range(n):  # interleaved, alternating who goes first, so drift hits both alike
        pair = [(direct, p, "p"), (via_replica, r, "r")]
        for samples, conn, via in pair if i % 2 else reversed(pair):
            samples.append(conn.timed(insert, [{"type": "text", "value": via}]))
    opt.log(f"  write latency: {n} + {n} samples")

    poll_s = 0.001
    lags, acks = [], []
    for i in range(opt.n(200, 60)):
        sent = time.perf_counter()
        p.execute("INSERT INTO lag (id, t) VALUES (?, unixepoch('subsec'))", [integer(i)])
        acked = time.perf_counter()
        acks.append(acked - sent)
        give_up = acked + 5
        while not rp.execute("SELECT 1 FROM lag WHERE id = ?", [integer(i)]):
            if time.perf_counter() > give_up:
                raise TimeoutError(f"row {i} not on the replica after 5 s")
            time.sleep(poll_s)
        lags.append(time.perf_counter() - acked)
        time.sleep(random.uniform(0, 0.02))  # do not phase-lock to anything periodic
    opt.log(f"  replication lag: {len(lags)} samples")
    for conn in (p, r, rp):
        conn.close()

    ratio = Summary.of(via_replica).p50 / Summary.of(direct).p50
    ratio99 = Summary.of(via_replica).p99 / Summary.of(direct).p99
    lag = Summary.of(ms(lags))
    rows = [
        lat_row("write, straight to the primary", direct, "", None),
        lat_row("write, through a replica (forwarded)", via_replica, "", None),
        ["ratio replica / primary", "", fmt(ratio, 2) + "x", fmt(ratio99, 2) + "x", "",
         "p50 ≤ 2x", met(ratio <= 2)],
        lat_row("replication lag, primary ack → visible on replica", lags, "p99 ≤ 200 ms",
                lag.p99 <= 200),
    ]  # fmt: skip
    notes = [
        "Client: one persistent Python http.client keep-alive connection per node, Hrana HTTP "
        "`POST /v2/pipeline` with one `execute` (a single-row INSERT) and a `close`; samples "
        "interleave primary and replica, no process start is timed.",
        f"Replication lag: INSERT on the primary, then from its acknowledgement poll the replica "
        f"(`SELECT 1 ... WHERE id = ?`, its own connection) every {poll_s * 1000:g} ms until the "
        f"row is there; resolution ≈ {poll_s * 1000:g} ms + one read round trip. The primary's "
        f"own ack took p50 {fmt(Summary.of(ms(acks)).p50, 2)} ms, so commit → visible is at most "
        "that much more.",
    ]
    if ratio > 2:
        notes.append(
            "**Target missed.** On loopback there is no network to save, so a forwarded write "
            "costs the replica's own request handling (HTTP, JWT, a Hrana stream) plus a gRPC "
            "call to the primary, which then does the same work as a direct write: about 2x "
            "the server work of a direct write on a shared 2-core machine, so the ratio sits "
            "near the target and noise from other processes decides the side. What would move "
            "it: a quieter machine, keeping a Hrana stream (baton) across writes, or, on Fly, "
            "the network: a client far from the primary pays the cross-region round trip "
            "either way."
        )
    return Table("Writes and replication", LAT_HEADER, rows, notes)


# --- Litestream backup lag ----------------------------------------------------------------------


class MarkerWatch:
    """Finds, for each marker, when it first appears in any object of the backup store.

    A marker is 16 random bytes at the start of a 3 KB random blob, so it fills most of a page
    and LZ4 (Litestream's LTX page compression) keeps it as literal bytes."""

    def __init__(self, list_objects, read_object, poll_s: float) -> None:
        self.list_objects = list_objects  # () -> {key: version tag}
        self.read_object = read_object  # key -> bytes
        self.poll_s = poll_s
        self.pending: dict[bytes, float] = {}
        self.found: dict[bytes, float] = {}
        self.found_in: dict[bytes, str] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.seen: dict[str, object] = dict(list_objects())
        self.errors: list[str] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def add(self, marker: bytes, acked: float) -> None:
        with self.lock:
            self.pending[marker] = acked

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                listing = self.list_objects()
                changed = [k for k, tag in listing.items() if self.seen.get(k) != tag]
                for key in changed:
                    data = self.read_object(key)
                    now = time.perf_counter()
                    self.seen[key] = listing[key]
                    with self.lock:
                        for marker in [m for m in self.pending if m in data]:
                            self.found[marker] = now - self.pending.pop(marker)
                            self.found_in[marker] = key
            except Exception as err:  # noqa: BLE001 - a half-written file; try again
                self.errors.append(repr(err))
            self.stop.wait(self.poll_s)

    def wait_all(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if not self.pending:
                    break
            time.sleep(0.05)
        self.stop.set()
        self.thread.join(10)


def backup_lag(
    fleet: Fleet, opt: Options, target: str, s3=None, sync_interval: str = "1s"
) -> tuple[list[float], str]:
    name = f"bl-{target}-{sync_interval}"
    if target == "file":
        config = litestream_config(fleet.root / f"{name}.yml", backup_target="file",
                                   backup_sync_interval=sync_interval)  # fmt: skip
        env = None
    else:
        settings = s3_settings(s3, BUCKET, name, sync_interval)
        config = litestream_config(fleet.root / f"{name}.yml", **settings)
        env = s3.litestream_env
    primary = fleet.start("primary", name, litestream_config=config, extra_env=env)
    token = fleet.token
    wait_until_backed_up(fleet.tools, primary.env)
    hrana(primary.url, token, ["CREATE TABLE marks (id INTEGER PRIMARY KEY, b BLOB)"])
    time.sleep(1.5)

    if target == "file":
        root = primary.data_dir / "backups"
        poll_s = 0.01

        def list_objects():
            out = {}
            for f in root.rglob("*.ltx"):
                try:
                    st = f.stat()
                except FileNotFoundError:
                    continue
                out[str(f)] = (st.st_size, st.st_mtime_ns)
            return out

        def read_object(key):
            return Path(key).read_bytes()

        method = (f"file target: list `backups/` every {poll_s * 1000:g} ms, read every new or "
                  "changed LTX file and search it for the row's marker bytes")  # fmt: skip
    else:
        client = s3.client()
        poll_s = 0.02

        def list_objects():
            out = {}
            pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=name)
            for page in pages:
                for obj in page.get("Contents", []):
                    out[obj["Key"]] = obj["ETag"]
            return out

        def read_object(key):
            return client.get_object(Bucket=BUCKET, Key=key)["Body"].read()

        method = (f"S3 target (moto): `list_objects_v2` every {poll_s * 1000:g} ms (+ the list "
                  "time), GET every new object and search it for the marker")  # fmt: skip

    watch = MarkerWatch(list_objects, read_object, poll_s)
    conn = Conn(primary.url, token)
    n = opt.n(80, 20)
    try:
        for _ in range(n):
            time.sleep(random.uniform(0, 1.0))  # uniform phase against the 1 s sync tick
            marker = os.urandom(16)
            conn.execute(f"INSERT INTO marks (b) VALUES (x'{marker.hex()}' || randomblob(3000))")
            watch.add(marker, time.perf_counter())
        watch.wait_all(timeout=30)
    finally:
        watch.stop.set()
        conn.close()
    lost = len(watch.pending)
    if lost:
        method += f"; {lost} of {n} markers never seen in 30 s"
    first_l0 = sum(re.search(r"(^|/)0+/[0-9a-f]{16}-[0-9a-f]{16}\.ltx$", key) is not None
                   for key in watch.found_in.values())  # fmt: skip
    method += f" ({first_l0} of {len(watch.found)} first seen in a level-0 LTX file)"
    opt.log(f"  backup lag {target} {sync_interval}: {len(watch.found)} samples")
    fleet.stop(primary)
    return list(watch.found.values()), method


def backup_lags(fleet: Fleet, opt: Options, s3) -> Table:
    rows, notes = [], []
    cases = [("file", "1s"), ("s3", "1s")] + ([] if opt.quick else [("file", "500ms")])
    missed = []
    for target, interval in cases:
        samples, method = backup_lag(fleet, opt, target, s3, interval)
        s = Summary.of(ms(samples))
        over = sum(x > 1.0 for x in samples)
        is_target = interval == "1s"
        ok = s.p99 <= 1500
        if is_target and not ok:
            missed.append(target)
        rows.append([f"backup lag, {target}, sync {interval}, commit ack → in the store",
                     str(s.n), fmt(s.p50, 0), fmt(s.p99, 0), s.spread("ms", 0),
                     "p99 ≤ 1,500 ms" if is_target else "report",
                     met(ok) if is_target else "n/a"])  # fmt: skip
        notes.append(f"{target}, {interval}: {method}; {over} of {s.n} samples over 1 s.")
    notes.append(
        "Each row is written after a uniform random 0–1 s pause so commits land at every "
        "phase of Litestream's tick; 1 s is the default `backupSyncInterval`."
    )
    if missed:
        notes.append(
            f"**Target missed ({', '.join(missed)}).** A commit reaches the store only after "
            "two periodic Litestream stages: the database's `monitor-interval` turns new WAL "
            "frames into an LTX file, then the replica's `sync-interval` ships it; a commit "
            "that just misses a tick waits for the next, which makes the samples over 1 s. "
            "What would move it: lowering both intervals (the template sets only "
            "`sync-interval`"
            + (
                "; the 500 ms line shows lowering it alone does not cut the tail)"
                if len(cases) > 2
                else ")"
            )
            + ", at the cost of more, smaller uploads (S3 PUTs)."
        )
    return Table("Litestream backup lag", LAT_HEADER, rows, notes)


# --- restore and cold start ---------------------------------------------------------------------


def build_database(path: Path, size_mb: int) -> float:
    """A SQLite file of about size_mb MiB: 900-byte blobs (half random, so incompressible,
    half zeros), four to a 4 KiB page."""
    started = time.monotonic()
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA page_size = 4096")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE blobs (id INTEGER PRIMARY KEY, b BLOB)")
    rows = size_mb * 1024 * 1024 // 1024  # 4 rows per 4096-byte page
    batch = 50_000
    for start in range(0, rows, batch):
        count = min(batch, rows - start)
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "INSERT INTO blobs (b) SELECT randomblob(450) || zeroblob(450) FROM n",
            (count,),
        )
        conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return time.monotonic() - started


def copy_with_fsync(src: Path, dst: Path) -> float:
    started = time.perf_counter()
    shutil.copyfile(src, dst)
    fd = os.open(dst, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return time.perf_counter() - started


def timed_restore(fleet: Fleet, env: dict[str, str], out: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system) of one `litestream restore`."""
    db = str(Path(env["DATA_DIR"]) / DB_RELATIVE)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        [str(fleet.tools.litestream), "restore", "-config", env["LITESTREAM_CONFIG"],
         "-o", str(out), db],
        env=env, check=True, capture_output=True, timeout=1800,
    )  # fmt: skip
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


@dataclass
class RestoreResult:
    target: str
    size_mb: int
    db_bytes: int
    build_s: float
    first_start_s: float
    upload_s: float
    restores: list[float]
    restore_cpu: list[float]
    copies: list[float]
    rows_ok: bool


def restore_case(fleet: Fleet, opt: Options, size_mb: int, target: str, s3=None):
    name = f"rs-{target}-{size_mb}"
    data_dir = fleet.root / name
    build_s = build_database(data_dir / DB_RELATIVE, size_mb)
    expected_rows = scalar_sqlite(data_dir / DB_RELATIVE, "SELECT count(*) FROM blobs")
    if target == "file":
        config = litestream_config(fleet.root / f"{name}.yml", backup_target="file")
        env = None
    else:
        config = litestream_config(fleet.root / f"{name}.yml", **s3_settings(s3, BUCKET, name))
        env = s3.litestream_env
    # run.sh on an existing database: no restore, bootstrap sqld, then Litestream snapshots it.
    node = fleet.start("primary", name, litestream_config=config, extra_env=env,
                       ready_timeout=900)  # fmt: skip
    first_start_s = node.ready_seconds
    started = time.monotonic()
    wait_until_backed_up(fleet.tools, node.env, timeout=900)
    upload_s = time.monotonic() - started
    node_env = node.env
    fleet.stop(node)  # graceful: Litestream's final sync
    db_file = data_dir / DB_RELATIVE
    reps = 2 if size_mb >= 1000 else opt.n(3, 2)
    restores, cpu, copies = [], [], []
    out = fleet.root / f"{name}.restored"
    copy = fleet.root / f"{name}.copy"
    for _ in range(reps):
        for f in (out, copy, out.with_name(out.name + "-wal"), out.with_name(out.name + "-shm")):
            f.unlink(missing_ok=True)
        wall, cpu_s = timed_restore(fleet, node_env, out)
        restores.append(wall)
        cpu.append(cpu_s)
        copies.append(copy_with_fsync(db_file, copy))
    rows_ok = scalar_sqlite(out, "SELECT count(*) FROM blobs") == expected_rows
    result = RestoreResult(target, size_mb, db_file.stat().st_size, build_s, first_start_s,
                           upload_s, restores, cpu, copies, rows_ok)  # fmt: skip
    for f in (out, copy):
        f.unlink(missing_ok=True)
    opt.log(f"  restore {target} {size_mb} MB: {restores} vs copy {copies}")
    return result, config, node_env


def scalar_sqlite(path: Path, sql: str):
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


def restores_and_cold_starts(fleet: Fleet, opt: Options, s3) -> list[Table]:
    sizes = [10, 100] + ([1024] if opt.big else [])
    results: list[RestoreResult] = []
    cold_after: list[float] = []
    for size in sizes:
        result, config, env = restore_case(fleet, opt, size, "file")
        results.append(result)
        if size == 100:
            # Cold start on an empty volume whose backup folder holds the 100 MB backup.
            for i in range(opt.n(3, 2)):
                name = f"cold-restore-{i}"
                (fleet.root / name).mkdir()
                shutil.copytree(Path(env["DATA_DIR"]) / "backups", fleet.root / name / "backups")
                cs = fleet.cold_start(name, litestream_config=config)
                if "run.sh: restored" not in cs.node.log_text():
                    raise RuntimeError("cold start did not restore")
                rows = scalar(cs.node.url, fleet.token, "SELECT count(*) FROM blobs")
                if rows != scalar_sqlite(Path(env["DATA_DIR"]) / DB_RELATIVE,
                                         "SELECT count(*) FROM blobs"):  # fmt: skip
                    raise RuntimeError("cold start after restore lost rows")
                cold_after.append(cs.ready_s)
                fleet.stop(cs.node)
                shutil.rmtree(fleet.root / name, ignore_errors=True)
        shutil.rmtree(Path(env["DATA_DIR"]), ignore_errors=True)
    if opt.s3_restore and not opt.quick:
        for size in (10, 100):
            result, _, env = restore_case(fleet, opt, size, "s3", s3)
            results.append(result)
            shutil.rmtree(Path(env["DATA_DIR"]), ignore_errors=True)

    header = ["database", "target", "restore (s)", "restore CPU (s)", "copy + fsync (s)",
              "ratio", "reps", "target", "met?"]  # fmt: skip
    rows = []
    missed = False
    for r in results:
        restore = Summary.of(r.restores)
        copy = Summary.of(r.copies)
        ratio = restore.p50 / copy.p50
        is_1g = r.size_mb >= 1000
        missed = missed or (is_1g and ratio > 3)
        rows.append([
            f"{r.db_bytes / 2**20:,.0f} MiB", r.target,
            f"{restore.p50:.2f} ({restore.lo:.2f}–{restore.hi:.2f})",
            f"{Summary.of(r.restore_cpu).p50:.2f}",
            f"{copy.p50:.3f} ({copy.lo:.3f}–{copy.hi:.3f})", f"{ratio:.2f}x", str(restore.n),
            "≤ 3x copy" if is_1g else "report", met(ratio <= 3) if is_1g else "n/a",
        ])  # fmt: skip
    if not opt.big:
        rows.append(["1 GiB", "file", "not run", "", "", "", "", "≤ 3x copy", "n/a (`--big`)"])
    notes = [
        "Databases built with Python's sqlite3 (page size 4096, WAL, 900-byte blobs: 450 "
        "random bytes + 450 zeros, 4 rows a page), placed in an empty DATA_DIR; run.sh "
        "started a primary on it and Litestream uploaded its snapshot; the primary was "
        "stopped (final sync) before timing. Restore = `litestream restore -o` into a new "
        "file on the same disk; copy = `shutil.copyfile` of the database + fsync. Both with "
        "a warm page cache. Median (min–max) of the reps; CPU = user + system time of the "
        "restore process.",
        "Every restored file was checked: row count equal to the source: "
        + ", ".join(
            f"{r.size_mb} MiB {r.target} {'ok' if r.rows_ok else 'MISMATCH'}" for r in results
        )
        + ".",  # fmt: skip
        "Setup times (not part of the restore): "
        + "; ".join(
            f"{r.size_mb} MiB {r.target}: build {r.build_s:.1f} s, first start on it "
            f"{r.first_start_s:.1f} s, first upload {r.upload_s:.1f} s"
            for r in results
        )
        + ".",  # fmt: skip
    ]
    largest = max(results, key=lambda r: r.db_bytes)
    big_cpu = Summary.of(largest.restore_cpu).p50
    big_wall = Summary.of(largest.restores).p50
    notes.append(
        ("**Target missed.** " if missed else "What bounds it: ")
        + "`litestream restore` (0.5, replica.go `Restore`) streams every page through "
        "`ltx.Compactor` → `io.Pipe` → `ltx.Decoder.DecodeDatabaseTo`: each page is "
        "LZ4-decompressed and checksummed, re-encoded into one compacted LTX stream, decoded "
        "again and written, then the file is fsynced. "
        + f"For the largest database its CPU time was {big_cpu:.1f} s of {big_wall:.1f} s "
        "wall: CPU-bound (compactor and decoder run concurrently), while the copy is a kernel "
        "copy plus the disk write. What would move it: a restore that writes the snapshot's "
        "pages straight to the file (no compact/re-encode pass), a faster core, or, for a lost "
        "volume, Fly's block-level volume snapshots (`snapshotRetentionDays`), which skip LTX "
        "decoding altogether. run.sh restores only onto an empty volume, so ordinary restarts "
        "never pay it."
    )
    restore_table = Table("Restore from the backup", header, rows, notes)

    empty, health = [], []
    config = litestream_config(fleet.root / "ls-cold.yml", backup_target="file")
    for i in range(opt.n(10, 4)):
        cs = fleet.cold_start(f"cold-empty-{i}", litestream_config=config)
        empty.append(cs.ready_s)
        if cs.health_s is not None:
            health.append(cs.health_s)
        fleet.stop(cs.node)
    e, h, a = Summary.of(empty), Summary.of(health), Summary.of(cold_after)
    cold_header = ["figure", "n", "p50 (s)", "max (s)", "min–max", "target", "met?"]
    cold_rows = [
        ["cold start, empty volume: run.sh → authenticated query", str(e.n), fmt(e.p50, 3),
         fmt(e.hi, 3), e.spread("s", 3), "≤ 2 s", met(e.p50 <= 2 and e.hi <= 2)],
        ["(first `/health` 200 on the HTTP port)", str(h.n), fmt(h.p50, 3), fmt(h.hi, 3),
         h.spread("s", 3), "", ""],
        ["cold start after restoring 100 MB (file backup)", str(a.n), fmt(a.p50, 3),
         fmt(a.hi, 3), a.spread("s", 3), "report", "n/a"],
    ]  # fmt: skip
    cold_notes = [
        "From `Popen(bash run.sh)` until `POST /v2/pipeline` with a valid JWT answers 200, polled "
        "every 10 ms (each poll a new connection). Empty: no backup yet, so run.sh skips the "
        "restore, runs its bootstrap sqld on the gRPC port to create Litestream's tables, "
        "then Litestream starts sqld. `met` requires every sample ≤ 2 s.",
    ]
    return [restore_table, Table("Cold start", cold_header, cold_rows, cold_notes)]


# --- write throughput ---------------------------------------------------------------------------


def run_for(seconds: float, fn) -> int:
    count = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        fn(count)
        count += 1
    return count


def _count_requests(
    url: str, token: str, sql: str, seconds: float, keep_stream: bool = False
) -> int:
    """One client: as many requests as it can send in `seconds`."""
    conn = Conn(url, token, keep_stream=keep_stream)
    try:
        return run_for(seconds, lambda _: conn.execute(sql))
    finally:
        conn.close()


INSERT_ONE = "INSERT INTO tp (v) VALUES ('a row of about forty bytes of text.....')"
INSERT_BATCH = (
    "INSERT INTO tp (v) WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
    "WHERE i < {rows}) SELECT 'a row of about forty bytes of text.....' FROM n"
)


def throughput(fleet: Fleet, opt: Options) -> Table:
    config = litestream_config(fleet.root / "ls-tp.yml", backup_target="file")
    primary = fleet.start("primary", "tp-primary", litestream_config=config)
    token = fleet.token
    hrana(primary.url, token, ["CREATE TABLE tp (id INTEGER PRIMARY KEY, v TEXT)"])
    sync_mode = int(scalar(primary.url, token, "PRAGMA synchronous"))
    journal = scalar(primary.url, token, "PRAGMA journal_mode")
    seconds = opt.n(8, 3)
    writers = 4
    batch = 100
    results: dict[str, float] = {}

    results["sqld primary, 1 client, `SELECT 1` (request floor, requests/s)"] = (
        _count_requests(primary.url, token, "SELECT 1", seconds) / seconds
    )
    results["sqld primary, 1 client, 1 row per request"] = (
        _count_requests(primary.url, token, INSERT_ONE, seconds) / seconds
    )
    results["sqld primary, 1 client, 1 row per request, one Hrana stream kept (baton)"] = (
        _count_requests(primary.url, token, INSERT_ONE, seconds, keep_stream=True) / seconds
    )
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(writers) as pool:
        counts = pool.starmap(
            _count_requests, [(primary.url, token, INSERT_ONE, seconds)] * writers
        )
    results[f"sqld primary, {writers} client processes, 1 row per request"] = sum(counts) / seconds
    results[f"sqld primary, 1 client, {batch} rows per request (one statement)"] = (
        _count_requests(primary.url, token, INSERT_BATCH.format(rows=batch), seconds)
        * batch / seconds
    )  # fmt: skip
    if fleet.tools.node and fleet.tools.node_modules:
        hrana(primary.url, token,
              ["CREATE TABLE load (id INTEGER PRIMARY KEY, writer INT, payload TEXT)"])  # fmt: skip
        load = LibsqlClient(fleet.tools).start_load(
            primary.url, token, table="load", writers=writers, duration_s=seconds,
            payload_bytes=40,
        )  # fmt: skip
        load.wait(seconds + 60)
        results[f"sqld primary, @libsql/client (node), {writers} async writers"] = (
            len(load.acks) / seconds
        )
    fleet.stop(primary)

    raw_path = fleet.root / "raw" / "raw.db"
    raw_path.parent.mkdir()
    sync_names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
    raw_rates = {}
    for mode in sorted({sync_mode, 2}):
        raw_path.unlink(missing_ok=True)
        raw = sqlite3.connect(raw_path, isolation_level=None)  # autocommit: 1 txn per INSERT
        raw.execute("PRAGMA journal_mode = WAL")
        raw.execute(f"PRAGMA synchronous = {mode}")
        raw.execute("CREATE TABLE tp (id INTEGER PRIMARY KEY, v TEXT)")
        rate = run_for(seconds, lambda _, c=raw: c.execute(INSERT_ONE)) / seconds
        raw.close()
        raw_rates[mode] = rate
        results[f"raw SQLite (Python sqlite3), WAL, synchronous={sync_names[mode]}"] = rate
    limit = raw_rates[sync_mode]
    rows = [[label, fmt(rate, 0), f"{rate / limit:.3f}", "report", "n/a"]
            for label, rate in results.items()]  # fmt: skip
    notes = [
        f"INSERTs of a ~40-byte row, each request its own transaction, {seconds} s per line, "
        f"same disk; clients use the keep-alive Hrana HTTP client unless named. sqld reports "
        f"`journal_mode={journal}`, `synchronous={sync_names.get(sync_mode)}` on its "
        "connections; the raw SQLite line with that setting is the limit (ratio 1).",
        "What bounds sqld here is the per-request cost, not SQLite: a `SELECT 1` costs about "
        "as much as a one-row INSERT, 100 rows in one request multiply the rows/s, and keeping "
        "one Hrana stream (baton) instead of opening and closing one per request (what the "
        "other lines do) saves a large share. Client and server share the machine's 2 cores, "
        "so more client processes add little. "
        "Litestream runs alongside (file target, 1 s).",
    ]
    header = ["figure", "rows/s", "vs raw SQLite", "target", "met?"]
    return Table("Write throughput on the primary", header, rows, notes)


def run_all(opt: Options, keep: bool = False, parts: set[str] | None = None) -> list[Table]:
    parts = parts or {"latency", "backup", "restore", "throughput", "consistency"}
    tables: list[Table] = []
    with Fleet.create(keep=keep) as fleet:
        s3 = fleet.s3()
        s3.create_bucket(BUCKET)
        if "latency" in parts:
            opt.log("runtime: write latency and replication lag")
            tables.append(latency_and_lag(fleet, opt))
            for node in list(fleet.nodes):
                fleet.stop(node)
        if "backup" in parts:
            opt.log("runtime: backup lag")
            tables.append(backup_lags(fleet, opt, s3))
        if "restore" in parts:
            opt.log("runtime: restore and cold start")
            tables.extend(restores_and_cold_starts(fleet, opt, s3))
        if parts & {"restore", "restore-s3"}:
            opt.log("runtime: restore from the S3 target")
            tables.append(s3_restores(fleet, opt))
        if "throughput" in parts:
            opt.log("runtime: write throughput")
            tables.append(throughput(fleet, opt))
        if "consistency" in parts:
            opt.log("runtime: read-after-write through a replica")
            tables.append(consistency(fleet, opt))
    return tables
