"""Scrape a node's GET /metrics as Fly's Prometheus does, and read it with a real Prometheus text
parser (prometheus_client), plus the two rules Prometheus enforces that this parser lets pass."""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from collections import Counter

import promql_parser
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

SAMPLE_NAME = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)")


def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 10):
    """(status, body) of a GET, also for error statuses."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def scrape(address: str, path: str = "/metrics", wait: float = 10) -> str:
    """The body of GET http://address/metrics, retried until the endpoint listens."""
    deadline = time.monotonic() + wait
    while True:
        try:
            status, body = http_get(f"http://{address}{path}")
            assert status == 200, f"GET {path} on {address}: HTTP {status}: {body[:300]}"
            return body
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def families(text: str) -> dict[str, list[Sample]]:
    """Family name -> samples, parsed by prometheus_client (a counter family `x` holds samples
    named `x_total`). Raises on text Prometheus cannot read."""
    found: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(text):
        found.setdefault(family.name, []).extend(family.samples)
    return found


def value(found: dict[str, list[Sample]], family: str, **labels: str) -> float | None:
    """The one sample of `family` whose labels include `labels`, or None."""
    matches = [
        s.value
        for s in found.get(family, [])
        if all(s.labels.get(k) == v for k, v in labels.items()) and "quantile" not in s.labels
    ]
    assert len(matches) <= 1, f"{family}{labels}: {matches}"
    return matches[0] if matches else None


def check_exposition(text: str) -> None:
    """What Prometheus refuses although prometheus_client's parser accepts it: a family typed
    twice ("second TYPE line for metric name") and a series given twice (a duplicate sample)."""
    typed = Counter(line.split()[2] for line in text.splitlines() if line.startswith("# TYPE "))
    assert [name for name, n in typed.items() if n > 1] == [], "families typed twice"
    series = Counter(
        line.rsplit(" ", 1)[0] for line in text.splitlines() if line and not line.startswith("#")
    )
    assert [s for s, n in series.items() if n > 1] == [], "series given twice"
    assert text.endswith("\n")


def exported_names(text: str) -> set[str]:
    """Sample names as Prometheus stores them (counters keep the name they are exported with)."""
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    return {m[1] for line in lines if (m := SAMPLE_NAME.match(line))}


def promql_metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects, from promql-parser's syntax tree."""
    names: set[str] = set()

    def walk(node) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            names.add(node.name)
            return
        for attr in ("expr", "lhs", "rhs", "vector_selector", "param"):
            child = getattr(node, attr, None)
            if child is not None and not isinstance(child, (str, int, float)):
                walk(child)
        for arg in getattr(node, "args", None) or []:
            walk(arg)

    walk(promql_parser.parse(expr))
    return names
