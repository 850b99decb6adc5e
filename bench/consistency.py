"""Read-after-write through a replica: how often a read sent right after a write, as its own
request to the same replica, misses that write, for how long, and what each way of closing the
window costs. Real run.sh primary and replica (gRPC mutual TLS), loopback only, paced load."""

from __future__ import annotations

import itertools
import random
import threading
import time
from dataclasses import dataclass, field

from tests.runtime.cluster import hrana, litestream_config

from .hrana import Conn, integer, text
from .stats import Summary, Table, fmt, ms

# How a session reads its own write back through the replica (each iteration uses the next one,
# so every method meets the same load).
METHODS = {
    "own": "own request, right after the write's ack (what `execute()` does)",
    "stream": "next statement on the write's own Hrana stream (one connection)",
    "index": "own request carrying the write's `replication_index`",
    "batch": "write and read in one batch (`client.batch`), one request",
    "primary": "own request to the primary instead",
}
POLL_S = 0.0005


def stmt(sql: str, *args: dict, replication_index: str | None = None) -> dict:
    out: dict = {"sql": sql, "args": list(args)}
    if replication_index is not None:
        out["replication_index"] = replication_index
    return out


@dataclass
class Samples:
    stale: int = 0  # reads that missed the session's own acknowledged write
    visible_after: list[float] = field(default_factory=list)  # ack → first read that saw it
    latency: list[float] = field(default_factory=list)  # the read (batch: write + read)
    writes: list[float] = field(default_factory=list)  # the write, when on its own


class Session(threading.Thread):
    """One user: write a row through the replica, read it back the way `method` says, think for
    0–`think_s`, repeat `n` times per method."""

    def __init__(self, primary: str, replica: str, token: str, ids, n: int, think_s: float):
        super().__init__(daemon=True)
        self.writer = Conn(replica, token)
        self.reader = Conn(replica, token)  # a second keep-alive connection, as a new request
        self.on_primary = Conn(primary, token)
        self.ids, self.n, self.think_s = ids, n, think_s
        self.samples = {m: Samples() for m in METHODS}
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for i in range(self.n * len(METHODS)):
                method = list(METHODS)[i % len(METHODS)]
                self.once(method, next(self.ids), self.samples[method])
                time.sleep(random.uniform(0, self.think_s))
        except BaseException as err:  # noqa: BLE001 - reported by the bench
            self.error = err
        finally:
            for conn in (self.writer, self.reader, self.on_primary):
                conn.close()

    def once(self, method: str, row: int, out: Samples) -> None:
        insert = stmt("INSERT INTO raw (id, v) VALUES (?, 'x')", integer(row))
        select = "SELECT count(*) FROM raw WHERE id = ?"
        if method == "batch":
            steps = [stmt("BEGIN IMMEDIATE"), insert, stmt(select, integer(row)), stmt("COMMIT")]
            started = time.perf_counter()
            (result,) = self.writer.pipeline(
                [{"type": "batch", "batch": {"steps": [{"stmt": s} for s in steps]}}]
            )
            out.latency.append(time.perf_counter() - started)
            seen = result["step_results"][2]["rows"][0][0]["value"] == "1"
            out.stale += not seen
            return
        sent = time.perf_counter()
        if method == "stream":
            started = time.perf_counter()
            read = {"type": "execute", "stmt": stmt(select, integer(row))}
            _, result = self.writer.pipeline([{"type": "execute", "stmt": insert}, read])
            out.latency.append(time.perf_counter() - started)
            out.stale += result["rows"][0][0]["value"] != "1"
            return
        (write,) = self.writer.pipeline([{"type": "execute", "stmt": insert}])
        acked = time.perf_counter()
        out.writes.append(acked - sent)
        index = write["replication_index"] if method == "index" else None
        conn = self.on_primary if method == "primary" else self.reader
        read = stmt(select, integer(row), replication_index=index)
        first = True
        while True:
            started = time.perf_counter()
            (result,) = conn.pipeline([{"type": "execute", "stmt": read}])
            if first:
                out.latency.append(time.perf_counter() - started)
            if result["rows"][0][0]["value"] == "1":
                out.visible_after.append(0.0 if first else started - acked)
                return
            out.stale += first
            first = False
            if started - acked > 10:
                raise TimeoutError(f"row {row} not on the replica after 10 s")
            time.sleep(POLL_S)


class Paced(threading.Thread):
    """Background traffic at a fixed rate until stopped: writes straight to the primary (what
    every other region sends) or reads on the replica."""

    def __init__(self, url: str, token: str, rate: float, write: bool, ids) -> None:
        super().__init__(daemon=True)
        self.conn, self.rate, self.write, self.ids = Conn(url, token), rate, write, ids
        self.stop = threading.Event()
        self.count = 0

    def run(self) -> None:
        payload = text("p" * 200)
        next_at = time.perf_counter()
        try:
            while not self.stop.is_set():
                if self.write:
                    self.conn.execute("INSERT INTO bg (id, payload) VALUES (?, ?)",
                                      [integer(next(self.ids)), payload])  # fmt: skip
                else:
                    self.conn.execute("SELECT count(*) FROM raw")
                self.count += 1
                next_at += 1 / self.rate
                self.stop.wait(max(0.0, next_at - time.perf_counter()))
        finally:
            self.conn.close()


@dataclass
class Load:
    name: str
    sessions: int
    writers: int  # background writers to the primary, `rate` each
    readers: int  # background readers on the replica, `rate` each
    rate: float = 100.0
    think_s: float = 0.010


def run_load(primary, replica, token: str, load: Load, n: int, ids) -> tuple[dict, str]:
    per_session = max(1, n // load.sessions)
    background = [Paced(primary.url, token, load.rate, True, ids) for _ in range(load.writers)]
    background += [Paced(replica.url, token, load.rate, False, ids) for _ in range(load.readers)]
    sessions = [Session(primary.url, replica.url, token, ids, per_session, load.think_s)
                for _ in range(load.sessions)]  # fmt: skip
    for thread in background:
        thread.start()
    time.sleep(0.5 if background else 0)  # let the background reach its rate
    started, counts = time.perf_counter(), [t.count for t in background]
    for session in sessions:
        session.start()
    for session in sessions:
        session.join()
    seconds = time.perf_counter() - started
    counts = [t.count - before for t, before in zip(background, counts, strict=True)]
    for thread in background:
        thread.stop.set()
        thread.join()
    for session in sessions:
        if session.error:
            raise session.error
    merged = {m: Samples() for m in METHODS}
    for session in sessions:
        for m, s in session.samples.items():
            merged[m].stale += s.stale
            merged[m].visible_after += s.visible_after
            merged[m].latency += s.latency
            merged[m].writes += s.writes
    iterations = sum(len(s.latency) for s in merged.values())
    bg_writes = sum(c for t, c in zip(background, counts, strict=True) if t.write) / seconds
    bg_reads = sum(c for t, c in zip(background, counts, strict=True) if not t.write) / seconds
    described = (
        f"{load.sessions} session{'s' if load.sessions > 1 else ''} "
        f"({iterations / seconds:,.0f} write-read pairs/s)"
        + (f", {bg_writes:,.0f} writes/s to the primary and {bg_reads:,.0f} reads/s on the "
           "replica in the background" if background else ", nothing else")
    )  # fmt: skip
    return merged, described


def write_p50(samples: dict[str, Samples]) -> float:
    return Summary.of(samples["own"].writes).p50


def consistency(fleet, opt) -> Table:
    config = litestream_config(fleet.root / "ls-consistency.yml", backup_target="file")
    primary = fleet.start("primary", "ryw-primary", litestream_config=config)
    replica = fleet.start("replica", "ryw-replica", primary_grpc_url=primary.grpc_url)
    token = fleet.token
    hrana(primary.url, token, ["CREATE TABLE raw (id INTEGER PRIMARY KEY, v TEXT)",
                               "CREATE TABLE bg (id INTEGER PRIMARY KEY, payload TEXT)"])
    deadline = time.monotonic() + 30
    while not hrana(replica.url, token, ["SELECT name FROM sqlite_master WHERE name = 'bg'"])[0]:
        if time.monotonic() > deadline:
            raise TimeoutError("replica never saw the schema")
        time.sleep(0.05)
    ids = itertools.count(1)
    loads = [Load("idle", sessions=1, writers=0, readers=0),
             Load("light", sessions=2, writers=1, readers=1, rate=50),
             Load("busy", sessions=4, writers=2, readers=2, rate=100)]  # fmt: skip
    n = opt.n(400, 80)
    results = {}
    for load in loads:
        results[load.name] = run_load(primary, replica, token, load, n, ids)
        opt.log(f"  read-after-write, {load.name}: {results[load.name][1]}")
    fleet.stop(replica)
    fleet.stop(primary)

    header = ["read after a write through the same replica", "load", "n", "stale reads",
              "visible after p50 / p99 / max (ms)", "read latency p50 / p99 (ms)"]  # fmt: skip
    rows = []
    for method, label in METHODS.items():
        for load in loads:
            s = results[load.name][0][method]
            count = len(s.latency)
            vis = Summary.of(ms(s.visible_after))
            lat = Summary.of(ms(s.latency))
            visible = (f"{fmt(vis.p50, 1)} / {fmt(vis.p99, 1)} / {fmt(vis.hi, 1)}"
                       if method == "own" else "")  # fmt: skip
            rows.append([label, load.name, str(count),
                         f"{s.stale} ({100 * s.stale / max(count, 1):.1f}%)", visible,
                         f"{fmt(lat.p50, 2)} / {fmt(lat.p99, 2)}"])  # fmt: skip

    def lat(load: str, method: str, q: str = "p50") -> float:
        return getattr(Summary.of(results[load][0][method].latency), q)

    def stale_share(load: str) -> float:
        s = results[load][0]["own"]
        return s.stale / max(len(s.latency), 1)

    stale_ratio = (f"{stale_share('busy') / stale_share('idle'):.1f}x" if stale_share("idle")
                   else f"{stale_share('busy'):.1%} vs none")  # fmt: skip
    busy = results["busy"][0]
    notes = [
        "; ".join(f"load `{load.name}`: {results[load.name][1]}" for load in loads).capitalize()
        + ". Each session writes one row through the replica (Hrana HTTP, keep-alive, a fresh "
        "stream per request), reads it back by the next method in turn, then thinks 0–10 ms; "
        "all on loopback, paced, for a bounded number of rows.",
        f"`visible after`: from the write's acknowledgement to the start of the first read that "
        f"saw it, 0 when the read sent right after the ack did; stale reads are repeated every "
        f"{POLL_S * 1000:g} ms, so the resolution is that plus one read (about 1 ms).",
        f"Ratios (this run): stale reads busy / idle: {stale_ratio}; busy, a read carrying "
        f"`replication_index` / a plain read: p50 {lat('busy', 'index') / lat('busy', 'own'):.2f}x,"
        f" p99 {lat('busy', 'index', 'p99') / lat('busy', 'own', 'p99'):.2f}x; busy, one "
        f"write+read batch / a write then a read: p50 "
        f"{lat('busy', 'batch') / (lat('busy', 'own') + write_p50(busy)):.2f}x.",
        "The same stream is no better than a new request: sqld 0.24.32 means to make a "
        "replica's connection wait for its own last write, but never records it "
        "(libsql-server connection/write_proxy.rs RemoteConnection::execute sets a `move` "
        "closure's copy of `new_frame_no`); its latency is the write and the read together.",
        "The last three can never be stale: a read carrying the write's `replication_index` "
        "waits on the replica until it has applied that frame (write_proxy.rs "
        "`wait_replication_sync`), a batch that writes runs whole on the primary, and the "
        "primary has every acknowledged write. On loopback the primary costs what the replica "
        "does; on Fly a read from the primary costs the round trip to the primary region, and "
        "a waiting read at most the replication lag.",
    ]
    return Table("Read-after-write through a replica", header, rows, notes)
