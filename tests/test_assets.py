"""What ships to Fly, rendered from real stack files: parsed, linted, and fingerprinted."""

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import jinja2
import pytest
import yaml

from infra import assets
from infra.settings import (
    ADMIN_PORT,
    LITESTREAM_METRICS_PORT,
    SettingsError,
    parse_settings,
)
from tests.test_settings import S3_OK, stack_config

BIN = Path(sys.executable).parent
STACKS = ["prod", "staging"]


def settings(stack: str, **overrides):
    return parse_settings({**stack_config(stack), **overrides})


@pytest.fixture(params=STACKS)
def rendered(request, tmp_path):
    s = settings(request.param)
    assets.write_build_context(s, tmp_path)
    return s, tmp_path


def linter(name: str) -> str:
    path = BIN / name
    assert path.exists(), f"{name} is missing: run `make setup`"
    return str(path)


def test_fly_toml_has_what_fly_needs_and_no_public_grpc(rendered):
    s, out = rendered
    toml = tomllib.loads((out / "fly.toml").read_text())
    assert toml["app"] == s.app_name and toml["primary_region"] == s.primary_region
    assert toml["build"]["dockerfile"] == "Dockerfile"
    assert toml["kill_timeout"] == "30s"
    assert toml["env"]["DATA_DIR"] == "/data"
    # Nothing about the volumes' size or retention: the program makes every volume itself, so
    # changing either must not change what ships (and redeploy every machine).
    assert toml["mounts"] == [{"source": "db_data", "destination": "/data"}]
    http = toml["http_service"]
    assert http["internal_port"] == 8080 and http["force_https"] is True
    assert http["auto_stop_machines"] == s.auto_stop
    assert http["auto_start_machines"] is True
    assert http["min_machines_running"] == s.min_machines_running
    assert http["checks"][0]["path"] == "/health"
    public_ports = [p["port"] for svc in toml["services"] for p in svc["ports"]]
    assert public_ports == [5000]
    assert all(svc["internal_port"] == 8080 for svc in toml["services"])
    assert toml["services"][0]["ports"][0]["handlers"] == ["tls", "http"]
    assert toml["vm"] == [{"size": "shared-cpu-1x", "memory": "256mb"}]


def test_grpc_port_is_never_a_public_service_even_when_moved():
    s = settings("prod", grpcPort=6001)
    toml = tomllib.loads(assets.render_template("fly.toml.j2", s))
    internal = [toml["http_service"]["internal_port"]] + [
        x["internal_port"] for x in toml["services"]
    ]
    assert 6001 not in internal
    assert toml["env"]["SQLD_GRPC_LISTEN_ADDR"] == "[::]:6001"


def test_prod_keeps_a_machine_running_and_staging_scales_to_zero():
    prod = tomllib.loads(assets.render_template("fly.toml.j2", settings("prod")))
    staging = tomllib.loads(assets.render_template("fly.toml.j2", settings("staging")))
    assert prod["http_service"]["min_machines_running"] == 1
    assert staging["http_service"]["min_machines_running"] == 0
    assert staging["http_service"]["auto_stop_machines"] == "stop"


def test_litestream_tigris_target_reads_the_bucket_flyctl_gave_the_app_from_the_environment():
    text = assets.render_template("litestream.yml.j2", settings("prod"))
    replica = yaml.safe_load(text)["dbs"][0]["replica"]
    # The five secrets `flyctl storage create` sets (extensions/tigris/create.go); no key in
    # the file, so Litestream uses AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY from the machine.
    assert replica == {
        "type": "s3",
        "bucket": "${BUCKET_NAME}",
        "path": "backups",
        "endpoint": "${AWS_ENDPOINT_URL_S3}",
        "region": "${AWS_REGION}",
        "sync-interval": "1s",
    }


def test_litestream_file_target_lives_on_the_volume():
    config = yaml.safe_load(
        assets.render_template("litestream.yml.j2", settings("prod", backupTarget="file"))
    )
    (db,) = config["dbs"]
    assert db["path"] == "${DATA_DIR}/sqld/dbs/default/data"
    assert db["replica"] == {"type": "file", "path": "${DATA_DIR}/backups", "sync-interval": "1s"}


def test_litestream_s3_target_takes_credentials_from_the_environment():
    s = settings("prod", **S3_OK)
    text = assets.render_template("litestream.yml.j2", s)
    replica = yaml.safe_load(text)["dbs"][0]["replica"]
    assert replica["type"] == "s3" and replica["bucket"] == "backups-bucket"
    assert replica["endpoint"] == "https://fly.storage.tigris.dev"
    assert replica["access-key-id"] == "${LITESTREAM_ACCESS_KEY_ID}"
    assert replica["secret-access-key"] == "${LITESTREAM_SECRET_ACCESS_KEY}"
    assert "AKIDEXAMPLE" not in text and "wJalrXUtnFEMI" not in text


def test_dockerfile_pins_both_images_and_is_hadolint_clean(rendered):
    s, out = rendered
    text = (out / "Dockerfile").read_text()
    assert f"ghcr.io/tursodatabase/libsql-server:{s.sqld_version}" in text
    assert f"litestream/litestream:{s.litestream_version} AS litestream" in text
    assert 'ENTRYPOINT ["/usr/local/bin/run.sh"]' in text
    lint = subprocess.run([linter("hadolint"), str(out / "Dockerfile")], capture_output=True)
    assert lint.returncode == 0, lint.stdout.decode() + lint.stderr.decode()


def test_run_sh_ships_executable_and_shellcheck_clean(rendered):
    _, out = rendered
    run_sh = out / "run.sh"
    assert run_sh.stat().st_mode & 0o111
    assert run_sh.read_bytes() == (assets.ASSETS_DIR / "run.sh").read_bytes()
    lint = subprocess.run([linter("shellcheck"), str(run_sh)], capture_output=True)
    assert lint.returncode == 0, lint.stdout.decode()


def test_fly_scrapes_one_metrics_port_and_only_it_faces_outward(rendered):
    """flyctl gives a machine the first [[metrics]] entry only (internal/appconfig/machines.go),
    so one port carries sqld's and Litestream's metrics; Fly scrapes it on 0.0.0.0 (superfly/docs
    monitoring/metrics.html.md). sqld's admin API and Litestream's server stay on loopback."""
    s, out = rendered
    toml = tomllib.loads((out / "fly.toml").read_text())
    assert toml["metrics"] == {"port": 9091, "path": "/metrics"}
    env = toml["env"]
    assert env["METRICS_LISTEN_ADDR"] == "0.0.0.0:9091"
    assert env["SQLD_ADMIN_LISTEN_ADDR"] == f"127.0.0.1:{ADMIN_PORT}"
    assert env["LITESTREAM_METRICS_ADDR"] == f"127.0.0.1:{LITESTREAM_METRICS_PORT}"
    # None of them is a service: the proxy routes nothing from the internet to them.
    internal = [toml["http_service"]["internal_port"]] + [
        x["internal_port"] for x in toml["services"]
    ]
    assert not {9091, ADMIN_PORT, LITESTREAM_METRICS_PORT} & set(internal)


def test_metrics_port_moves_with_its_setting_and_may_not_take_another_port():
    toml = tomllib.loads(assets.render_template("fly.toml.j2", settings("prod", metricsPort=9100)))
    assert toml["metrics"]["port"] == 9100
    assert toml["env"]["METRICS_LISTEN_ADDR"] == "0.0.0.0:9100"
    for key, port in [("metricsPort", 8080), ("httpPort", ADMIN_PORT),
                      ("metricsPort", LITESTREAM_METRICS_PORT)]:  # fmt: skip
        with pytest.raises(SettingsError) as caught:
            settings("prod", **{key: port})
        assert key in str(caught.value)


def test_litestream_serves_metrics_and_its_control_socket_only_where_run_sh_says():
    config = yaml.safe_load(assets.render_template("litestream.yml.j2", settings("prod")))
    assert config["addr"] == "${LITESTREAM_METRICS_ADDR}"
    assert config["socket"] == {"enabled": "${LITESTREAM_SOCKET_ENABLED}",
                                "path": "${LITESTREAM_SOCKET}"}  # fmt: skip


# perl-base's modules (Debian's Essential perl package, in libsql-server's bullseye-slim image).
PERL_BASE_MODULES = {"strict", "warnings", "IO::Select", "IO::Socket::UNIX", "Socket"}


def test_metrics_pl_ships_beside_run_sh_and_needs_only_the_images_perl(rendered):
    s, out = rendered
    assert (out / "metrics.pl").stat().st_mode & 0o111
    assert (out / "metrics.pl").read_bytes() == (assets.ASSETS_DIR / "metrics.pl").read_bytes()
    assert "COPY metrics.pl /usr/local/bin/metrics.pl" in (out / "Dockerfile").read_text()
    text = (out / "metrics.pl").read_text()
    used = set(re.findall(r"^use ([\w:]+)", text, re.M))
    assert used == PERL_BASE_MODULES, used
    assert not re.search(r"\b(require|do)\s+[\w:\"']", text), "modules loaded at run time"
    perl = shutil.which("perl")
    assert perl, "perl is missing"
    check = subprocess.run([perl, "-c", str(out / "metrics.pl")], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_build_context_holds_exactly_what_ships(tmp_path):
    (tmp_path / "stale.txt").write_text("left over from an older render")
    assets.write_build_context(settings("prod"), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["Dockerfile", "fly.toml", "litestream.yml", "run.sh", "metrics.pl"]
    )


def test_digest_follows_content_only(tmp_path):
    prod = settings("prod")
    first = assets.write_build_context(prod, tmp_path / "a")
    assert assets.write_build_context(prod, tmp_path / "b") == first
    assert assets.write_build_context(settings("prod", vmMemoryMb=512), tmp_path / "c") != first
    files = assets.render_files(prod)
    files["run.sh"] += "\n# changed\n"
    assert assets.digest(files) != first
    # Secrets are not part of any file, so rotating them alone does not change the digest.
    assert assets.digest(assets.render_files(settings("prod", **S3_OK))) == assets.digest(
        assets.render_files(settings("prod", **{**S3_OK, "s3SecretAccessKey": "other"}))
    )


def test_a_misspelt_template_variable_is_an_error(tmp_path, monkeypatch):
    broken = tmp_path / "assets"
    shutil.copytree(assets.ASSETS_DIR, broken)
    (broken / "fly.toml.j2").write_text('app = "{{ app_nmae }}"\n')
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(broken), undefined=jinja2.StrictUndefined
    )
    monkeypatch.setattr(assets, "_environment", env)
    with pytest.raises(jinja2.UndefinedError):
        assets.render_template("fly.toml.j2", settings("prod"))


# A clone of prod: staging starting from prod's backup (README, "Cloning a stack").
CLONE = {
    "restoreFrom": "s3://letter-unboxed-db-backup/backups",
    "restoreFromTime": "2026-12-01T09:00:00Z",
    "restoreFromAccessKeyId": "AKIDCLONE",
    "restoreFromSecretAccessKey": "clone-secret-value",
}


def test_a_clone_ships_the_sources_backup_apart_with_its_keys_left_to_the_environment(tmp_path):
    s = settings("staging", **CLONE)
    assets.write_build_context(s, tmp_path)
    text = (tmp_path / "restore-from.yml").read_text()
    (db,) = yaml.safe_load(text)["dbs"]
    # The same database path as litestream.yml: run.sh restores it by that path.
    assert db["path"] == yaml.safe_load((tmp_path / "litestream.yml").read_text())["dbs"][0]["path"]
    assert db["replica"] == {
        "type": "s3",
        "bucket": "letter-unboxed-db-backup",
        "path": "backups",
        "endpoint": "https://fly.storage.tigris.dev",
        "region": "auto",
        "access-key-id": "${RESTORE_FROM_ACCESS_KEY_ID}",
        "secret-access-key": "${RESTORE_FROM_SECRET_ACCESS_KEY}",
    }
    for shipped in tmp_path.iterdir():
        body = shipped.read_text()
        assert "AKIDCLONE" not in body and "clone-secret-value" not in body, shipped.name
    # The image holds it where fly.toml's [env] tells run.sh to look, with the source and time.
    env = tomllib.loads((tmp_path / "fly.toml").read_text())["env"]
    dockerfile = (tmp_path / "Dockerfile").read_text()
    assert f"COPY restore-from.yml {env['RESTORE_FROM_CONFIG']}\n" in dockerfile
    assert env["RESTORE_FROM"] == CLONE["restoreFrom"]
    assert env["RESTORE_FROM_TIME"] == CLONE["restoreFromTime"]
    lint = subprocess.run([linter("hadolint"), str(tmp_path / "Dockerfile")], capture_output=True)
    assert lint.returncode == 0, lint.stdout.decode() + lint.stderr.decode()


def test_a_clone_with_no_time_takes_the_latest_and_a_stack_that_is_no_clone_ships_nothing_of_it(
    tmp_path,
):
    latest = assets.render_files(settings("staging", **{**CLONE, "restoreFromTime": ""}))
    assert tomllib.loads(latest["fly.toml"])["env"]["RESTORE_FROM_TIME"] == ""
    files = assets.render_files(settings("staging"))
    assert "restore-from.yml" not in files
    assert "RESTORE_FROM" not in files["fly.toml"] and "restore-from" not in files["Dockerfile"]


def test_the_clones_keys_change_no_shipped_file_but_its_source_and_time_do():
    base = assets.digest(assets.render_files(settings("staging", **CLONE)))
    rotated = {**CLONE, "restoreFromSecretAccessKey": "another"}
    assert assets.digest(assets.render_files(settings("staging", **rotated))) == base
    later = {**CLONE, "restoreFromTime": "2026-12-02T09:00:00Z"}
    assert assets.digest(assets.render_files(settings("staging", **later))) != base
