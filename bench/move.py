"""Moving the local stack's primary to another region (`python -m bench.move`): the real
program through tests/harness, real sqld, Litestream, moto and @libsql/client writing all along
(tests/local_move.py, which the tests share)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from tests import realtools
from tests.harness import Harness
from tests.local_move import run_moves, s3_backup_config
from tests.project import PROJECT, ROOT, copy_project
from tests.runtime.cluster import LibsqlClient, S3Server, free_port

from .stats import Table, fmt, met

BUCKET = "bench-moves"
TARGET_S = 10.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def stack_config(http: int, grpc: int, metrics: int) -> dict[str, str]:
    config = yaml.safe_load((ROOT / "Pulumi.local.yaml").read_text())["config"]
    flat = {k: json.dumps(v) if isinstance(v, list) else str(v) for k, v in config.items()}
    flat.update({f"{PROJECT}:localHttpPort": str(http), f"{PROJECT}:localGrpcPort": str(grpc),
                 f"{PROJECT}:localMetricsPort": str(metrics)})  # fmt: skip
    return flat


def consecutive_free_ports(count: int) -> int:
    for _ in range(50):
        port = free_port()
        if all(free_port_at(port + i) for i in range(1, count)):
            return port
    raise RuntimeError("no consecutive free ports")


def free_port_at(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def move(quick: bool) -> Table:
    found = realtools.locate()
    missing = [n for n in ("sqld", "litestream", "moto_server", "node", "libsql_client")
               if found[n] is None]  # fmt: skip
    if missing:
        raise SystemExit(f"missing runtime tools {missing}: run `make setup`")
    tools = realtools.installed()
    targets = ["fra", "yyz"] if quick else ["fra", "yyz", "fra", "yyz"]
    tmp = Path(tempfile.mkdtemp(prefix="bench-move-"))
    project = copy_project(tmp)
    path = os.pathsep.join([str(tools.sqld.parent), str(tools.litestream.parent)])
    env = {**os.environ, "PATH": f"{path}{os.pathsep}{os.environ['PATH']}"}
    harness = Harness(tmp / "pulumi", project / "__main__.py", PROJECT, "local", env=env)
    s3 = S3Server(tools.moto_server, tmp / "moto.log")
    try:
        s3.create_bucket(BUCKET)
        config = stack_config(consecutive_free_ports(2), free_port(), consecutive_free_ports(3))
        config = s3_backup_config(config, s3, BUCKET)
        run = run_moves(harness, config, targets, tools=tools, client=LibsqlClient(tools), s3=s3,
                        log=lambda m: log(f"  {m}"))  # fmt: skip
        gone = harness.destroy()
        if not gone.ok:
            raise RuntimeError(gone.log_text[-3000:])
    finally:
        s3.stop()
        subprocess.run(["pkill", "-f", str(project)], check=False)
        shutil.rmtree(tmp, ignore_errors=True)

    a = run.accounting
    rows = [[f"{m.source} → {m.target}", fmt(m.downtime, 2), fmt(m.up_seconds, 2),
             f"≤ {TARGET_S:g} s", met(m.downtime <= TARGET_S)] for m in run.moves]  # fmt: skip
    rows.append([
        f"all {len(run.moves)} moves: {a.acked:,} acknowledged, {a.in_doubt} in doubt, "
        f"{a.rows:,} rows after, **{run.lost} lost**; backup restore {run.backup_rows:,} rows; "
        f"replicas converged {run.replicas_converged_s:.2f} s after the load stopped",
        "", "", "lost = 0", met(run.lost == 0 and not a.unexplained),
    ])  # fmt: skip
    notes = [
        "`pulumi up` with a new `primaryRegion` on the local stack (a primary, a replica in "
        "ams; `backupTarget: s3` on moto, sync 1 s), through tests/harness, while 4 "
        "@libsql/client writers insert rows into the primary's address without pause (a failed "
        "request is retried after 50 ms). Downtime: from the last write acknowledged before the "
        "move to the first one after it (client clocks). `up`: the whole run, program and "
        "status included. In doubt: requests that failed during the move (none landed unless "
        "counted in rows). Rows after: on the new primary, and equal on the replica and in a "
        "restore of the backup.",
    ]
    header = ["move", "downtime (s)", "`up` (s)", "target", "met?"]
    return Table("Moving the primary (local stack, S3 backup)", header, rows, notes)


def run_all(quick: bool) -> list[Table]:
    log("move: the local stack's primary to another region, under load")
    return [move(quick)]


def main(argv: list[str] | None = None) -> int:
    """`venv/bin/python -m bench.move [--quick]`: two moves with --quick, else four."""
    import argparse
    import time

    parser = argparse.ArgumentParser(prog="python -m bench.move", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="two moves instead of four")
    args = parser.parse_args(argv)
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    tables = run_all(args.quick)
    print(f"Measured {date}; `python -m bench.move{' --quick' if args.quick else ''}`.\n")
    for table in tables:
        print(table.markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
