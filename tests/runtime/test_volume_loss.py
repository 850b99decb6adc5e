"""Scenario 5: the primary's volume is lost mid-load (kill -9, DATA_DIR deleted). The restart
restores from S3; only writes acknowledged within Litestream's last shipping window are lost."""

from __future__ import annotations

import shutil
import time

from tests.runtime.cluster import wait_until_backed_up
from tests.runtime.workload import Accounting, create_load_table, ids_on, wait_for_acks

SYNC_INTERVAL_S = 1.0
# Litestream reads the WAL every monitor-interval (1s default, db.go DefaultMonitorInterval)
# and uploads every sync-interval, so a write waits up to both before it is off the machine.
MONITOR_INTERVAL_S = 1.0
UPLOAD_SLACK_S = 0.5
LOSS_WINDOW_S = MONITOR_INTERVAL_S + SYNC_INTERVAL_S + UPLOAD_SLACK_S


def test_volume_loss_restores_from_s3_losing_only_the_last_sync_window(
    launcher, s3_config, s3, client, keys, tools
):
    token = keys.token("rw")
    config, _ = s3_config(sync_interval=f"{SYNC_INTERVAL_S:g}s")
    primary = launcher.start(
        "primary", "primary", litestream_config=config, extra_env=s3.litestream_env
    )
    wait_until_backed_up(tools, primary.env)
    create_load_table(primary, token)
    load = client.start_load(
        primary.url, token, table="load", writers=4, duration_s=60, payload_bytes=500
    )
    wait_for_acks(load, 100)
    time.sleep(3 * SYNC_INTERVAL_S)  # several shipping rounds under load

    killed_at = time.time()
    primary.kill9()
    load.stop()
    shutil.rmtree(primary.data_dir)

    restored = launcher.start(
        "primary", "primary", litestream_config=config, extra_env=s3.litestream_env
    )
    assert "run.sh: restored" in restored.log_text()
    accounting = Accounting.of(load, ids_on(restored, token))
    lost_ages = sorted(killed_at - load.acks[i] for i in accounting.missing_acked)
    print(
        f"\nvolume loss: {accounting.acked} acknowledged, {len(lost_ages)} lost "
        f"({100 * len(lost_ages) / accounting.acked:.1f}%), oldest lost write acknowledged "
        f"{lost_ages[-1] if lost_ages else 0:.2f}s before the kill (bound {LOSS_WINDOW_S}s)"
    )
    assert accounting.unexplained == set()
    assert accounting.rows > 0
    assert not lost_ages or lost_ages[-1] <= LOSS_WINDOW_S
