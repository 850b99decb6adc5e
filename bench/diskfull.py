"""How much of a volume the data reaches before ENOSPC (`python -m bench --only diskfull`).

A primary (run.sh, sqld, Litestream) runs on a size-limited tmpfs as its volume, for each backup
target (S3 on moto, and `file`) and each load: steady (small rows at a pace Litestream keeps up
with) and a burst (large rows back to back). Needs root, to mount the tmpfs."""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests.runtime.cluster import (
    DB_RELATIVE,
    Ports,
    litestream_config,
    s3_settings,
    start_node,
    wait_until_backed_up,
)
from tests.runtime.diskfull import (
    BURST_ROW_BYTES,
    KIB,
    MIB,
    STEADY_PAUSE_S,
    STEADY_ROW_BYTES,
    fill_until_full,
    mount_problem,
    small_volume,
    usage,
)

from .fleet import Fleet
from .stats import Table

BUCKET = "bench-diskfull"
LOADS = {
    "steady": (STEADY_ROW_BYTES, STEADY_PAUSE_S),
    "burst": (BURST_ROW_BYTES, 0.0),
}


def diskfull(fleet: Fleet, opt, s3) -> Table:
    problem = mount_problem()
    if problem:
        raise SystemExit(f"--only diskfull: {problem}")
    volume_bytes = (64 if opt.quick else 128) * MIB
    rows = []
    for target in ("s3", "file"):
        for load, (row_bytes, pause_s) in LOADS.items():
            opt.log(f"  diskfull: {target}, {load}, {volume_bytes // MIB} MiB volume")
            with tempfile.TemporaryDirectory(dir=fleet.root) as tmp:
                rows.append(_one(fleet, s3, Path(tmp), target, load, row_bytes, pause_s,
                                 volume_bytes))  # fmt: skip
    header = ["target, load", "rows' bytes at ENOSPC", "SQLite file", "WAL", "sqld log",
              "Litestream local", "backup on volume", "fill time"]  # fmt: skip
    notes = [
        f"A {volume_bytes // MIB} MiB tmpfs as the primary's volume; rows are incompressible "
        f"`randomblob()`s, one per request: steady {STEADY_ROW_BYTES // KIB} KiB every "
        f"{STEADY_PAUSE_S * 1000:g} ms, burst {BURST_ROW_BYTES // KIB} KiB back to back. Each "
        "figure is its share of the volume at the first write sqld refused (SQLITE_IOERR).",
        "sqld log: its replication log (`wallog`), which keeps every page written until it passes "
        "`--max-log-size` (200 MB), and its compaction snapshots. Litestream local: its L0 LTX "
        "files, kept 5 minutes (L0 retention) after upload. Backup on volume: the `file` target.",
        "A fill this fast is the worst case for Litestream's share: over hours its L0 files are "
        "pruned and the WAL checkpointed, and sqld's log is compacted at 200 MB.",
    ]
    return Table("Volume share the data reaches before ENOSPC", header, rows, notes)


def _one(fleet, s3, tmp: Path, target, load, row_bytes, pause_s, volume_bytes) -> list[str]:
    env = {}
    if target == "s3":
        config = litestream_config(tmp / "ls.yml", **s3_settings(s3, BUCKET, f"{load}-{tmp.name}"))
        env = s3.litestream_env
    else:
        config = litestream_config(tmp / "ls.yml", backup_target="file")
    with small_volume(tmp / "volume", volume_bytes) as volume:
        node = start_node("primary", volume / "data", Ports.pick(), tools=fleet.tools,
                          keys=fleet.keys, litestream_config=config, extra_env=env,
                          log_path=tmp / "primary.log")  # fmt: skip
        fleet.nodes.append(node)
        try:
            wait_until_backed_up(fleet.tools, node.env)
            fill = fill_until_full(node, fleet.token, row_bytes=row_bytes, pause_s=pause_s)
            used = usage(volume / "data")
            db_bytes = (volume / "data" / DB_RELATIVE).stat().st_size
        finally:
            fleet.stop(node)

    def share(n: int) -> str:
        return f"{n / MIB:.1f} MiB ({100 * n / volume_bytes:.0f}%)"

    return [f"{target}, {load}", share(fill.data_bytes), share(db_bytes), share(used["wal"]),
            share(used["sqld log"]), share(used["litestream"]), share(used["backup"]),
            f"{fill.seconds:.1f} s"]  # fmt: skip


def run(opt, keep: bool = False) -> list[Table]:
    with Fleet.create(keep=keep) as fleet:
        s3 = fleet.s3()
        s3.create_bucket(BUCKET)
        opt.log("diskfull: volume share before ENOSPC")
        return [diskfull(fleet, opt, s3)]
