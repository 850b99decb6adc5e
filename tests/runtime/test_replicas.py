"""Scenario 2: a replica takes writes through @libsql/client, forwards them to the primary,
and serves them once replicated; every replica converges."""

from __future__ import annotations

import time

from tests.runtime.cluster import scalar


def wait_for_rows(client, url, token, sql, expected, timeout=10.0) -> float:
    """Seconds until `sql` returns `expected` rows through the client at url."""
    started = time.monotonic()
    rows = None
    while time.monotonic() - started < timeout:
        result = client.run(url, token, [sql])[0]
        if result["ok"] and (rows := result["rows"]) == expected:
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"{url} still returns {rows}, not {expected}, after {timeout}s")


def test_write_through_replica_lands_on_primary_and_every_replica_serves_it(
    cluster, client, keys
):
    token = keys.token("rw")
    writer, other = cluster.replicas
    created = client.run(
        writer.url,
        token,
        [
            "CREATE TABLE IF NOT EXISTS replica_probe (id INTEGER PRIMARY KEY, v TEXT)",
            "INSERT INTO replica_probe (v) VALUES ('sent to a replica')",
        ],
    )
    assert all(r["ok"] for r in created), created

    # Acknowledged means the primary committed it: it is there without waiting.
    assert scalar(cluster.primary.url, token, "SELECT v FROM replica_probe") == "sent to a replica"
    query = "SELECT v FROM replica_probe"
    lags = [wait_for_rows(client, node.url, token, query, [["sent to a replica"]])
            for node in (writer, other)]
    print(f"\nreplica catch-up after a forwarded write (incl. client start): {lags}")


def test_replica_does_not_listen_for_grpc(cluster):
    from tests.runtime.cluster import port_is_listening

    for replica in cluster.replicas:
        assert not port_is_listening(replica.ports.grpc)
    assert port_is_listening(cluster.primary.ports.grpc)
