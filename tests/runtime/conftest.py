"""Fixtures that start real nodes (assets/run.sh + sqld + Litestream) on loopback and always
stop them, also when a test fails."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import realtools
from tests.runtime.cluster import (
    GrpcTls,
    Keys,
    LibsqlClient,
    Node,
    Ports,
    S3Server,
    Tools,
    litestream_config,
    s3_settings,
    start_node,
)

BUCKET = "runtime-tests"


@pytest.fixture(scope="session")
def tools() -> Tools:
    realtools.require("sqld", "litestream", "node", "libsql_client")
    return realtools.installed()


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys()


@pytest.fixture(scope="session")
def grpc_tls() -> GrpcTls:
    """The cluster's gRPC CA with its server and client certificates (as the Fly secrets)."""
    return GrpcTls.generate("cluster")


@pytest.fixture(scope="session")
def client(tools) -> LibsqlClient:
    return LibsqlClient(tools)


@pytest.fixture(scope="session")
def s3(tools, tmp_path_factory) -> S3Server:
    realtools.require("moto_server")
    server = S3Server(tools.moto_server, tmp_path_factory.mktemp("moto") / "moto.log")
    try:
        server.create_bucket(BUCKET)
        yield server
    finally:
        server.stop()


_prefixes = itertools.count()


@pytest.fixture
def s3_config(s3, tmp_path):
    """A litestream.yml for S3 under a prefix no other test uses; returns (path, prefix)."""

    def make(sync_interval: str = "1s") -> tuple[Path, str]:
        prefix = f"backups-{next(_prefixes)}"
        path = tmp_path / f"litestream-{prefix}.yml"
        return litestream_config(path, **s3_settings(s3, BUCKET, prefix, sync_interval)), prefix

    return make


@pytest.fixture
def file_config(tmp_path) -> Path:
    return litestream_config(tmp_path / "litestream-file.yml", backup_target="file")


@dataclass
class Launcher:
    """Starts nodes under one directory and stops every one of them at teardown."""

    tools: Tools
    keys: Keys
    root: Path
    nodes: list[Node]

    def start(self, role: str, name: str, **kwargs) -> Node:
        ports = kwargs.pop("ports", None) or Ports.pick()
        node = start_node(
            role, self.root / name, ports, tools=self.tools, keys=self.keys, **kwargs
        )
        self.nodes.append(node)
        return node

    def start_pair(self, label: str, grpc_tls: GrpcTls) -> tuple[Node, Node]:
        """A primary (file backups) and a replica following it over gRPC mutual TLS, as on Fly."""
        config = litestream_config(self.root / f"litestream-{label}.yml", backup_target="file")
        primary = self.start(
            "primary", f"{label}-primary", litestream_config=config, grpc_tls=grpc_tls
        )
        replica = self.start(
            "replica", f"{label}-replica", primary_grpc_url=primary.grpc_url, grpc_tls=grpc_tls
        )
        return primary, replica

    def stop_all(self) -> None:
        for node in reversed(self.nodes):
            node.kill9()


@pytest.fixture
def launcher(tools, keys, tmp_path):
    started = Launcher(tools, keys, tmp_path, [])
    try:
        yield started
    finally:
        started.stop_all()


@pytest.fixture(scope="module")
def module_launcher(tools, keys, tmp_path_factory):
    started = Launcher(tools, keys, tmp_path_factory.mktemp("cluster"), [])
    try:
        yield started
    finally:
        started.stop_all()


@dataclass
class Cluster:
    primary: Node
    replicas: list[Node]
    config: Path
    launcher: Launcher

    def restart_replica(self, index: int) -> Node:
        """Start replica `index` again on its volume and ports (stop it first)."""
        old = self.replicas[index]
        self.replicas[index] = self.launcher.start(
            "replica", old.data_dir.name, ports=old.ports, primary_grpc_url=self.primary.grpc_url
        )
        return self.replicas[index]


@pytest.fixture(scope="module")
def cluster(module_launcher) -> Cluster:
    """One primary (file backups) and two replicas, shared by a module's tests."""
    config = litestream_config(module_launcher.root / "litestream.yml", backup_target="file")
    primary = module_launcher.start("primary", "primary", litestream_config=config)
    replicas = [
        module_launcher.start("replica", f"replica{i}", primary_grpc_url=primary.grpc_url)
        for i in (1, 2)
    ]
    return Cluster(primary, replicas, config, module_launcher)
