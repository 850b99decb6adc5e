"""Soak: a primary and replicas under concurrent writers for a bounded time, with sqld
checkpointing often, Litestream shipping to S3 (or a file target), and one graceful primary
restart in the middle. Then every copy of the data is counted against the acknowledged writes.

Used by tests/runtime/test_soak.py (short) and runnable for longer:
    venv/bin/python -m tests.runtime.soak --duration 120
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.runtime.cluster import (
    HranaError,
    Keys,
    LibsqlClient,
    Node,
    Ports,
    S3Server,
    Tools,
    hrana,
    inspect_sqlite,
    litestream_config,
    restore_backup,
    s3_settings,
    start_node,
    wait_until_backed_up,
)
from tests.runtime.workload import LOAD_TABLE, Accounting, create_load_table, ids_on

SOAK_BUCKET = "soak"


@dataclass
class SoakReport:
    duration_s: float
    writers: int
    target: str
    acked: int = 0
    in_doubt: int = 0
    in_doubt_landed: int = 0
    missing_acked: int = 0
    unexplained: int = 0
    rows_primary: int = 0
    rows_restored: int = 0
    rows_replicas: list[int] = field(default_factory=list)
    same_rows: dict[str, bool] = field(default_factory=dict)  # copy -> ids equal the primary's
    integrity: dict[str, str] = field(default_factory=dict)
    primary_exit_codes: list[int | None] = field(default_factory=list)
    restart_downtime_s: float = 0.0
    replica_converge_s: float = 0.0
    lag_ms: list[float] = field(default_factory=list)
    failure_kinds: dict[str, int] = field(default_factory=dict)
    probe_failures: int = 0
    wal_checkpointed_bytes: int = 0

    @property
    def ok(self) -> bool:
        return (
            self.acked > 0
            and self.missing_acked == 0
            and self.unexplained == 0
            and len(self.same_rows) >= 2
            and all(self.same_rows.values())
            and all(result == "ok" for result in self.integrity.values())
            and all(code == 0 for code in self.primary_exit_codes)
        )

    def table(self) -> str:
        lag = sorted(self.lag_ms) or [float("nan")]
        rows = [
            ("duration / writers / target",
             f"{self.duration_s:g}s / {self.writers} / {self.target}"),
            ("writes acknowledged", f"{self.acked} ({self.acked / self.duration_s:.0f}/s)"),
            ("writes failed (in doubt) / landed anyway",
             f"{self.in_doubt} / {self.in_doubt_landed}"),
            ("failures by error", self.failure_kinds),
            ("acknowledged but missing", self.missing_acked),
            ("rows primary / restored / replicas",
             f"{self.rows_primary} / {self.rows_restored} / {self.rows_replicas}"),
            ("same ids as the primary", self.same_rows),
            ("integrity_check", ", ".join(f"{k}={v}" for k, v in self.integrity.items())),
            ("primary exit codes (SIGTERM)", self.primary_exit_codes),
            ("primary restart downtime", f"{self.restart_downtime_s:.2f}s"),
            ("replica lag ms p50 / p95 / max (n, steady state)",
             f"{statistics.median(lag):.0f} / {lag[int(0.95 * (len(lag) - 1))]:.0f} / "
             f"{lag[-1]:.0f} ({len(self.lag_ms)})"),
            ("replicas converged after load", f"{self.replica_converge_s:.2f}s"),
            ("bytes checkpointed into the main file", self.wal_checkpointed_bytes),
            ("verdict", "OK" if self.ok else "FAILED"),
        ]
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


class LagProbe:
    """Writes a probe row on the primary now and then and times its arrival on each replica."""

    def __init__(self, primary: Node, replicas: list[Node], token: str, every_s: float = 0.5):
        self.primary, self.replicas, self.token, self.every_s = primary, replicas, token, every_s
        self.samples_ms: list[float] = []
        self.quiet_after = 0.0  # samples written before this monotonic time are not kept
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> LagProbe:
        hrana(self.primary.url, self.token,
              ["CREATE TABLE IF NOT EXISTS lag_probe (id INTEGER PRIMARY KEY, t REAL)"])
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        probe = 0
        while not self._stop.wait(self.every_s):
            probe += 1
            try:
                hrana(self.primary.url, self.token, [f"INSERT INTO lag_probe VALUES ({probe}, 0)"])
            except (OSError, HranaError):
                self.failures += 1  # the primary is restarting, or busy (counted in the report)
                continue
            written = time.monotonic()
            for replica in self.replicas:
                deadline = written + 10
                while time.monotonic() < deadline and not self._stop.is_set():
                    try:
                        rows = hrana(replica.url, self.token,
                                     [f"SELECT 1 FROM lag_probe WHERE id = {probe}"])[0]
                    except (OSError, HranaError):
                        rows = []
                    if rows:
                        if written >= self.quiet_after:
                            self.samples_ms.append(1000 * (time.monotonic() - written))
                        break
                    time.sleep(0.005)


def run_soak(
    workdir: Path,
    tools: Tools,
    duration_s: float,
    *,
    writers: int = 4,
    payload_bytes: int = 1000,
    replicas: int = 2,
    s3: S3Server | None = None,
    sqld_checkpoint_interval_s: int | None = None,
    log=print,
) -> SoakReport:
    """Run the soak under workdir and return its figures; every process it starts is stopped
    before it returns, also on error."""
    keys = Keys()
    token = keys.token("rw")
    client = LibsqlClient(tools)
    report = SoakReport(duration_s, writers, "s3" if s3 else "file")
    config_path = workdir / "litestream.yml"
    extra_env = {}
    if sqld_checkpoint_interval_s:  # sqld reads it from its environment
        extra_env["SQLD_CHECKPOINT_INTERVAL_S"] = str(sqld_checkpoint_interval_s)
    if s3:
        prefix = f"soak-{time.time_ns()}"
        try:
            s3.create_bucket(SOAK_BUCKET)
        except Exception as err:  # already there from an earlier run
            if "BucketAlready" not in type(err).__name__ + str(err):
                raise
        litestream_config(config_path, **s3_settings(s3, SOAK_BUCKET, prefix))
        extra_env.update(s3.litestream_env)
    else:
        litestream_config(config_path, backup_target="file")

    nodes: list[Node] = []

    def primary_node(ports=None) -> Node:
        node = start_node("primary", workdir / "primary", ports or Ports.pick(), tools=tools,
                          keys=keys, litestream_config=config_path, extra_env=extra_env)
        nodes.append(node)
        return node

    try:
        primary = primary_node()
        wait_until_backed_up(tools, primary.env)
        create_load_table(primary, token)
        db_size_start = primary.db_path.stat().st_size
        followers = []
        for i in range(replicas):
            node = start_node("replica", workdir / f"replica{i + 1}", Ports.pick(), tools=tools,
                              keys=keys, primary_grpc_url=primary.grpc_url)
            nodes.append(node)
            followers.append(node)

        probe = LagProbe(primary, followers, token).start()
        load = client.start_load(primary.url, token, table=LOAD_TABLE, writers=writers,
                                 duration_s=duration_s, payload_bytes=payload_bytes)
        load_started = time.monotonic()

        time.sleep(duration_s / 2)
        log(f"soak: {len(load.acks)} writes acknowledged; restarting the primary")
        stop_started = time.monotonic()
        stopped = primary.stop()
        report.primary_exit_codes.append(stopped.exit_code)
        primary = primary_node(primary.ports)  # same ports: replicas and writers reconnect
        probe.primary = primary
        report.restart_downtime_s = time.monotonic() - stop_started
        # Lag is steady-state replication: replicas reconnecting to the restarted primary
        # (sqld retries with a backoff) would be measured as lag otherwise.
        probe.quiet_after = time.monotonic() + 3

        load.wait(timeout=duration_s + 60)
        log(f"soak: load finished after {time.monotonic() - load_started:.1f}s")
        probe.stop()
        report.lag_ms, report.probe_failures = probe.samples_ms, probe.failures
        for error in load.in_doubt.values():
            kind = error.split(":")[0][:60] if "SQLITE_BUSY" not in error else "SQLITE_BUSY"
            report.failure_kinds[kind] = report.failure_kinds.get(kind, 0) + 1

        expected = ids_on(primary, token)
        converge_started = time.monotonic()
        deadline = converge_started + 60
        while any(ids_on(r, token) != expected for r in followers):
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        report.replica_converge_s = time.monotonic() - converge_started

        accounting = Accounting.of(load, expected)
        report.acked, report.in_doubt = accounting.acked, accounting.in_doubt
        report.missing_acked = len(accounting.missing_acked)
        report.unexplained = len(accounting.unexplained)
        report.in_doubt_landed = len(expected & set(load.in_doubt))
        report.rows_primary = len(expected)
        report.integrity["primary"] = hrana(primary.url, token, ["PRAGMA integrity_check"])[0][0][0]

        for i, replica in enumerate(followers, start=1):
            replica.stop()
            integrity, (ids,) = inspect_sqlite(replica.db_path, [f"SELECT id FROM {LOAD_TABLE}"])
            report.integrity[f"replica{i}"] = integrity
            report.rows_replicas.append(len(ids))
            report.same_rows[f"replica{i}"] = {r[0] for r in ids} == expected

        stopped = primary.stop()
        report.primary_exit_codes.append(stopped.exit_code)
        report.wal_checkpointed_bytes = primary.db_path.stat().st_size - db_size_start
        with tempfile.TemporaryDirectory() as tmp:
            restored = restore_backup(tools, primary.env, Path(tmp) / "restored.db")
            integrity, (ids,) = inspect_sqlite(restored, [f"SELECT id FROM {LOAD_TABLE}"])
        report.integrity["restored"] = integrity
        report.rows_restored = len(ids)
        report.same_rows["restored"] = {r[0] for r in ids} == expected
        return report
    finally:
        for node in reversed(nodes):
            node.kill9()


def main() -> None:
    from tests import realtools

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60, help="seconds of write load")
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--payload-bytes", type=int, default=1000)
    parser.add_argument("--target", choices=["s3", "file"], default="s3")
    args = parser.parse_args()
    tools = realtools.installed()
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        s3 = S3Server(tools.moto_server, Path(tmp) / "moto.log") if args.target == "s3" else None
        try:
            report = run_soak(Path(tmp), tools, args.duration, writers=args.writers,
                              payload_bytes=args.payload_bytes, s3=s3)
        finally:
            if s3:
                s3.stop()
    print(report.table())
    raise SystemExit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
