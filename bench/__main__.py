"""`venv/bin/python -m bench [--quick] [--only runtime|program|PART|diskfull|move] [--big]
[--soak SECONDS]`: print every table.

Progress goes to stderr; the tables (Markdown) go to stdout."""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import diskfull, move, program, runtime

# `restore` includes `restore-s3` (100 MiB and 1 GiB from the S3 target; bench/restore.py).
RUNTIME_PARTS = ("latency", "backup", "restore", "restore-s3", "throughput", "consistency")


def machine() -> str:
    cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    mem_kb = 0
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return (f"{cores} cores, {mem_kb / 1024 / 1024:.0f} GiB memory, "
            f"{platform.system()} {platform.machine()}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only",
                        choices=["runtime", "program", *RUNTIME_PARTS, "diskfull", "move"],
                        help="one group (runtime, program), one runtime part, diskfull "
                        "(root only: volume share before ENOSPC, on a tmpfs) or move (the "
                        "local stack's primary moved under writers)")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="fewer samples, no S3 restore")
    parser.add_argument("--big", action="store_true", help="also restore a 1 GB database")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folder")
    parser.add_argument("--soak", type=float, metavar="SECONDS",
                        help="also run the soak: writers, checkpoints, a restart, S3")  # fmt: skip
    args = parser.parse_args(argv)

    started = time.monotonic()
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    tables = []
    if args.only in (None, "program"):
        tables += program.run_all(args.quick)
    if args.only == "diskfull":  # mounts a tmpfs, so root only, and only when asked
        tables += diskfull.run(runtime.Options(quick=args.quick), keep=args.keep)
    elif args.only == "move":
        tables += move.run_all(args.quick)
    elif args.only not in ("program",):
        parts = set(RUNTIME_PARTS) if args.only in (None, "runtime") else {args.only}
        opt = runtime.Options(quick=args.quick, big=args.big)
        tables += runtime.run_all(opt, keep=args.keep, parts=parts)
    mode = " --quick" if args.quick else ""
    print(f"Measured {date} on {machine()}; `python -m bench{mode}"
          f"{' --big' if args.big else ''}{' --only ' + args.only if args.only else ''}`, "
          f"{time.monotonic() - started:.0f} s.\n")  # fmt: skip
    for table in tables:
        print(table.markdown())
    if args.soak:
        report = soak(args.soak)
        print(f"### Soak ({args.soak:.0f} s)\n\n{report.table()}\n")
        return 0 if report.ok else 1
    return 0


def soak(seconds: float):
    """The runtime suite's soak, for longer than a test may take: acknowledged writes must equal
    the rows on the primary, after a restore, and on each replica."""
    from tests.runtime.cluster import S3Server
    from tests.runtime.soak import run_soak

    from .fleet import find_tools

    tools = find_tools()
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        s3 = S3Server(tools.moto_server, Path(tmp) / "moto.log")
        try:
            return run_soak(Path(tmp), tools, seconds, s3=s3, log=lambda *a: None)
        finally:
            s3.stop()


if __name__ == "__main__":
    sys.exit(main())
