"""The restore drill (`python -m infra.drill STACK`) against real backups: Litestream 0.5.17
uploading to an S3 server (moto), from a primary that assets/run.sh runs with sqld, or from a
SQLite file Litestream replicates directly (to back up a database that is corrupt already).

Each test reads a stack file, as a user's drill does; the S3 credentials it gets are distinctive
values (moto takes any), so a leak into output or an argv would show."""

from __future__ import annotations

import os
import secrets
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra import assets, drill
from tests.runtime.cluster import DB_RELATIVE, hrana, process_environ, wait_until_backed_up
from tests.runtime.conftest import BUCKET
from tests.sqlite_faults import mismatch_orders_index

REPO = Path(__file__).resolve().parents[2]
STACK = "drilltest"
ORDERS, CUSTOMERS = 250, 40


def write_stack(project: Path, s3, prefix: str) -> Path:
    """Pulumi.drilltest.yaml for an S3 backup in moto; the credentials encrypted, as
    `pulumi config set --secret` leaves them (the drill must not need them)."""
    project.mkdir(parents=True, exist_ok=True)
    path = project / f"Pulumi.{STACK}.yaml"
    path.write_text(
        "config:\n"
        "  letter-unboxed-db:appName: letter-unboxed-db-drilltest\n"
        "  letter-unboxed-db:backupTarget: s3\n"
        f"  letter-unboxed-db:backupPath: {prefix}\n"
        "  letter-unboxed-db:backupSyncInterval: 1s\n"
        f"  letter-unboxed-db:s3Bucket: {BUCKET}\n"
        f"  letter-unboxed-db:s3Endpoint: {s3.endpoint}\n"
        f"  letter-unboxed-db:s3Region: {s3.region}\n"
        "  letter-unboxed-db:s3AccessKeyId:\n    secure: v1:c2VjcmV0LWlk\n"
        "  letter-unboxed-db:s3SecretAccessKey:\n    secure: v1:c2VjcmV0LWtleQ==\n"
    )
    return path


@dataclass
class Backup:
    """A stack whose backup is in moto, and the credentials a drill of it gets."""

    project: Path
    prefix: str
    credentials: dict[str, str]
    finished_at: float  # time.time() once the last write was in the store

    def environ(self, tools, **extra) -> dict[str, str]:
        """The drill's environment: the caller's, with the trap FIELD-NOTES describes set
        (AWS_CA_BUNDLE breaks Litestream's S3 client), the credentials, and the tool."""
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("LITESTREAM_")}
        return {
            **inherited,
            "AWS_CA_BUNDLE": "/nonexistent/ca.pem",
            **self.credentials,
            "LITESTREAM_BIN": str(tools.litestream),
            **extra,
        }

    def machine_config(self, path: Path) -> Path:
        """The litestream.yml the primary gets, rendered from the same stack file."""
        settings = drill.load_stack(self.project, STACK, self.credentials)
        path.write_text(assets.render_template("litestream.yml.j2", settings))
        return path


def new_credentials() -> dict[str, str]:
    return {
        "LITESTREAM_ACCESS_KEY_ID": "AKIADRILL" + secrets.token_hex(6).upper(),
        "LITESTREAM_SECRET_ACCESS_KEY": secrets.token_urlsafe(30),
    }


def litestream_env(backup: Backup, data_dir: Path, config: Path) -> dict[str, str]:
    """For the test's own Litestream commands (replicate, ltx): no AWS_* of this machine."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/"),
        **backup.credentials,
        "DATA_DIR": str(data_dir),
        "LITESTREAM_CONFIG": str(config),
    }


def replicate(tools, env: dict[str, str], log_path: Path) -> None:
    """`litestream replicate` of env's DATA_DIR until its first upload, then SIGTERM (its final
    sync): a database written directly, backed up as a primary's would be."""
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(tools.litestream), "replicate", "-config", env["LITESTREAM_CONFIG"]],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_backed_up(tools, env)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def run_drill(backup: Backup, tools, *args: str, **extra_env) -> subprocess.CompletedProcess:
    """`python -m infra.drill drilltest` as a user runs it, from the project's checkout."""
    return subprocess.run(
        [sys.executable, "-m", "infra.drill", STACK, "--project-dir", str(backup.project), *args],
        cwd=REPO,
        env=backup.environ(tools, **extra_env),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def healthy(module_launcher, s3, tools, keys, tmp_path_factory) -> Backup:
    """A primary started by run.sh with sqld and Litestream, backing up to moto: two tables of
    rows written through sqld's HTTP API, then a SIGTERM (Litestream's final sync)."""
    root = tmp_path_factory.mktemp("drill-healthy")
    backup = Backup(root / "project", "drill-healthy", new_credentials(), 0.0)
    write_stack(backup.project, s3, backup.prefix)
    config = backup.machine_config(root / "litestream.yml")
    primary = module_launcher.start(
        "primary", "drill-primary", litestream_config=config, extra_env=backup.credentials
    )
    wait_until_backed_up(tools, primary.env)
    token = keys.token("rw")
    hrana(
        primary.url,
        token,
        [
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT)",
            "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)",
        ],
    )
    for start in range(0, ORDERS, 50):
        values = ",".join(f"({i}, 'item {i}')" for i in range(start, start + 50))
        hrana(primary.url, token, [f"INSERT INTO orders VALUES {values}"])
    values = ",".join(f"({i}, 'customer {i}')" for i in range(CUSTOMERS))
    hrana(primary.url, token, [f"INSERT INTO customers VALUES {values}"])
    assert primary.stop().exit_code == 0
    backup.finished_at = time.time()
    return backup


def test_drill_passes_on_a_healthy_backup_and_prints_counts_and_age(healthy, tools, tmp_path):
    # Litestream through a wrapper that records each argv, the names in its environment and the
    # config it was given, then runs the real one.
    record = tmp_path / "record"
    wrapper = tmp_path / "litestream"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$*" >> {shlex.quote(str(record))}.argv\n'
        f"env | cut -d= -f1 >> {shlex.quote(str(record))}.env\n"
        f'[ "$2" = -config ] && cat "$3" >> {shlex.quote(str(record))}.config\n'
        f'exec {shlex.quote(str(tools.litestream))} "$@"\n'
    )
    wrapper.chmod(0o755)
    done = run_drill(healthy, tools, LITESTREAM_BIN=str(wrapper))
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    lines = out.splitlines()
    assert lines[0].startswith(f"drill {STACK}: the latest backup of letter-unboxed-db-drilltest,")
    assert f"s3://{BUCKET}/drill-healthy at http://127.0.0.1:" in lines[0]
    assert "litestream 0.5.17" in lines
    assert "integrity_check: ok" in lines
    counts = {line.split()[0]: line.split()[1] for line in lines if line.startswith("  ")}
    # Litestream's own tables are there too (run.sh creates them through sqld); their rows
    # are Litestream's business.
    assert set(counts) == {"_litestream_lock", "_litestream_seq", "customers", "orders"}
    assert (counts["orders"], counts["customers"]) == (f"{ORDERS}", f"{CUSTOMERS}")
    age_line = next(line for line in lines if line.startswith("newest backed-up transaction"))
    assert "ago (limit 30s: 10 x backupSyncInterval 1s, at least 30s)" in age_line
    assert lines[-1] == "PASS"

    # The credentials: in Litestream's environment only; never in an argv, a config or output.
    argv = (record.with_suffix(".argv")).read_text()
    assert {line.split()[0] for line in argv.splitlines()} == {"version", "ltx", "restore"}
    names = set(record.with_suffix(".env").read_text().split())
    assert {"LITESTREAM_ACCESS_KEY_ID", "LITESTREAM_SECRET_ACCESS_KEY"} <= names
    assert not {name for name in names if name.startswith("AWS_")}
    config = record.with_suffix(".config").read_text()
    assert "secret-access-key: ${LITESTREAM_SECRET_ACCESS_KEY}" in config
    for value in healthy.credentials.values():
        for text in (argv, config, out, done.stderr):
            assert value not in text


def test_drill_fails_on_a_backup_older_than_the_limit(healthy, tools):
    # The newest LTX file reached the store before the fixture's primary stopped: once 1.5 s
    # have passed since, the backup is surely more than a second old.
    time.sleep(max(0.0, healthy.finished_at + 1.5 - time.time()))
    done = run_drill(healthy, tools, "--max-age", "1s")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "integrity_check: ok" in done.stdout  # restored and checked all the same
    assert "(limit 1s: --max-age)" in done.stdout
    assert "older than the limit of 1s" in done.stdout
    assert done.stdout.splitlines()[-1] == "FAIL"


def test_drill_fails_when_integrity_check_fails(s3, tools, tmp_path):
    backup = Backup(tmp_path / "project", "drill-corrupt", new_credentials(), 0.0)
    write_stack(backup.project, s3, backup.prefix)
    config = backup.machine_config(tmp_path / "litestream.yml")
    # The primary's database is corrupt already (an index whose definition no longer matches
    # its entries); Litestream backs it up page for page, as it would any database.
    data_dir = tmp_path / "data"
    db = data_dir / DB_RELATIVE
    db.parent.mkdir(parents=True)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT)")
    conn.execute("CREATE INDEX orders_item ON orders (item)")
    conn.executemany("INSERT INTO orders VALUES (?, ?)", [(i, f"item {i}") for i in range(30)])
    conn.commit()
    mismatch_orders_index(conn)
    conn.close()
    replicate(tools, litestream_env(backup, data_dir, config), tmp_path / "litestream.log")

    done = run_drill(backup, tools)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "integrity_check: 30 problem(s)" in done.stdout
    assert "  row 1 missing from index orders_item" in done.stdout
    assert "FAIL: integrity_check failed: row 1 missing from index orders_item;" in done.stdout
    assert "(and 20 more)" in done.stdout
    assert any(line.split() == ["orders", "30"] for line in done.stdout.splitlines())


def test_drill_fails_when_an_object_in_the_store_is_damaged(healthy, s3, tools, tmp_path):
    # A copy of the healthy backup with one byte flipped in every object: Litestream checks each
    # LTX file's CRC-64 as it restores, so the damage fails the restore itself (a restore that
    # succeeds on damaged pages is what integrity_check is there for, above).
    client = s3.client()
    for key in s3.object_keys(BUCKET, healthy.prefix + "/"):
        body = bytearray(client.get_object(Bucket=BUCKET, Key=key)["Body"].read())
        body[len(body) // 2] ^= 0xFF
        target = "drill-damaged/" + key.removeprefix(healthy.prefix + "/")
        client.put_object(Bucket=BUCKET, Key=target, Body=bytes(body))
    backup = Backup(tmp_path / "project", "drill-damaged", healthy.credentials, 0.0)
    write_stack(backup.project, s3, backup.prefix)
    done = run_drill(backup, tools)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL: litestream restore failed:" in done.stdout
    assert "integrity_check" not in done.stdout
    assert done.stdout.splitlines()[-1] == "FAIL"


def test_drill_fails_when_the_stack_has_no_backup(s3, tools, tmp_path):
    backup = Backup(tmp_path / "project", "drill-nothing-here", new_credentials(), 0.0)
    write_stack(backup.project, s3, backup.prefix)
    done = run_drill(backup, tools)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"FAIL: no backup at s3://{BUCKET}/drill-nothing-here" in done.stdout


def test_drill_of_the_local_stack_reads_its_primarys_file_backup(tools, tmp_path):
    # The local stack as `pulumi up -s local` leaves it: the primary's DATA_DIR under
    # .pulumi-local/, its file backup in there. No --data-dir: the drill knows where to look.
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.local.yaml").write_text((REPO / "Pulumi.local.yaml").read_text())
    data_dir = project / ".pulumi-local" / "local" / "primary"
    db = data_dir / DB_RELATIVE
    db.parent.mkdir(parents=True)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    conn.executemany("INSERT INTO notes VALUES (?, ?)", [(i, f"note {i}") for i in range(12)])
    conn.commit()
    conn.close()
    settings = drill.load_stack(project, "local", {})
    config = tmp_path / "litestream.yml"
    config.write_text(assets.render_template("litestream.yml.j2", settings))
    env = {"PATH": os.environ["PATH"], "DATA_DIR": str(data_dir), "LITESTREAM_CONFIG": str(config)}
    replicate(tools, env, tmp_path / "litestream.log")

    command = [sys.executable, "-m", "infra.drill", "local", "--project-dir", str(project)]
    environ = {**os.environ, "LITESTREAM_BIN": str(tools.litestream)}
    done = subprocess.run(command, cwd=REPO, env=environ, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{data_dir.resolve() / 'backups'}" in done.stdout.splitlines()[0]
    assert any(line.split() == ["notes", "12"] for line in done.stdout.splitlines())

    # A file target's store time is the LTX file's modification time (Litestream sets it to the
    # transaction's): two hours back, the backup is far past the default limit of 30s.
    two_hours_ago = time.time() - 7200
    for ltx in (data_dir / "backups").rglob("*.ltx"):
        os.utime(ltx, (two_hours_ago, two_hours_ago))
    done = subprocess.run(command, cwd=REPO, env=environ, capture_output=True, text=True)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL: the newest backed-up transaction is 2h old, older than the limit of 30s" in (
        done.stdout
    )


def test_a_tigris_stack_backs_up_with_the_secrets_flyctl_sets_and_its_drill_restores_it(
    launcher, s3, tools, keys, tmp_path
):
    """backupTarget: tigris, with moto standing in for Tigris: the primary gets exactly the five
    secrets `flyctl storage create` sets (extensions/tigris/create.go) and nothing else about
    the bucket; the drill reads the same bucket with a key of its own."""
    project = tmp_path / "project"
    project.mkdir()
    (project / f"Pulumi.{STACK}.yaml").write_text(
        "config:\n"
        "  letter-unboxed-db:appName: letter-unboxed-db-drilltest\n"
        "  letter-unboxed-db:backupPath: drill-tigris\n"
        "  letter-unboxed-db:backupSyncInterval: 1s\n"
    )  # backupTarget: tigris is the default
    key = new_credentials()
    flyctl_secrets = {
        "AWS_ACCESS_KEY_ID": key["LITESTREAM_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": key["LITESTREAM_SECRET_ACCESS_KEY"],
        "AWS_ENDPOINT_URL_S3": s3.endpoint,
        "AWS_REGION": "auto",
        "BUCKET_NAME": BUCKET,
    }
    settings = drill.load_stack(project, STACK, key)
    assert settings.backup_target == "tigris"
    config = tmp_path / "litestream.yml"
    config.write_text(assets.render_template("litestream.yml.j2", settings))
    primary = launcher.start(
        "primary", "tigris-primary", litestream_config=config, extra_env=flyctl_secrets
    )
    token = keys.token("rw")
    hrana(primary.url, token, ["CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"])
    hrana(primary.url, token, ["INSERT INTO notes (body) VALUES ('kept'), ('also kept')"])
    for pid in primary.sqld_pids():  # only Litestream holds the bucket's key
        assert "AWS_SECRET_ACCESS_KEY" not in process_environ(pid)
    wait_until_backed_up(tools, primary.env)
    assert primary.stop().exit_code == 0
    assert s3.object_keys(BUCKET, "drill-tigris"), "nothing reached the bucket"

    backup = Backup(project, "drill-tigris", key, time.time())
    done = run_drill(backup, tools, BUCKET_NAME=BUCKET, AWS_ENDPOINT_URL_S3=s3.endpoint)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"s3://{BUCKET}/drill-tigris at {s3.endpoint} (Tigris, region auto)" in done.stdout
    lines = done.stdout.splitlines()
    counts = {ln.split()[0]: ln.split()[1] for ln in lines if ln.startswith("  ")}
    assert counts["notes"] == "2"
    for value in key.values():
        assert value not in done.stdout + done.stderr
