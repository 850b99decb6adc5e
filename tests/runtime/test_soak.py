"""Scenario 8: concurrent writers, frequent checkpoints, Litestream to S3 and one primary
restart; afterwards acknowledged writes, the primary, a restore and every replica agree.
`venv/bin/python -m tests.runtime.soak --duration 300` runs the same for longer."""

from __future__ import annotations

from tests.runtime.soak import run_soak

DURATION_S = 20


def test_soak_every_copy_agrees_with_the_acknowledged_writes(tools, s3, tmp_path):
    report = run_soak(tmp_path, tools, DURATION_S, writers=4, s3=s3)
    print("\n" + report.table())
    assert report.acked > 0
    assert report.missing_acked == 0, "acknowledged writes are missing on the primary"
    assert report.unexplained == 0, "rows that no writer attempted"
    assert report.same_rows == {"replica1": True, "replica2": True, "restored": True}
    assert set(report.integrity.values()) == {"ok"}, report.integrity
    assert report.primary_exit_codes == [0, 0]
    assert report.lag_ms, "no replication lag was measured"
