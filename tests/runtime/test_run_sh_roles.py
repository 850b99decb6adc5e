"""How run.sh picks a role and builds the replica's command line on Fly, where only the Fly
variables say who is primary. A recording stand-in for sqld shows what would be started."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.runtime.cluster import RUN_SH, Ports, Tools, litestream_config, node_env


@pytest.fixture
def recorded(tmp_path):
    """Run run.sh with a stand-in sqld that writes its argv and env, one item per line."""
    record = tmp_path / "record"
    fake = tmp_path / "sqld"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{record}"\nenv >> "{record}"\n')
    fake.chmod(0o755)
    tools = Tools(sqld=fake, litestream=Path("/nonexistent/litestream"))

    def run(**overrides: str | None) -> tuple[subprocess.CompletedProcess, list[str]]:
        env = node_env("replica", tmp_path / "data", Ports(8080, 5001), tools=tools, keys=None)
        env["SQLD_AUTH_JWT_KEY"] = "not-checked-by-the-stand-in"
        for name, value in overrides.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        done = subprocess.run(
            ["bash", str(RUN_SH)], env=env, capture_output=True, text=True, timeout=30
        )
        lines = record.read_text().splitlines() if record.exists() else []
        return done, lines

    return run


def test_machine_outside_primary_region_is_a_replica_of_the_primary_region(recorded):
    done, lines = recorded(
        SQLD_ROLE=None,
        PRIMARY_GRPC_URL=None,
        FLY_REGION="ams",
        PRIMARY_REGION="yyz",
        FLY_APP_NAME="letter-db",
        SQLD_GRPC_LISTEN_ADDR="[::]:5001",  # fly.toml's [env] gives it to every machine
    )
    assert done.returncode == 0, done.stderr
    args = lines[: lines.index("--no-welcome") + 3]
    assert args[args.index("--primary-grpc-url") + 1] == "http://yyz.letter-db.internal:5001"
    # sqld refuses --grpc-listen-addr with --primary-grpc-url, also from its env variable.
    assert "--grpc-listen-addr" not in lines
    assert not any(line.startswith("SQLD_GRPC_LISTEN_ADDR=") for line in lines)
    assert "run.sh: role replica (region ams)" in done.stderr


def test_replica_keeps_data_under_data_dir_and_listens_where_told(recorded, tmp_path):
    done, lines = recorded(
        SQLD_HTTP_LISTEN_ADDR="[::]:9999", PRIMARY_GRPC_URL="http://primary.internal:5001"
    )
    assert done.returncode == 0, done.stderr
    assert lines[lines.index("--db-path") + 1] == str(tmp_path / "data" / "sqld")
    assert lines[lines.index("--http-listen-addr") + 1] == "[::]:9999"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"SQLD_ROLE": None}, "set SQLD_ROLE, or FLY_REGION and PRIMARY_REGION"),
        ({"SQLD_ROLE": "leader"}, "SQLD_ROLE must be primary or replica"),
        ({"PRIMARY_GRPC_URL": None}, "a replica needs PRIMARY_GRPC_URL, or PRIMARY_REGION"),
    ],
)
def test_unknown_role_exits_before_starting_anything(recorded, overrides, message):
    done, lines = recorded(**overrides)
    assert done.returncode != 0
    assert message in done.stderr
    assert lines == []


def test_primary_that_cannot_prepare_its_database_exits_and_says_why(tools, keys, tmp_path):
    """The loopback sqld that creates Litestream's tables borrows the gRPC port; when it cannot
    run, run.sh stops instead of starting Litestream on a database replicas would choke on."""
    ports = Ports.pick()
    config = litestream_config(tmp_path / "litestream.yml", backup_target="file")
    env = node_env("primary", tmp_path / "data", ports, tools=tools, keys=keys,
                   litestream_config=config)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", ports.grpc))
        taken.listen()
        done = subprocess.run(
            ["bash", str(RUN_SH)], env=env, capture_output=True, text=True, timeout=60
        )
    assert done.returncode != 0
    assert "run.sh: could not create Litestream's tables" in done.stderr
    assert "starting litestream replicate" not in done.stderr


def test_the_http_port_answers_only_once_the_real_sqld_serves(tools, keys, tmp_path):
    """Fly's /health check and the proxy use the HTTP port: it must stay closed while run.sh's
    bootstrap sqld (basic auth, no JWT) prepares the database, so the first /health 200 comes
    from the sqld that accepts tokens."""
    from tests.runtime.cluster import http_status, start_node

    config = litestream_config(tmp_path / "litestream.yml", backup_target="file")
    node = start_node("primary", tmp_path / "data", Ports.pick(), tools=tools, keys=keys,
                      litestream_config=config, wait=False)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and node.alive():
            try:
                with urllib.request.urlopen(f"{node.url}/health", timeout=1) as health:
                    healthy = health.status == 200
            except OSError:
                healthy = False
            if healthy:
                assert http_status(node.url, keys.token("rw")) == 200
                break
            time.sleep(0.005)
        else:
            pytest.fail(f"primary never became healthy:\n{node.log_text()[-2000:]}")
    finally:
        node.stop()
