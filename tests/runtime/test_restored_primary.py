"""What sqld replicas do when their primary is replaced by a copy restored from the backup, as
when the local stack moves its primary to another region: the restored primary has a new
replication log (its id lives in the `wallog` beside the database, which Litestream does not
back up), so a replica's handshake fails with LogIncompatible. sqld 0.24.32 then drops the
replica's copy and replicates from scratch: at start (it removes the namespace's folder) and
while running (it resets the namespace). So replicas need no wipe of their own, and keep no
stale data."""

from __future__ import annotations

import time

from tests.runtime.cluster import Ports, hrana, wait_until_backed_up


def rows(url: str, token: str) -> list[list]:
    return hrana(url, token, ["SELECT v FROM t ORDER BY v"], timeout=5)[0]


def wait_for_rows(url: str, token: str, wanted: list[list], timeout: float = 20) -> float:
    started = time.monotonic()
    while True:
        try:
            if rows(url, token) == wanted:
                return time.monotonic() - started
        except Exception:  # noqa: BLE001 - a replica resetting may refuse for a moment
            pass
        if time.monotonic() - started > timeout:
            raise AssertionError(f"replica at {url} never had {wanted}")
        time.sleep(0.1)


def test_replicas_of_a_restored_primary_drop_their_copy_and_follow_it(
    launcher, s3_config, s3, keys, tools, grpc_tls
):
    token = keys.token("rw")
    config, _ = s3_config()
    ports = Ports.pick()  # the new primary takes the old one's address, as on the local stack

    def primary(name: str):
        return launcher.start(
            "primary", name, ports=ports, litestream_config=config,
            extra_env=s3.litestream_env, grpc_tls=grpc_tls,
        )  # fmt: skip

    old = primary("primary-yyz")
    running = launcher.start("replica", "running", primary_grpc_url=old.grpc_url, grpc_tls=grpc_tls)
    restarted = launcher.start(
        "replica", "restarted", primary_grpc_url=old.grpc_url, grpc_tls=grpc_tls
    )
    hrana(old.url, token, ["CREATE TABLE t (v)", "INSERT INTO t VALUES (1)"])
    wait_for_rows(running.url, token, [[1]])
    wait_for_rows(restarted.url, token, [[1]])
    wait_until_backed_up(tools, old.env)
    restarted.stop()
    assert old.stop().exit_code == 0

    new = primary("primary-fra")  # an empty folder: run.sh restores it from S3
    assert "restored" in new.log_text()
    hrana(new.url, token, ["INSERT INTO t VALUES (2)"])

    # A running replica resets and follows the new log.
    print(f"\nrunning replica follows in {wait_for_rows(running.url, token, [[1], [2]]):.2f} s")
    assert "trying to replicate incompatible logs, reseting replica" in running.log_text()
    # One started again on its old copy removes it at start and follows too.
    again = launcher.start(
        "replica", "restarted", ports=restarted.ports, primary_grpc_url=new.grpc_url,
        grpc_tls=grpc_tls,
    )  # fmt: skip
    wait_for_rows(again.url, token, [[1], [2]])
    assert "reseting replica and nuking db dir" in again.log_text()
    # Both go on following: a write through each lands on the new primary and shows on both.
    hrana(running.url, token, ["INSERT INTO t VALUES (3)"])
    hrana(again.url, token, ["INSERT INTO t VALUES (4)"])
    assert rows(new.url, token) == [[1], [2], [3], [4]]
    for replica in (running, again):
        wait_for_rows(replica.url, token, [[1], [2], [3], [4]])
