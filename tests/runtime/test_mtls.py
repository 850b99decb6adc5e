"""Issue "Close the replication leak": the primary's gRPC port (replication log and write
forwarding) serves only replicas holding a client certificate from the cluster's CA.

FIELD-NOTES showed that a replica with no credentials at all could copy the whole database from
a plain-gRPC primary; the contrast test below keeps that leak visible, so the checks that prove
it closed are known to catch it.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.runtime.cluster import (
    GRPC_TLS_VARS,
    RUN_SH,
    GrpcTls,
    HranaError,
    Keys,
    Node,
    Ports,
    S3Server,
    Tools,
    hrana,
    inspect_sqlite,
    node_env,
    port_is_listening,
    process_argv,
    process_environ,
    process_group_pids,
    scalar,
    start_node,
    wait_until_backed_up,
)

TABLE = "mtls_canary"
CANARY = f"canary-{uuid.uuid4()}"  # unique bytes: found anywhere means the row travelled
S3_CREDENTIAL_VARS = {
    "LITESTREAM_ACCESS_KEY_ID",
    "LITESTREAM_SECRET_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
}


def wait_for(predicate, timeout: float, what: str, interval: float = 0.1, node=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(interval)
    log = node.log_text()[-2000:] if node else ""
    raise AssertionError(f"not {what} after {timeout}s\n{log}")


def canary_evidence(node: Node, token: str) -> list[str]:
    """Every place where the node holds the canary row: served over HTTP, as a table in its
    SQLite file, or as raw bytes in any file under its DATA_DIR (wallog, snapshots, ...)."""
    found = []
    try:
        rows = hrana(node.url, token, [f"SELECT v FROM {TABLE}"], timeout=2)[0]
        if [CANARY] in rows:
            found.append("http")
    except (OSError, HranaError):
        pass  # a replica cut off from its primary answers nothing, or "no such table"
    if node.db_path.exists():
        _, (tables,) = inspect_sqlite(node.db_path, ["SELECT name FROM sqlite_master"])
        if (TABLE,) in tables:
            found.append("sqlite table")
    if any(p.is_file() and CANARY.encode() in p.read_bytes() for p in node.data_dir.rglob("*")):
        found.append("file bytes")
    return found


def wait_for_refusal(node: Node, token: str, timeout: float = 20) -> None:
    """Until the replica has tried the primary and failed at least once. A replica dials its
    primary on the first request for the database, so keep asking (sqld logs each failure)."""

    def refused() -> bool:
        if "error connecting to primary" in node.log_text():
            return True
        canary_evidence(node, token)
        return False

    wait_for(refused, timeout, "a failed connection in the log", node=node)


STRANGER = Keys()  # a thief signs its own tokens: replication never checks the cluster's key
FORGED = "written by a stranger"


def start_thief(launcher, name: str, primary: Node, extra_env: dict[str, str]) -> Node:
    """A replica run by someone without the cluster's JWT key, pointed at the primary's gRPC."""
    node = start_node("replica", launcher.root / name, Ports.pick(), tools=launcher.tools,
                      keys=STRANGER, primary_grpc_url=primary.grpc_url, extra_env=extra_env,
                      wait=False)
    launcher.nodes.append(node)  # stopped at teardown with the rest
    return node


def try_forged_write(thief: Node) -> str:
    try:
        hrana(thief.url, STRANGER.token(), [f"INSERT INTO {TABLE} (v) VALUES ('{FORGED}')"],
              timeout=2)
        return "accepted"
    except (OSError, HranaError) as err:
        return f"failed: {err}"


def forged_rows(primary: Node, token: str) -> int:
    return scalar(primary.url, token, f"SELECT count(*) FROM {TABLE} WHERE v = '{FORGED}'")


def write_canary(primary: Node, token: str) -> None:
    hrana(
        primary.url,
        token,
        [
            f"CREATE TABLE IF NOT EXISTS {TABLE} (id INTEGER PRIMARY KEY, v TEXT)",
            f"INSERT INTO {TABLE} (v) VALUES ('{CANARY}')",
        ],
    )


@pytest.fixture(scope="module")
def s3_env(s3: S3Server) -> dict[str, str]:
    return s3.litestream_env


@pytest.fixture(scope="module")
def tls_primary(module_launcher, grpc_tls, keys, s3, s3_env) -> Node:
    """A TLS primary backing up to S3, holding the canary. Every machine gets every secret, as
    Fly gives them, so replicas see the S3 credentials too."""
    from tests.runtime.cluster import litestream_config, s3_settings
    from tests.runtime.conftest import BUCKET

    config = litestream_config(
        module_launcher.root / "litestream-mtls.yml", **s3_settings(s3, BUCKET, "mtls-backups")
    )
    primary = module_launcher.start(
        "primary", "tls-primary", litestream_config=config, grpc_tls=grpc_tls, extra_env=s3_env
    )
    write_canary(primary, keys.token())
    return primary


@pytest.fixture(scope="module")
def tls_cluster(module_launcher, tls_primary, grpc_tls, s3_env) -> tuple[Node, Node]:
    replica = module_launcher.start(
        "replica",
        "tls-replica",
        primary_grpc_url=tls_primary.grpc_url,  # http://127.0.0.1:port, as fly.toml gives it
        grpc_tls=grpc_tls,
        extra_env=s3_env,
    )
    return tls_primary, replica


# --- a. the cluster's own replicas work -----------------------------------------------------


def test_replica_with_the_cluster_certificate_syncs_and_forwards_writes(tls_cluster, keys):
    primary, replica = tls_cluster
    token = keys.token()
    wait_for(lambda: "http" in canary_evidence(replica, token), 10, "replicated")
    assert "sqlite table" in canary_evidence(replica, token)

    hrana(replica.url, token, [f"INSERT INTO {TABLE} (v) VALUES ('sent to the replica')"])
    # Acknowledged by the replica means committed on the primary (write forwarding over gRPC).
    rows = hrana(primary.url, token, [f"SELECT v FROM {TABLE} WHERE v = 'sent to the replica'"])
    assert rows == [[["sent to the replica"]]]
    assert "serving internal rpc server with tls" in primary.log_text()


# --- b. the leak is closed --------------------------------------------------------------------


def test_primary_without_tls_leaks_the_database_to_a_replica_with_no_credentials(
    module_launcher, keys, file_config
):
    """The contrast: against a plain-gRPC primary the same checks find the canary, and the
    stranger's replica even forwards its writes to the primary."""
    primary = module_launcher.start("primary", "plain-primary", litestream_config=file_config)
    write_canary(primary, keys.token())
    thief = start_thief(module_launcher, "plain-thief", primary, {})
    every_form = ["http", "sqlite table", "file bytes"]
    token = STRANGER.token()
    wait_for(lambda: canary_evidence(thief, token) == every_form, 15, "leaked", node=thief)
    assert try_forged_write(thief) == "accepted"
    assert forged_rows(primary, keys.token()) == 1


@pytest.mark.parametrize("credentials", ["none", "client certificate from another CA"])
def test_tls_primary_gives_nothing_to_a_replica_without_the_cluster_certificate(
    tls_primary, module_launcher, grpc_tls, keys, credentials
):
    primary = tls_primary
    if credentials == "none":
        extra = {}  # plain gRPC, as in FIELD-NOTES (replication never checks the JWT key)
    else:
        foreign = GrpcTls.generate("attacker")
        # It trusts the real CA (a CA certificate is not secret) and shows its own client cert.
        extra = {**foreign.env(), "GRPC_TLS_CA_CERT": grpc_tls.ca_cert}
    thief = start_thief(module_launcher, "thief-" + credentials.split()[0], primary, extra)
    wait_for_refusal(thief, STRANGER.token())
    time.sleep(1)  # a plain replica (contrast test) has the canary well within this
    assert canary_evidence(thief, STRANGER.token()) == []
    assert try_forged_write(thief) != "accepted"
    assert forged_rows(primary, keys.token()) == 0
    assert thief.alive(), thief.log_text()[-2000:]


H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def _tls_handshake_then_h2(port: int, ca: str, tmp: Path, cert: str | None, key: str | None):
    """Open TLS to the gRPC port as sqld's replicas do (name "sqld", ALPN h2), send the HTTP/2
    preface and an empty SETTINGS frame; returns the first frame header, or the error."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=ca)
    context.set_alpn_protocols(["h2"])
    if cert and key:
        (tmp / "c.pem").write_text(cert)
        (tmp / "k.pem").write_text(key)
        context.load_cert_chain(tmp / "c.pem", tmp / "k.pem")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname="sqld") as tls:
                tls.sendall(H2_PREFACE + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))
                return tls.recv(9)
    except (ssl.SSLError, ConnectionError) as err:
        return err


def test_tls_primary_requires_a_client_certificate_signed_by_its_ca(
    tls_primary, grpc_tls, tmp_path
):
    """sqld's server uses rustls AllowAnyAuthenticatedClient (rpc/mod.rs): mutual TLS."""
    port, ca = tls_primary.ports.grpc, grpc_tls.ca_cert
    accepted = _tls_handshake_then_h2(port, ca, tmp_path, grpc_tls.client_cert,
                                      grpc_tls.client_key)
    assert isinstance(accepted, bytes) and accepted[3] == 4, accepted  # a SETTINGS frame
    foreign = GrpcTls.generate("attacker")
    for cert, key, alert in [
        (None, None, "CERTIFICATE_REQUIRED"),
        (foreign.client_cert, foreign.client_key, "UNKNOWN_CA"),
    ]:
        refused = _tls_handshake_then_h2(port, ca, tmp_path, cert, key)
        assert isinstance(refused, ssl.SSLError) and alert in str(refused), refused


def test_replica_checks_the_name_sqld_in_the_primary_certificate(
    module_launcher, keys, file_config
):
    """sqld's replica verifies the primary as "sqld" whatever host its URL names
    (config.rs: ClientTlsConfig::domain_name("sqld")), so a server certificate without that
    name stops replication even when the URL's host is in it."""
    material = GrpcTls.generate("no-sqld-name", server_names=("localhost",))
    primary = module_launcher.start(
        "primary", "no-sqld-name-primary", litestream_config=file_config, grpc_tls=material
    )
    write_canary(primary, keys.token())
    replica = module_launcher.start(
        "replica",
        "no-sqld-name-replica",
        primary_grpc_url=f"http://localhost:{primary.ports.grpc}",
        grpc_tls=material,
        wait=False,
    )
    wait_for_refusal(replica, keys.token())
    assert "NotValidForName" in replica.log_text()
    assert canary_evidence(replica, keys.token()) == []


def test_program_server_certificate_carries_the_name_replicas_check():
    """The certificate infra/keys.py makes must name "sqld" (see the test above)."""
    from infra.keys import grpc_server_names
    from infra.settings import StackSettings

    assert "sqld" in grpc_server_names(StackSettings(app_name="t"))


# --- c. run.sh refuses partial material, and no material on Fly -----------------------------


def _marker_tools(tmp_path: Path, tools: Tools) -> tuple[Tools, Path]:
    marker = tmp_path / "something-started"
    wrapped = []
    for name, real in (("sqld", tools.sqld), ("litestream", tools.litestream)):
        path = tmp_path / name
        path.write_text(f'#!/bin/sh\ntouch "{marker}"\nexec "{real}" "$@"\n')
        path.chmod(0o755)
        wrapped.append(path)
    return Tools(sqld=wrapped[0], litestream=wrapped[1]), marker


@pytest.mark.parametrize("role", ["primary", "replica"])
def test_partial_tls_material_or_none_on_fly_exits_with_a_message_and_starts_nothing(
    tools, keys, grpc_tls, tmp_path, role
):
    wrapped, marker = _marker_tools(tmp_path, tools)
    ports = Ports.pick()
    cases = [
        (
            {**grpc_tls.env(), "GRPC_TLS_CLIENT_KEY": ""},
            "run.sh: partial gRPC TLS material: GRPC_TLS_CLIENT_KEY not set",
        ),
        (
            {"GRPC_TLS_CA_CERT": grpc_tls.ca_cert},
            "run.sh: partial gRPC TLS material: GRPC_TLS_SERVER_CERT GRPC_TLS_SERVER_KEY",
        ),
        ({"FLY_MACHINE_ID": "148e2123a45678"}, "run.sh: on Fly but the GRPC_TLS_* secrets"),
    ]
    for extra, message in cases:
        env = node_env(role, tmp_path / "data", ports, tools=wrapped, keys=keys,
                       litestream_config=tmp_path / "unused.yml",
                       primary_grpc_url="http://127.0.0.1:1", extra_env=extra)
        env["TMPDIR"] = str(tmp_path / "tmp")
        (tmp_path / "tmp").mkdir(exist_ok=True)
        done = subprocess.run(
            ["bash", str(RUN_SH)], env=env, capture_output=True, text=True, timeout=30
        )
        assert done.returncode != 0, done.stderr
        assert message in done.stderr
        assert not marker.exists(), "run.sh started a process"
        assert not port_is_listening(ports.http)
        assert not (tmp_path / "data" / "sqld").exists()
        assert list((tmp_path / "tmp").iterdir()) == [], "run.sh wrote key material"
        for pem in grpc_tls.pems():
            assert _pem_body(pem) not in done.stderr + done.stdout


def test_on_fly_with_tls_a_replica_dials_the_primary_region_over_https(tmp_path, grpc_tls):
    """fly.toml's PRIMARY_GRPC_URL is http://<region>.<app>.internal:5001; with TLS run.sh must
    turn it into https, or sqld's client would speak plain h2 to the TLS port."""
    record = tmp_path / "record"
    fake = tmp_path / "sqld"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{record}"\n')
    fake.chmod(0o755)
    env = node_env("replica", tmp_path / "data", Ports(8080, 5001),
                   tools=Tools(sqld=fake, litestream=Path("/nonexistent")), keys=None,
                   grpc_tls=grpc_tls)
    env.pop("SQLD_ROLE")
    env.update(SQLD_AUTH_JWT_KEY="unchecked", FLY_MACHINE_ID="148e2123a45678", FLY_REGION="ams",
               PRIMARY_REGION="yyz", FLY_APP_NAME="letter-db",
               PRIMARY_GRPC_URL="http://yyz.letter-db.internal:5001")
    Path(env["TMPDIR"]).mkdir()
    done = subprocess.run(["bash", str(RUN_SH)], env=env, capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    argv = record.read_text().splitlines()
    assert argv[argv.index("--primary-grpc-url") + 1] == "https://yyz.letter-db.internal:5001"
    assert "--primary-grpc-tls" in argv
    client_key = Path(argv[argv.index("--primary-grpc-key-file") + 1])
    assert client_key.read_text().strip() == grpc_tls.client_key.strip()


# --- d. secrets stay out of logs, argv and sqld's environment -------------------------------


def _pem_body(pem: str) -> str:
    """A line of base64 from the middle of a PEM: printing any of it would show here."""
    lines = [line for line in pem.splitlines() if not line.startswith("-----")]
    return lines[len(lines) // 2]


def test_no_key_material_in_logs_argv_or_sqld_environment(tls_cluster, grpc_tls, tools, s3_env):
    primary, replica = tls_cluster
    pem_bodies = [_pem_body(pem) for pem in grpc_tls.pems()]
    secret_values = [*pem_bodies, *s3_env.values()]
    for node in (primary, replica):
        log = node.log_text()
        assert "gRPC mutual TLS on" in log
        for body in pem_bodies:
            assert body not in log
        assert "PRIVATE KEY" not in log
        pids = process_group_pids(node.proc.pid)
        for pid in pids:
            argv = "\0".join(process_argv(pid))
            for value in secret_values:
                assert value not in argv, f"secret in argv of {argv!r}"

        sqld_pids = node.sqld_pids()
        assert len(sqld_pids) == 1, [process_argv(p) for p in pids]
        environ = process_environ(sqld_pids[0])
        leaked = (set(GRPC_TLS_VARS) | S3_CREDENTIAL_VARS) & environ.keys()
        assert not leaked, f"{node.role} sqld inherits {sorted(leaked)}"
        for value in secret_values:
            assert value not in "\0".join(environ.values())
        assert environ["SQLD_AUTH_JWT_KEY"]  # the one secret-adjacent thing it needs

        # The key files: outside the volume, readable by this user only.
        argv = process_argv(sqld_pids[0])
        key_flag = "--grpc-key-file" if node.role == "primary" else "--primary-grpc-key-file"
        key_file = Path(argv[argv.index(key_flag) + 1])
        assert not key_file.is_relative_to(node.data_dir)
        assert key_file.stat().st_mode & 0o777 == 0o600
        assert key_file.parent.stat().st_mode & 0o777 == 0o700

    # Litestream keeps its credentials: it still uploads to S3.
    litestream = [p for p in process_group_pids(primary.proc.pid)
                  if process_argv(p)[:2] == [str(tools.litestream), "replicate"]]
    assert len(litestream) == 1
    # (Its AWS_* copies, made with os.Setenv, show in its children only, not in /proc here.)
    assert set(s3_env) <= process_environ(litestream[0]).keys()
    wait_until_backed_up(tools, primary.env)
