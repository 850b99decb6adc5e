"""Write loads and row accounting shared by the runtime tests, the soak and benchmarks."""

from __future__ import annotations

import time
from dataclasses import dataclass

from tests.runtime.cluster import LoadRun, Node, hrana

LOAD_TABLE = "load"


def create_load_table(node: Node, token: str, table: str = LOAD_TABLE) -> None:
    hrana(
        node.url,
        token,
        [f"CREATE TABLE IF NOT EXISTS {table} (id INTEGER PRIMARY KEY, writer INT, payload TEXT)"],
    )


def ids_on(node: Node, token: str, table: str = LOAD_TABLE) -> set[int]:
    rows = hrana(node.url, token, [f"SELECT id FROM {table}"], timeout=60)[0]
    return {row[0] for row in rows}


def wait_for_acks(load: LoadRun, count: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while len(load.acks) < count:
        if time.monotonic() > deadline or load.proc.poll() is not None:
            raise TimeoutError(f"only {len(load.acks)} of {count} writes acknowledged")
        time.sleep(0.02)


@dataclass
class Accounting:
    """What a set of rows says about a load: acknowledged writes must all be there; anything
    else must at least have been attempted (a failed request may still have committed)."""

    acked: int
    in_doubt: int
    rows: int
    missing_acked: set[int]
    unexplained: set[int]

    @classmethod
    def of(cls, load: LoadRun, ids: set[int]) -> Accounting:
        acked = set(load.acks)
        return cls(
            acked=len(acked),
            in_doubt=len(load.in_doubt),
            rows=len(ids),
            missing_acked=acked - ids,
            unexplained=ids - acked - set(load.in_doubt),
        )
