"""The PromQL in monitoring/: the Grafana dashboard's queries and the alert rules' expressions,
as the tests read them."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "monitoring" / "grafana-dashboard.json"
ALERTS = ROOT / "monitoring" / "alerts.yml"

# Grafana's variables, filled in as Grafana would before it sends a query.
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$app": "letter-unboxed-db",
    "$instance": ".*",
}


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def alert_rules() -> list[dict]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def as_promql(expr: str) -> str:
    """A dashboard query as PromQL: variables filled in; a variable's `label_values(SELECTOR,
    LABEL)` becomes its selector."""
    for variable, filled in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, filled)
    if expr.startswith("label_values("):
        return expr[len("label_values(") : -1].rsplit(",", 1)[0]
    return expr


def dashboard_queries() -> list[str]:
    found = dashboard()
    queries = [t["expr"] for p in found["panels"] for t in p.get("targets", [])]
    queries += [v["query"]["query"] for v in found["templating"]["list"] if v["type"] == "query"]
    return [as_promql(q) for q in queries]


def alert_queries() -> list[str]:
    return [rule["expr"] for rule in alert_rules()]
