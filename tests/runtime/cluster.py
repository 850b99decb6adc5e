"""Start assets/run.sh as a primary or a replica on loopback, with the real sqld, Litestream,
an S3 server (moto) and @libsql/client. Independent of pytest, so benchmarks and a local
stack can start nodes exactly the way the tests do.

    keys = Keys()
    primary = start_node("primary", data_dir, Ports.pick(), tools=tools, keys=keys,
                         litestream_config=config_path)
    replica = start_node("replica", other_dir, Ports.pick(), tools=tools, keys=keys,
                         primary_grpc_url=primary.grpc_url)
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

REPO = Path(__file__).resolve().parents[2]
RUN_SH = REPO / "assets" / "run.sh"
CLIENT_SCRIPT = Path(__file__).with_name("libsql_client.cjs")

# Where sqld keeps the default namespace's SQLite file under DATA_DIR (run.sh's --db-path).
DB_RELATIVE = Path("sqld") / "dbs" / "default" / "data"

# Variables a node must not inherit from the caller: they would change run.sh's or the
# tools' decisions (AWS_CA_BUNDLE breaks Litestream's S3 client, FIELD-NOTES).
_INHERIT_BLOCKLIST_PREFIXES = ("SQLD_", "LITESTREAM_", "FLY_", "AWS_")
_INHERIT_BLOCKLIST = {"PRIMARY_REGION", "PRIMARY_GRPC_URL", "DATA_DIR"}


@dataclass(frozen=True)
class Tools:
    sqld: Path
    litestream: Path
    node: Path | None = None
    node_modules: Path | None = None
    moto_server: Path | None = None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass(frozen=True)
class Ports:
    http: int
    grpc: int

    @classmethod
    def pick(cls) -> Ports:
        return cls(http=free_port(), grpc=free_port())


class Keys:
    """An Ed25519 key pair: the public half goes to sqld, the private half signs tokens."""

    def __init__(self) -> None:
        self._private = Ed25519PrivateKey.generate()
        raw = self._private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        # sqld takes raw 32 bytes as base64url without padding (FIELD-NOTES).
        self.public_key = base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def token(self, access: str | None = "rw") -> str:
        claims = {"a": access} if access else {}
        return jwt.encode(claims, self._private, algorithm="EdDSA")


# --- gRPC mutual TLS material, shaped like infra/keys.py's --------------------------------------

# The names infra/keys.py puts in the primary's certificate, for loopback. "sqld" is the name a
# replica checks whatever URL it dials: sqld 0.24 pins the TLS server name with
# `.domain_name("sqld")` (libsql-server/src/config.rs, RpcClientConfig::configure).
GRPC_SERVER_NAMES = ("sqld", "localhost")
GRPC_SERVER_IPS = ("127.0.0.1", "::1")
GRPC_TLS_VARS = (
    "GRPC_TLS_CA_CERT",
    "GRPC_TLS_SERVER_CERT",
    "GRPC_TLS_SERVER_KEY",
    "GRPC_TLS_CLIENT_CERT",
    "GRPC_TLS_CLIENT_KEY",
)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,  # sqld's server reads PKCS#8 keys only (rpc/mod.rs)
        serialization.NoEncryption(),
    ).decode()


def _cert(subject: str, key, issuer: str, issuer_key, *, ca: bool, usage=None, sans=()):
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    return builder.sign(issuer_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class GrpcTls:
    """A private CA, the primary's server certificate and the replicas' client certificate,
    as PEM text (ECDSA P-256, PKCS#8 keys), like infra/keys.grpc_tls makes them."""

    ca_cert: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str

    @classmethod
    def generate(cls, name: str = "test", server_names=GRPC_SERVER_NAMES) -> GrpcTls:
        """Every call makes a new CA: a second call is an unrelated CA, for attack tests."""
        ca_key, server_key, client_key = (ec.generate_private_key(ec.SECP256R1()) for _ in "abc")
        ca_name = f"{name} gRPC CA"
        sans = [x509.DNSName(n) for n in server_names]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in GRPC_SERVER_IPS]
        return cls(
            ca_cert=_cert(ca_name, ca_key, ca_name, ca_key, ca=True).decode(),
            server_cert=_cert(
                f"{name} grpc-server", server_key, ca_name, ca_key, ca=False,
                usage=ExtendedKeyUsageOID.SERVER_AUTH, sans=sans,
            ).decode(),
            server_key=_pem_key(server_key),
            client_cert=_cert(
                f"{name} grpc-client", client_key, ca_name, ca_key, ca=False,
                usage=ExtendedKeyUsageOID.CLIENT_AUTH,
            ).decode(),
            client_key=_pem_key(client_key),
        )

    def env(self) -> dict[str, str]:
        """The Fly secrets infra/database.py sets, as every machine sees them."""
        values = (self.ca_cert, self.server_cert, self.server_key, self.client_cert,
                  self.client_key)
        return dict(zip(GRPC_TLS_VARS, values, strict=True))

    def pems(self) -> list[str]:
        return list(self.env().values())


# --- Hrana over HTTP from Python, for readiness and quick checks --------------------------------


class HranaError(RuntimeError):
    pass


def http_status(url: str, token: str | None = None, sql: str = "SELECT 1") -> int:
    body = json.dumps({"requests": [{"type": "execute", "stmt": {"sql": sql}}]}).encode()
    req = urllib.request.Request(url + "/v2/pipeline", data=body, method="POST")
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def hrana_post(url: str, token: str, requests: list[dict], timeout: float = 15) -> list[dict]:
    """One Hrana-over-HTTP pipeline (REQUESTS, then close); the raw results, close's last."""
    body = json.dumps({"requests": [*requests, {"type": "close"}]}).encode()
    req = urllib.request.Request(url + "/v2/pipeline", data=body, method="POST")
    req.add_header("Content-Type", "application/json")
    req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.load(resp)["results"]


def hrana(url: str, token: str, statements: list[str], timeout: float = 15) -> list[list[list]]:
    """Rows of each statement, values decoded to Python; raises HranaError on any error."""
    requests = [{"type": "execute", "stmt": {"sql": sql}} for sql in statements]
    results = hrana_post(url, token, requests, timeout)
    out = []
    for sql, result in zip(statements, results, strict=False):
        if result["type"] != "ok":
            raise HranaError(f"{sql!r}: {result.get('error')}")
        rows = result["response"]["result"]["rows"]
        out.append([[_hrana_value(v) for v in row] for row in rows])
    return out


def _hrana_value(value: dict):
    kind = value["type"]
    if kind == "integer":
        return int(value["value"])
    if kind == "null":
        return None
    if kind == "float":
        return float(value["value"])
    return value.get("value", value.get("base64"))


def scalar(url: str, token: str, sql: str):
    return hrana(url, token, [sql])[0][0][0]


# --- Nodes: run.sh processes ---------------------------------------------------------------------


@dataclass
class StopResult:
    exit_code: int | None
    seconds: float
    leftover_pids: list[int]


def process_group_pids(pgid: int) -> list[int]:
    """Live (non-zombie) processes in a process group, read from /proc."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command: state ppid pgrp ...
        state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            pids.append(int(entry.name))
    return pids


def process_argv(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]


def process_environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    return dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)


@dataclass
class Node:
    role: str
    data_dir: Path
    ports: Ports
    proc: subprocess.Popen
    log_path: Path
    started_at: float
    env: dict[str, str]
    ready_seconds: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports.http}"

    @property
    def grpc_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.grpc}"

    @property
    def db_path(self) -> Path:
        return self.data_dir / DB_RELATIVE

    def alive(self) -> bool:
        return self.proc.poll() is None

    def sqld_pids(self) -> list[int]:
        """The node's long-running sqld (the loopback bootstrap sqld is gone by then)."""
        sqld = self.env["SQLD_BIN"]
        pids = []
        for pid in process_group_pids(self.proc.pid):
            try:
                if process_argv(pid)[:1] == [sqld]:
                    pids.append(pid)
            except OSError:
                continue
        return pids

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_ready(self, token: str, timeout: float = 30) -> float:
        """Seconds until sqld answers an authenticated query: what a client needs, which is
        more than /health (a health check does not prove auth works)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(
                    f"{self.role} run.sh exited {self.proc.returncode}:\n{self.log_text()[-3000:]}"
                )
            try:
                if http_status(self.url, token) == 200:
                    self.ready_seconds = time.monotonic() - self.started_at
                    return self.ready_seconds
            except OSError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"{self.role} not ready in {timeout}s:\n{self.log_text()[-3000:]}")

    def stop(self, timeout: float = 30) -> StopResult:
        """SIGTERM to run.sh's process (what Fly sends), wait, then reap anything left."""
        started = time.monotonic()
        code = None
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                code = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                code = None
        else:
            code = self.proc.returncode
        seconds = time.monotonic() - started
        leftovers = process_group_pids(self.proc.pid)
        self.kill9()
        return StopResult(code, seconds, leftovers)

    def kill9(self) -> None:
        """SIGKILL the whole process group (run.sh/litestream and sqld), like a machine crash."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)


def node_env(
    role: str,
    data_dir: Path,
    ports: Ports,
    *,
    tools: Tools,
    keys: Keys | None,
    litestream_config: Path | None = None,
    primary_grpc_url: str | None = None,
    extra_env: dict[str, str] | None = None,
    grpc_tls: GrpcTls | None = None,
) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_INHERIT_BLOCKLIST_PREFIXES) and k not in _INHERIT_BLOCKLIST
    }
    env.update(
        DATA_DIR=str(data_dir),
        SQLD_ROLE=role,
        SQLD_HTTP_LISTEN_ADDR=f"127.0.0.1:{ports.http}",
        # Set for replicas too, as fly.toml's [env] does: run.sh must keep it from them.
        SQLD_GRPC_LISTEN_ADDR=f"127.0.0.1:{ports.grpc}",
        SQLD_BIN=str(tools.sqld),
        LITESTREAM_BIN=str(tools.litestream),
        RUST_LOG="info",
    )
    if keys is not None:
        env["SQLD_AUTH_JWT_KEY"] = keys.public_key
    if litestream_config is not None:
        env["LITESTREAM_CONFIG"] = str(litestream_config)
    if primary_grpc_url is not None:
        env["PRIMARY_GRPC_URL"] = primary_grpc_url
    if grpc_tls is not None:
        env.update(grpc_tls.env())
        # run.sh writes the PEMs under TMPDIR: keep them beside the node, not in the shared /tmp.
        env["TMPDIR"] = str(data_dir.with_name(data_dir.name + ".tmp"))
    env.update(extra_env or {})
    return env


def start_node(
    role: str,
    data_dir: Path,
    ports: Ports,
    *,
    tools: Tools,
    keys: Keys,
    litestream_config: Path | None = None,
    primary_grpc_url: str | None = None,
    extra_env: dict[str, str] | None = None,
    log_path: Path | None = None,
    ready_timeout: float = 30,
    grpc_tls: GrpcTls | None = None,
    wait: bool = True,
) -> Node:
    """Start assets/run.sh in its own process group and (unless wait=False, for a node that
    is expected never to be ready) wait until it serves authenticated queries. Logs (stdout
    and stderr) append to log_path, outside DATA_DIR so a deleted volume keeps them."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_path or data_dir.with_name(data_dir.name + ".log")
    env = node_env(
        role,
        data_dir,
        ports,
        tools=tools,
        keys=keys,
        litestream_config=litestream_config,
        primary_grpc_url=primary_grpc_url,
        extra_env=extra_env,
        grpc_tls=grpc_tls,
    )
    if "TMPDIR" in env:
        Path(env["TMPDIR"]).mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            ["bash", str(RUN_SH)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # one process group: kill9() takes sqld with it
        )
    node = Node(role, data_dir, ports, proc, log_path, time.monotonic(), env)
    if not wait:
        return node
    try:
        node.wait_ready(keys.token("rw"), ready_timeout)
    except BaseException:
        node.kill9()
        raise
    return node


# --- The real @libsql/client ---------------------------------------------------------------------


class LibsqlClient:
    """Runs tests/runtime/libsql_client.cjs with node and the installed @libsql/client."""

    def __init__(self, tools: Tools) -> None:
        if tools.node is None or tools.node_modules is None:
            raise ValueError("node and @libsql/client are required")
        self.node = tools.node
        self.env = {**os.environ, "NODE_PATH": str(tools.node_modules)}

    def request(self, request: dict, timeout: float = 30) -> list:
        """One run of libsql_client.cjs: REQUEST (its mode and fields) in, its results out."""
        done = subprocess.run(
            [str(self.node), str(CLIENT_SCRIPT)],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise RuntimeError(f"libsql client failed: {done.stderr[-2000:]}")
        return json.loads(done.stdout)["results"]

    def run(self, url: str, token: str | None, statements: list, timeout: float = 30) -> list:
        request = {"mode": "run", "url": url, "authToken": token, "statements": statements}
        return self.request(request, timeout)

    def session(
        self,
        clients: dict[str, dict],
        steps: list[dict],
        sessions: dict[str, dict] | None = None,
        timeout: float = 30,
    ) -> list:
        """libsql_client.cjs's "session" mode: several named clients ({"url", "authToken",
        "session"}) in one node process, steps in order, one result per step."""
        request = {"mode": "session", "clients": clients, "sessions": sessions or {},
                   "steps": steps}  # fmt: skip
        return self.request(request, timeout)

    def start_load(
        self,
        url: str,
        token: str,
        *,
        table: str,
        writers: int,
        duration_s: float,
        payload_bytes: int = 0,
        id_base: int = 0,
    ) -> LoadRun:
        request = {
            "mode": "load",
            "url": url,
            "authToken": token,
            "table": table,
            "writers": writers,
            "durationMs": int(duration_s * 1000),
            "payloadBytes": payload_bytes,
            "idBase": id_base,
        }
        proc = subprocess.Popen(
            [str(self.node), str(CLIENT_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
            start_new_session=True,
        )
        proc.stdin.write(json.dumps(request))
        proc.stdin.close()
        return LoadRun(proc)


@dataclass
class LoadRun:
    """A running write load: ids acknowledged (with the client's ms timestamp) and ids whose
    outcome is unknown because the request failed."""

    proc: subprocess.Popen
    acks: dict[int, float] = field(default_factory=dict)
    in_doubt: dict[int, str] = field(default_factory=dict)
    finished: bool = False

    def __post_init__(self) -> None:
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            event = json.loads(line)
            if "ack" in event:
                self.acks[event["ack"]] = event["t"] / 1000
            elif "fail" in event:
                self.in_doubt[event["fail"]] = event["error"]
            elif event.get("done"):
                self.finished = True

    def stop(self, timeout: float = 30) -> LoadRun:
        """Ask the writers to finish their current request, then collect every line."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.wait(timeout)
        return self

    def wait(self, timeout: float = 60) -> LoadRun:
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._reader.join(10)
        if self.proc.returncode not in (0, None) and not self.finished:
            raise RuntimeError(f"load client failed: {self.proc.stderr.read()[-2000:]}")
        return self


# --- S3 (moto) and backups -----------------------------------------------------------------------


class S3Server:
    """moto_server on loopback; any access key works, buckets are made with boto3."""

    access_key_id = "test-access-key"
    secret_access_key = "test-secret-key"
    region = "us-east-1"

    def __init__(self, moto_server: Path, log_path: Path) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [str(moto_server), "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while not port_is_listening(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"moto_server did not start; see {log_path}")
            time.sleep(0.1)

    def client(self):
        import boto3  # moto brings it

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
        )

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def object_keys(self, bucket: str, prefix: str) -> list[str]:
        listing = self.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
        return [obj["Key"] for obj in listing.get("Contents", [])]

    @property
    def litestream_env(self) -> dict[str, str]:
        return {
            "LITESTREAM_ACCESS_KEY_ID": self.access_key_id,
            "LITESTREAM_SECRET_ACCESS_KEY": self.secret_access_key,
        }

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)


def litestream_config(path: Path, **settings) -> Path:
    """Render assets/litestream.yml.j2 the way the Pulumi program does, into path."""
    from infra.assets import render_template
    from infra.settings import StackSettings

    path.write_text(render_template("litestream.yml.j2", StackSettings(app_name="t", **settings)))
    return path


def s3_settings(s3: S3Server, bucket: str, prefix: str, sync_interval: str = "1s") -> dict:
    return dict(
        backup_target="s3",
        backup_path=prefix,
        backup_sync_interval=sync_interval,
        s3_bucket=bucket,
        s3_endpoint=s3.endpoint,
        s3_region=s3.region,
        s3_access_key_id=s3.access_key_id,
        s3_secret_access_key=s3.secret_access_key,
    )


def _litestream(tools: Tools, env: dict[str, str], command: str, *args: str) -> str:
    done = subprocess.run(
        [str(tools.litestream), command, "-config", env["LITESTREAM_CONFIG"], *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0:
        raise RuntimeError(f"litestream {command} failed: {done.stderr[-2000:]}")
    return done.stdout


def restore_backup(tools: Tools, env: dict[str, str], out: Path) -> Path:
    """`litestream restore` of a node's database (by its env: DATA_DIR, config) into out."""
    _litestream(tools, env, "restore", "-o", str(out), str(Path(env["DATA_DIR"]) / DB_RELATIVE))
    return out


def backup_file_count(tools: Tools, env: dict[str, str]) -> int:
    """How many LTX files the node's backup target holds, at any compaction level."""
    db = str(Path(env["DATA_DIR"]) / DB_RELATIVE)
    listing = _litestream(tools, env, "ltx", "-level", "all", db)
    return max(0, len(listing.strip().splitlines()) - 1)  # minus the header


def wait_until_backed_up(tools: Tools, env: dict[str, str], timeout: float = 15) -> float:
    """Seconds until Litestream's first upload. Litestream opens the database on its first
    monitor tick (DB.init via DB.monitor, db.go) and DB.Close skips the final sync before that,
    so a primary stopped within its first ~second may leave writes out of the backup."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if backup_file_count(tools, env) > 0:
            return time.monotonic() - started
        time.sleep(0.2)
    raise TimeoutError(f"no backup after {timeout}s")


def inspect_sqlite(db_path: Path, queries: list[str]) -> tuple[str, list[list[tuple]]]:
    """(PRAGMA integrity_check result, rows of each query) of a copy of db_path and its WAL,
    so a running process is not disturbed and a crashed one is read as SQLite would."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "data"
        shutil.copyfile(db_path, copy)
        wal = db_path.with_name(db_path.name + "-wal")
        if wal.exists():
            shutil.copyfile(wal, copy.with_name("data-wal"))
        conn = sqlite3.connect(copy)
        try:
            try:
                integrity = "\n".join(r[0] for r in conn.execute("PRAGMA integrity_check"))
            except sqlite3.DatabaseError as err:
                return f"error: {err}", []
            return integrity, [conn.execute(q).fetchall() for q in queries]
        finally:
            conn.close()
