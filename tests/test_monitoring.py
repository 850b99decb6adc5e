"""monitoring/: a Grafana dashboard that imports as it is, and alert rules in Prometheus' format,
all of whose queries are PromQL (tests/runtime/test_metrics.py checks they name exported series)."""

import re

import promql_parser

from tests.monitoring_rules import alert_queries, alert_rules, dashboard, dashboard_queries


def test_dashboard_imports_anywhere_and_every_panel_queries_the_chosen_data_source():
    found = dashboard()
    assert found["uid"] and found["title"] and found["schemaVersion"] >= 36
    variables = {v["name"]: v for v in found["templating"]["list"]}
    # No data source uid of one Grafana: a variable the importer picks (Fly's is Prometheus).
    assert variables["datasource"] == {**variables["datasource"], "type": "datasource",
                                       "query": "prometheus"}  # fmt: skip
    assert {"app", "instance"} <= set(variables)
    ids = [p["id"] for p in found["panels"]]
    assert len(ids) == len(set(ids))
    panels = [p for p in found["panels"] if p["type"] != "row"]
    assert len(panels) >= 10
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs)), panel["title"]
        assert all(t["datasource"] == panel["datasource"] for t in panel["targets"])


def test_every_query_and_rule_is_promql():
    for expr in dashboard_queries() + alert_queries():
        promql_parser.parse(expr)  # raises on anything Prometheus would refuse


def test_the_issue_alerts_are_there_with_their_thresholds():
    rules = {rule["alert"]: rule for rule in alert_rules()}
    for rule in rules.values():
        assert {"alert", "expr", "for", "labels", "annotations"} <= set(rule), rule
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"]
    squashed = {name: re.sub(r"\s+", " ", rule["expr"]) for name, rule in rules.items()}
    assert "10 * dbnode_backup_sync_interval_seconds" in squashed["BackupBehind"]
    assert squashed["VolumeOver70PercentFull"].endswith("> 0.70")
    assert "dbnode_replication_index{role=\"replica\"} > 1000" in squashed["ReplicaLagging"]
    # A full volume pauses backups while the backup age may stay low: Litestream's own gauge.
    assert squashed["BackupsPausedDiskFull"] == "litestream_disk_full == 1"
