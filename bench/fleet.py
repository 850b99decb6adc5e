"""Starts run.sh nodes and moto the way tests/runtime/cluster.py does, and stops every one of
them when the `with` block ends, also on an error or Ctrl-C."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests import realtools
from tests.runtime.cluster import (
    RUN_SH,
    GrpcTls,
    Keys,
    Node,
    Ports,
    S3Server,
    Tools,
    http_status,
    node_env,
    start_node,
)


def find_tools() -> Tools:
    found = realtools.locate()
    missing = [n for n in ("sqld", "litestream", "moto_server") if found[n] is None]
    if missing:
        raise SystemExit(f"missing runtime tools {missing}: run `make setup`")
    return realtools.installed()


def health_ok(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as resp:
            return resp.status == 200
    except (OSError, urllib.error.URLError):
        return False


@dataclass
class ColdStart:
    node: Node
    health_s: float | None  # first /health 200 (run.sh's bootstrap sqld answers it too)
    ready_s: float  # first authenticated query answered 200


@dataclass
class Fleet:
    tools: Tools
    keys: Keys
    root: Path
    nodes: list[Node] = field(default_factory=list)
    servers: list[S3Server] = field(default_factory=list)
    keep: bool = False
    # Replication over mutual TLS, as on Fly, so figures include its cost.
    grpc_tls: GrpcTls = field(default_factory=GrpcTls.generate)

    @classmethod
    def create(cls, keep: bool = False) -> Fleet:
        root = Path(tempfile.mkdtemp(prefix="bench-"))
        return cls(find_tools(), Keys(), root, keep=keep)

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def token(self) -> str:
        return self.keys.token("rw")

    def start(self, role: str, name: str, **kwargs) -> Node:
        node = start_node(
            role, self.root / name, kwargs.pop("ports", None) or Ports.pick(),
            tools=self.tools, keys=self.keys, grpc_tls=self.grpc_tls, **kwargs,
        )  # fmt: skip
        self.nodes.append(node)
        return node

    def cold_start(
        self, name: str, *, litestream_config: Path, poll_s: float = 0.01, timeout: float = 300,
        extra_env: dict[str, str] | None = None,
    ) -> ColdStart:  # fmt: skip
        """Start a primary like start_node, but poll every `poll_s` and record both /health
        and the first authenticated answer."""
        data_dir = self.root / name
        data_dir.mkdir(parents=True, exist_ok=True)
        ports = Ports.pick()
        env = node_env("primary", data_dir, ports, tools=self.tools, keys=self.keys,
                       litestream_config=litestream_config, extra_env=extra_env,
                       grpc_tls=self.grpc_tls)  # fmt: skip
        if "TMPDIR" in env:  # run.sh writes the gRPC TLS keys there; start_node makes it too
            Path(env["TMPDIR"]).mkdir(parents=True, exist_ok=True)
        log_path = data_dir.with_name(name + ".log")
        token = self.token
        with open(log_path, "ab") as log:
            started = time.monotonic()
            proc = subprocess.Popen(
                ["bash", str(RUN_SH)], env=env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        node = Node("primary", data_dir, ports, proc, log_path, started, env)
        self.nodes.append(node)
        health_s = None
        deadline = started + timeout
        while time.monotonic() < deadline:
            if not node.alive():
                raise RuntimeError(f"run.sh exited {proc.returncode}:\n{node.log_text()[-2000:]}")
            if health_s is None and health_ok(ports.http):
                health_s = time.monotonic() - started
            try:
                if http_status(node.url, token) == 200:
                    return ColdStart(node, health_s, time.monotonic() - started)
            except OSError:
                pass
            time.sleep(poll_s)
        raise TimeoutError(f"not ready in {timeout}s:\n{node.log_text()[-2000:]}")

    def s3(self) -> S3Server:
        server = S3Server(self.tools.moto_server, self.root / f"moto-{len(self.servers)}.log")
        self.servers.append(server)
        return server

    def stop(self, node: Node) -> None:
        node.stop()
        if node in self.nodes:
            self.nodes.remove(node)

    def close(self) -> None:
        for node in reversed(self.nodes):
            try:
                node.kill9()
            except Exception:  # noqa: BLE001 - keep stopping the others
                pass
        self.nodes.clear()
        for server in self.servers:
            server.stop()
        self.servers.clear()
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)
