"""A size-limited volume (tmpfs) for a node's DATA_DIR, the write loads that fill it, and what
takes its space. Independent of pytest: tests/runtime/test_disk_full.py and
`python -m bench --only diskfull` share it.

The rows are `randomblob()`s: incompressible, so Litestream's LZ4-compressed LTX files are as
large as the pages they carry (the worst case for sizing)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.runtime.cluster import DB_RELATIVE, HranaError, Node, hrana

MIB = 1 << 20
KIB = 1 << 10

# A burst: rows as large as a write through a replica may be (README, Large writes), back to
# back. Steady: small rows at a pace Litestream's 1 s monitor keeps up with.
BURST_ROW_BYTES = 256 * KIB
STEADY_ROW_BYTES = 16 * KIB
STEADY_PAUSE_S = 0.02

# What sqld answers when a write cannot get disk: its replication log write fails first and it
# returns SQLITE_IOERR (replication_logger_wal.rs insert_frames); SQLite itself says SQLITE_FULL.
FULL_CODES = ("SQLITE_IOERR", "SQLITE_FULL")


class MountUnavailable(RuntimeError):
    pass


@contextmanager
def small_volume(path: Path, size_bytes: int) -> Iterator[Path]:
    """A tmpfs of size_bytes mounted at path (needs root), unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_bytes},mode=0755", "tmpfs", str(path)],
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        raise MountUnavailable(f"cannot mount a tmpfs at {path}: {done.stderr.strip()}")
    try:
        yield path
    finally:
        # Lazy: a process of a failed test may still hold a file there; it goes when they do.
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def mount_problem() -> str | None:
    """Why small_volume cannot work here, or None."""
    if os.geteuid() != 0:
        return "mounting a size-limited tmpfs needs root"
    return None


def place_filler(volume: Path, size_bytes: int) -> Path:
    """A file that holds size_bytes of the volume; deleting it is what growing the volume does."""
    filler = volume / "filler"
    with open(filler, "wb") as out:
        chunk = b"\0" * MIB
        for _ in range(size_bytes // MIB):
            out.write(chunk)
    return filler


@dataclass
class Fill:
    rows: int
    row_bytes: int
    seconds: float
    error: str

    @property
    def data_bytes(self) -> int:
        return self.rows * self.row_bytes


def fill_until_full(
    node: Node, token: str, *, row_bytes: int, pause_s: float = 0.0, table: str = "fill",
    timeout: float = 180,
) -> Fill:  # fmt: skip
    """INSERT one row of row_bytes per request until sqld refuses one for lack of space."""
    hrana(node.url, token, [f"CREATE TABLE IF NOT EXISTS {table} (id INTEGER PRIMARY KEY, b BLOB)"])
    insert = f"INSERT INTO {table} (b) VALUES (randomblob({row_bytes}))"
    rows, started = 0, time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            hrana(node.url, token, [insert])
        except HranaError as err:
            if any(code in str(err) for code in FULL_CODES):
                return Fill(rows, row_bytes, time.monotonic() - started, str(err))
            raise
        rows += 1
        if pause_s:
            time.sleep(pause_s)
    raise TimeoutError(f"the volume was not full after {rows} rows in {timeout}s")


def usage(data_dir: Path) -> dict[str, int]:
    """Bytes on the volume by owner: SQLite's database file and WAL, sqld's replication log,
    Litestream's local LTX files, the file target's backup, and everything else."""
    db = data_dir / DB_RELATIVE
    parts = {
        "database": [db],
        "wal": [db.with_name("data-wal")],
        "sqld log": [db.with_name("wallog"), db.with_name("snapshots"), db.with_name("to_compact")],
        "litestream": [db.with_name(".data-litestream")],
        "backup": [data_dir / "backups"],
    }
    sizes = {name: sum(_size(p) for p in paths) for name, paths in parts.items()}
    sizes["other"] = _size(data_dir) - sum(sizes.values())
    return sizes


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    if not path.is_dir():
        return 0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
