"""What Fly's Prometheus scrapes from each machine (fly.toml [metrics]): run.sh's metrics.pl
serves sqld's and Litestream's metrics and the machine's own figures on one port, and nothing
else: sqld's admin API and Litestream's metrics server stay on loopback.

A primary (file backups) and a replica run as on Fly, with the metrics variables fly.toml sets,
each on its own loopback ports; the scrapes are parsed by prometheus_client's parser.
"""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.monitoring_rules import alert_queries, dashboard_queries
from tests.runtime.cluster import (
    RUN_SH,
    HranaError,
    Node,
    Ports,
    free_port,
    hrana,
    http_status,
    litestream_config,
    node_env,
    port_is_listening,
    process_argv,
    process_environ,
    process_group_pids,
)
from tests.runtime.scrape import (
    check_exposition,
    exported_names,
    families,
    http_get,
    promql_metric_names,
    scrape,
    value,
)

MIB = 1 << 20


def metrics_env(region: str, tmp: Path, primary: bool) -> dict[str, str]:
    """What fly.toml's [env] gives a machine for metrics, on free loopback ports here."""
    tmp.mkdir(parents=True, exist_ok=True)  # run.sh makes Litestream's control socket there
    env = {
        "METRICS_LISTEN_ADDR": f"127.0.0.1:{free_port()}",
        "SQLD_ADMIN_LISTEN_ADDR": f"127.0.0.1:{free_port()}",
        "FLY_REGION": region,
        "TMPDIR": str(tmp),
    }
    if primary:
        env["LITESTREAM_METRICS_ADDR"] = f"127.0.0.1:{free_port()}"
    return env


@dataclass
class Metered:
    primary: Node
    replica: Node

    @staticmethod
    def gate(node: Node) -> str:
        return node.env["METRICS_LISTEN_ADDR"]

    def scrape(self, node: Node) -> dict:
        text = scrape(self.gate(node))
        check_exposition(text)
        return families(text)


@pytest.fixture(scope="module")
def metered(module_launcher) -> Metered:
    root = module_launcher.root
    config = litestream_config(root / "litestream.yml", backup_target="file")
    primary = module_launcher.start(
        "primary", "m-primary", litestream_config=config,
        extra_env=metrics_env("yyz", root / "m-primary.tmp", primary=True),
    )  # fmt: skip
    replica = module_launcher.start(
        "replica", "m-replica", primary_grpc_url=primary.grpc_url,
        extra_env=metrics_env("ams", root / "m-replica.tmp", primary=False),
    )  # fmt: skip
    return Metered(primary, replica)


def admin_key(node: Node) -> str:
    """The admin API key run.sh made for this start, from sqld's environment (root reads it)."""
    (sqld,) = node.sqld_pids()
    return process_environ(sqld)["LIBSQL_ADMIN_AUTH_KEY"]


def wait_for(check, timeout: float = 10, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(every)


def test_each_node_shows_role_region_requests_errors_replication_backup_and_volume(
    metered, keys
):
    primary, replica = metered.primary, metered.replica
    rw = keys.token("rw")
    hrana(primary.url, rw, ["CREATE TABLE notes (body TEXT)", "INSERT INTO notes VALUES ('a')"])
    hrana(replica.url, rw, ["INSERT INTO notes VALUES ('b')"])  # forwarded to the primary
    with pytest.raises(HranaError):
        hrana(replica.url, rw, ["SELECT missing FROM notes"])
    with pytest.raises(HranaError, match="SQL_PARSE_ERROR"):
        hrana(primary.url, rw, ["SELEC 1"])
    assert http_status(replica.url, None) == 401

    def caught_up_and_backed_up():
        p, r = metered.scrape(primary), metered.scrape(replica)
        index = value(p, "dbnode_replication_index", role="primary")
        synced = value(p, "dbnode_backup_last_sync_timestamp_seconds")  # after the first sync
        return (p, r) if index and value(r, "dbnode_replication_index") == index and synced else 0

    found = wait_for(caught_up_and_backed_up)
    assert found, "the replica's index never met the primary's, or Litestream never synced"
    p, r = found

    assert value(p, "dbnode_info", role="primary", region="yyz") == 1
    assert value(r, "dbnode_info", role="replica", region="ams") == 1
    # Requests and errors, from sqld: HTTP responses by status, and SQL errors by code.
    assert value(p, "libsql_server_user_http_response", status="200") >= 1
    assert value(r, "libsql_server_user_http_response", status="200") >= 1
    assert value(r, "libsql_server_user_http_response", status="401") >= 1
    assert sum(s.value for s in r["libsql_server_hrana_step_errors"]) >= 1  # by code
    # Pinned: SQL that sqld cannot parse is refused before that counter (the README says so).
    assert value(p, "libsql_server_hrana_step_errors", code="SQL_PARSE_ERROR") is None
    assert value(r, "libsql_server_write_requests_delegated", namespace="default") >= 1
    # Replication: the replica's index against the primary's (equal once caught up), and sqld's
    # own commit-to-replica latency.
    assert value(r, "dbnode_replication_index", role="replica") >= 2
    assert "libsql_server_replication_latency" in r
    # Backups: only the primary runs Litestream.
    assert 0 <= value(p, "dbnode_backup_age_seconds") < 3
    assert value(p, "dbnode_backup_last_sync_timestamp_seconds") > time.time() - 5
    assert value(p, "dbnode_backup_sync_interval_seconds") == 1
    assert value(p, "litestream_sync_count", db=str(primary.db_path)) >= 1
    assert value(p, "litestream_sync_error_count", db=str(primary.db_path)) == 0
    assert not [name for name in r if name.startswith(("litestream_", "dbnode_backup"))]
    # The volume, for both.
    for found_on in (p, r):
        size, used, free = (
            value(found_on, f"dbnode_volume_{kind}_bytes") for kind in ("size", "used", "free")
        )
        assert size > 0 and 0 < used < size and 0 < free < size
    sources = {"sqld": 1, "litestream": 1, "litestream_control": 1}
    assert {s: value(p, "dbnode_up", source=s) for s in sources} == sources
    assert value(r, "dbnode_up", source="sqld") == 1


def test_the_endpoint_carries_everything_sqld_and_litestream_export(metered):
    """Both upstream endpoints, scraped on loopback where they listen, and parsed: every family
    they export comes through the machine's one metrics port (minus sqld's duplicate)."""
    primary = metered.primary
    key = admin_key(primary)
    status, sqld_text = http_get(
        f"http://{primary.env['SQLD_ADMIN_LISTEN_ADDR']}/metrics", {"Authorization": f"Basic {key}"}
    )
    assert status == 200
    litestream_text = scrape(primary.env["LITESTREAM_METRICS_ADDR"])
    sqld, litestream = families(sqld_text), families(litestream_text)
    assert "libsql_server_user_http_response" in sqld and "litestream_txid" in litestream
    # sqld 0.24.32 types libsql_server_count twice (a counter and a gauge): Prometheus would
    # refuse that scrape, so the endpoint keeps the first and drops the other.
    assert sqld_text.count("# TYPE libsql_server_count ") == 2
    gate = metered.scrape(primary)
    assert set(sqld) | set(litestream) <= set(gate)


def test_backup_age_grows_while_litestream_is_stopped_and_falls_after_it_resumes(metered):
    primary = metered.primary
    litestream = primary.proc.pid  # run.sh execs Litestream, which runs sqld
    assert Path(process_argv(litestream)[0]).name == "litestream"

    def age(found: dict) -> float:
        return value(found, "dbnode_backup_age_seconds")

    assert wait_for(lambda: age(metered.scrape(primary)) < 2)

    os.kill(litestream, signal.SIGSTOP)
    try:
        time.sleep(1)
        first = metered.scrape(primary)  # each upstream gets 1 s before it counts as down
        second = metered.scrape(primary)
    finally:
        os.kill(litestream, signal.SIGCONT)
    assert value(first, "dbnode_up", source="litestream_control") == 0
    assert value(first, "dbnode_up", source="litestream") == 0
    assert value(first, "dbnode_up", source="sqld") == 1  # sqld serves on
    assert 1 <= age(first) < age(second), "the age of the last sync grows while it is stopped"
    assert not [name for name in first if name.startswith("litestream_")]

    resumed = wait_for(lambda: (f := metered.scrape(primary)) and age(f) < 2 and f)
    assert resumed, "the backup age did not fall after Litestream resumed"
    assert value(resumed, "dbnode_up", source="litestream_control") == 1
    assert value(resumed, "dbnode_backup_last_sync_timestamp_seconds") > value(
        second, "dbnode_backup_last_sync_timestamp_seconds"
    )


def test_volume_figures_move_when_data_is_written(metered, keys):
    """24 MiB of incompressible rows: the primary's volume shows them used and no longer free
    (the test disk is shared, so another writer may blur one attempt; three are allowed)."""
    primary, rw = metered.primary, keys.token("rw")
    hrana(primary.url, rw, ["CREATE TABLE IF NOT EXISTS ballast (b BLOB)"])

    def volume() -> tuple[float, float, float]:
        found = metered.scrape(primary)
        return tuple(value(found, f"dbnode_volume_{k}_bytes") for k in ("size", "used", "free"))

    for _attempt in range(3):
        size, used, free = volume()
        hrana(primary.url, rw, ["INSERT INTO ballast VALUES (randomblob(4000000))"] * 6, timeout=60)
        after_size, after_used, after_free = volume()
        if after_used - used >= 16 * MIB and free - after_free >= 16 * MIB:
            break
    assert after_size == size
    assert after_used - used >= 16 * MIB, (used, after_used)
    assert free - after_free >= 16 * MIB, (free, after_free)


def test_backup_age_grows_while_the_backup_store_fails_and_falls_once_it_works(metered, keys):
    """Litestream running but unable to write its backups, which only its log showed before: the
    backup folder becomes a file, which not even root can write into."""
    primary, rw = metered.primary, keys.token("rw")
    backups = primary.data_dir / "backups"
    parked = backups.with_name("backups.parked")

    def age() -> float:
        return value(metered.scrape(primary), "dbnode_backup_age_seconds")

    assert wait_for(lambda: backups.is_dir() and age() < 2)
    backups.rename(parked)
    backups.write_text("not a folder")
    try:
        hrana(primary.url, rw, [
            "CREATE TABLE IF NOT EXISTS late (v)", "INSERT INTO late VALUES (1)"]
        )
        assert wait_for(lambda: age() >= 3), "the backup age did not grow while the store failed"
        found = metered.scrape(primary)
        assert value(found, "dbnode_up", source="litestream_control") == 1
        # Pinned: Litestream 0.5.17's error counter does not see it (the README says so).
        assert value(found, "litestream_sync_error_count", db=str(primary.db_path)) == 0
    finally:
        backups.unlink()
        parked.rename(backups)
    assert wait_for(lambda: age() < 2), "the backup age did not fall once the store worked again"


# --- only /metrics leaves the machine ---------------------------------------------------------

# Everything sqld's admin API routes (libsql-server src/http/admin/mod.rs), what Litestream's
# servers hold (Go's pprof on its metrics port; its control socket's routes, server.go), and
# request targets that would trick a naive proxy.
NOT_SERVED = [
    ("GET", "/"),
    ("GET", "/v1/diagnostics"),
    ("GET", "/v1/namespaces/default/config"),
    ("POST", "/v1/namespaces/default/config"),
    ("POST", "/v1/namespaces/gate-probe/create"),
    ("POST", "/v1/namespaces/default/fork/gate-probe"),
    ("POST", "/v1/namespaces/default/checkpoint"),
    ("DELETE", "/v1/namespaces/default"),
    ("GET", "/v1/namespaces/default/stats"),
    ("POST", "/log-filter"),
    ("POST", "/profile/heap/enable"),
    ("POST", "/admin_shell.AdminShellService/Shell"),
    ("GET", "/debug/pprof/"),
    ("GET", "/debug/pprof/cmdline"),
    ("GET", "/list"),
    ("POST", "/sync"),
    ("GET", "/metrics/../v1/diagnostics"),
    ("GET", "//metrics"),
]


def raw_request(address: str, method: str, target: str) -> int:
    """The status line's code for a request sent as written (no client-side normalising)."""
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(
            f"{method} {target} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 2\r\n"
            "Connection: close\r\n\r\n{}".encode()
        )
        head = conn.recv(4096).decode(errors="replace")
    return int(head.split(" ", 2)[1])


def listening(pids: list[int]) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket these processes listen on, from /proc."""
    inodes = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = set()
    for table, width in (("tcp", 8), ("tcp6", 32)):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in inodes:  # 0A: LISTEN
                continue
            hex_ip, hex_port = local.split(":")
            raw = bytes.fromhex(hex_ip)
            # /proc prints the address as 32-bit words in host (little-endian) order.
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            family = socket.AF_INET if width == 8 else socket.AF_INET6
            found.add((socket.inet_ntop(family, raw), int(hex_port, 16)))
    return found


def port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def test_from_outside_only_get_metrics_answers_and_the_admin_api_listens_on_loopback(metered):
    primary, replica = metered.primary, metered.replica
    gate = metered.gate(primary)
    for method, target in NOT_SERVED:
        assert raw_request(gate, method, target) == 404, (method, target)
    admin = primary.env["SQLD_ADMIN_LISTEN_ADDR"]
    assert raw_request(gate, "GET", f"http://{admin}/v1/diagnostics") == 404  # absolute form
    for method in ("POST", "PUT", "DELETE"):
        assert raw_request(gate, method, "/metrics") == 405
    assert raw_request(gate, "HEAD", "/metrics") == 200
    # Nothing reached sqld: no namespace was made, forked or deleted.
    assert sorted(p.name for p in (primary.data_dir / "sqld" / "dbs").iterdir()) == ["default"]

    # On loopback too, the admin API answers only to run.sh's key, which only sqld and the
    # endpoint hold; with it, it serves (so the refusals above are the endpoint's, not sqld's).
    key = {"Authorization": f"Basic {admin_key(primary)}"}
    for path in ("/metrics", "/v1/namespaces/default/config", "/v1/diagnostics"):
        assert http_get(f"http://{admin}{path}")[0] == 401, path
    assert http_get(f"http://{admin}/v1/namespaces/default/config", key)[0] == 200

    # What listens: sqld's HTTP and gRPC ports, the metrics endpoint, and on loopback only the
    # admin API and Litestream's metrics; nothing else (no pprof or MCP port of its own).
    env = primary.env
    assert listening(process_group_pids(primary.proc.pid)) == {
        ("127.0.0.1", primary.ports.http),
        ("127.0.0.1", primary.ports.grpc),
        ("127.0.0.1", port_of(env["METRICS_LISTEN_ADDR"])),
        ("127.0.0.1", port_of(env["SQLD_ADMIN_LISTEN_ADDR"])),
        ("127.0.0.1", port_of(env["LITESTREAM_METRICS_ADDR"])),
    }
    assert listening(process_group_pids(replica.proc.pid)) == {
        ("127.0.0.1", replica.ports.http),
        ("127.0.0.1", port_of(replica.env["METRICS_LISTEN_ADDR"])),
        ("127.0.0.1", port_of(replica.env["SQLD_ADMIN_LISTEN_ADDR"])),
    }
    # Litestream's control socket (it can stop, sync and register databases) is the user's own.
    (sock,) = Path(env["TMPDIR"]).glob("litestream.*/control.sock")
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"SQLD_ADMIN_LISTEN_ADDR": "0.0.0.0:{port}"}, "SQLD_ADMIN_LISTEN_ADDR=0.0.0.0:"),
        ({"SQLD_ADMIN_LISTEN_ADDR": "[::]:{port}"}, "must be a loopback address"),
        ({"LITESTREAM_METRICS_ADDR": "0.0.0.0:{port}"}, "LITESTREAM_METRICS_ADDR=0.0.0.0:"),
        ({"SQLD_ADMIN_LISTEN_ADDR": None}, "METRICS_LISTEN_ADDR needs SQLD_ADMIN_LISTEN_ADDR"),
    ],
)
def test_run_sh_refuses_to_open_the_admin_api_or_litestream_beyond_loopback(
    tools, keys, tmp_path, overrides, message
):
    env = node_env("primary", tmp_path / "data", Ports.pick(), tools=tools, keys=keys,
                   litestream_config=tmp_path / "unused.yml",
                   extra_env=metrics_env("yyz", tmp_path / "tmp", primary=True))  # fmt: skip
    port = free_port()
    for name, setting in overrides.items():
        if setting is None:
            env.pop(name)
        else:
            env[name] = setting.format(port=port)
    done = subprocess.run(["bash", str(RUN_SH)], env=env, capture_output=True, text=True,
                          timeout=30)  # fmt: skip
    assert done.returncode != 0
    assert message in done.stderr
    assert not port_is_listening(port)
    assert not port_is_listening(port_of(env["METRICS_LISTEN_ADDR"]))
    assert not (tmp_path / "data" / "sqld").exists()


# --- the dashboard and alert rules ask for what the machines export ---------------------------

# Fly's own series the dashboard shows beside ours (superfly/docs monitoring/metrics.html.md).
FLY_BUILT_IN = {"fly_app_http_responses_count"}


def test_dashboard_and_alert_rules_ask_only_for_series_the_machines_export(metered, keys):
    rw = keys.token("rw")  # sqld exports a series once something happened: make it happen
    hrana(metered.replica.url, rw, ["CREATE TABLE IF NOT EXISTS asked (v)"])
    with pytest.raises(HranaError):
        hrana(metered.replica.url, rw, ["SELECT missing FROM asked"])
    queries = dashboard_queries() + alert_queries()
    assert len(queries) >= 10
    asked = set()
    for expr in queries:
        asked |= promql_metric_names(expr)

    def missing() -> set[str]:
        exported = exported_names(scrape(metered.gate(metered.primary)))
        exported |= exported_names(scrape(metered.gate(metered.replica)))
        return asked - exported - FLY_BUILT_IN

    wait_for(lambda: not missing(), timeout=5)  # the replica's latency comes with its frames
    assert missing() == set()
    for needed in ("dbnode_backup_age_seconds", "dbnode_volume_free_bytes",
                   "dbnode_replication_index", "libsql_server_user_http_response"):  # fmt: skip
        assert needed in asked
