"""Scenario 4: kill -9 of the primary's whole process group in the middle of a write load;
after a restart on the same volume every acknowledged write is there and SQLite is intact."""

from __future__ import annotations

from tests.runtime.cluster import hrana, inspect_sqlite
from tests.runtime.workload import Accounting, create_load_table, ids_on, wait_for_acks


def test_kill9_under_writes_keeps_every_acknowledged_write(launcher, file_config, client, keys):
    token = keys.token("rw")
    primary = launcher.start("primary", "primary", litestream_config=file_config)
    create_load_table(primary, token)
    load = client.start_load(
        primary.url, token, table="load", writers=4, duration_s=60, payload_bytes=500
    )
    wait_for_acks(load, 400)
    primary.kill9()
    load.stop()
    assert load.in_doubt, "the kill did not interrupt any write; the test proves nothing"

    restarted = launcher.start("primary", "primary", litestream_config=file_config)
    assert "run.sh: database exists" in restarted.log_text()
    accounting = Accounting.of(load, ids_on(restarted, token))
    print(f"\ncrash: {accounting.acked} acknowledged, {accounting.in_doubt} in doubt, "
          f"{accounting.rows} rows after restart")
    assert accounting.missing_acked == set()
    assert accounting.unexplained == set()
    assert hrana(restarted.url, token, ["PRAGMA integrity_check"])[0] == [["ok"]]

    assert restarted.stop().exit_code == 0
    integrity, _ = inspect_sqlite(restarted.db_path, [])
    assert integrity == "ok"
