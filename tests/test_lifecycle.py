"""`pulumi up / preview / destroy` of the real program against the flyctl simulator.

Each test copies the project into a temporary folder (so it can edit run.sh or a stack's config
without touching the checkout), runs the program through the harness, and reads what flyctl was
asked to do from the simulator's call log and state.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fakes import flysim
from tests.harness import Harness
from tests.project import PROJECT, copy_project

APP = "letter-unboxed-db"


def key(name: str) -> str:
    return f"{PROJECT}:{name}"


PROD = {
    key("appName"): APP,
    key("volumeSizeGb"): "10",
    key("minMachinesRunning"): "1",
    key("replicas"): json.dumps(["ams=1", "sin=2"]),
}
S3 = {
    key("backupTarget"): "s3",
    key("s3Bucket"): "letter-backups",
    key("s3Endpoint"): "https://fly.storage.tigris.dev",
    key("s3AccessKeyId"): "tid_AccessKeyExample",
    key("s3SecretAccessKey"): "tsec_SecretAccessKeyExample0123456789",
}


class Stack:
    """One Pulumi stack of the program, with its own simulated Fly account."""

    def __init__(self, tmp: Path, stack: str = "prod"):
        self.project_dir = copy_project(tmp)
        self.fly_state = tmp / "fly.json"
        self.harness = Harness(
            workdir=tmp / "pulumi",
            program=self.project_dir / "__main__.py",
            project=PROJECT,
            stack=stack,
            env=flysim.sim_env(self.fly_state),
        )
        self.config = dict(PROD)
        self.secret_keys: list[str] = []
        self.seen_calls = 0

    def up(self, **changes):
        self.config.update(changes)
        return self.harness.up(self.config, self.secret_keys)

    def preview(self):
        return self.harness.preview(self.config, self.secret_keys)

    def destroy(self):
        return self.harness.destroy()

    def new_calls(self) -> list[list[str]]:
        """argv of the flyctl calls since the last look."""
        calls = flysim.calls(self.fly_state) if self.fly_state.exists() else []
        new, self.seen_calls = calls[self.seen_calls :], len(calls)
        return [c["argv"] for c in new]

    def volumes(self, region: str | None = None) -> list[dict]:
        return flysim.volumes(self.fly_state, APP, region=region)

    def machines_per_region(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for m in flysim.machines(self.fly_state, APP):
            counts[m["region"]] = counts.get(m["region"], 0) + 1
        return counts


def verbs(calls: list[list[str]]) -> list[str]:
    """`volumes create --region sin` -> 'volumes create sin'; enough to tell calls apart."""
    out = []
    for argv in calls:
        words = [w for w in argv[:2] if w.isalpha()]
        if "--region" in argv:
            words.append(argv[argv.index("--region") + 1])
        out.append(" ".join(words))
    return out


@pytest.fixture
def stack(tmp_path) -> Stack:
    return Stack(tmp_path)


@pytest.fixture
def deployed(stack) -> Stack:
    result = stack.up()
    assert result.ok, result.log_text
    stack.new_calls()
    return stack


def test_first_up_creates_app_volumes_secrets_release_and_machines(stack):
    result = stack.up()
    assert result.ok, result.log_text
    calls = stack.new_calls()
    done = verbs(calls)
    # Independent resources may run in any order; dependencies fix the rest.
    assert done[0] == "apps create"
    assert sorted(done[1:]) == sorted([
        "volumes create yyz", "volumes create sin", "volumes create ams", "secrets import",
        "deploy", "scale count sin", "scale count ams",
    ])  # fmt: skip
    assert done.index("deploy") > max(
        done.index("secrets import"), done.index("volumes create yyz")
    )
    assert done.index("scale count sin") > max(
        done.index("deploy"), done.index("volumes create sin")
    )
    assert len(calls) <= 5 + 2 * 2  # the benchmark's budget for prod with two replica regions
    app = flysim.app_record(stack.fly_state, APP)
    assert app["org"] == "personal"
    assert len(app["releases"]) == 1
    assert set(app["secrets"]) >= {"SQLD_AUTH_JWT_KEY", "GRPC_TLS_CA_CERT", "GRPC_TLS_CLIENT_KEY"}
    assert stack.machines_per_region() == {"yyz": 1, "ams": 1, "sin": 2}
    assert {r: len(stack.volumes(r)) for r in ("yyz", "ams", "sin")} == {
        "yyz": 1,
        "ams": 1,
        "sin": 2,
    }
    assert all(v["size_gb"] == 10 for v in stack.volumes())
    assert result.outputs["httpsUrl"] == f"https://{APP}.fly.dev"
    assert result.outputs["libsqlUrl"] == f"libsql://{APP}.fly.dev:5000"
    assert result.outputs["replicaRegions"] == ["ams", "sin"]
    assert {"readWriteToken", "readOnlyToken"} <= result.secret_outputs
    # Deploy progress reaches the user; it is the long step.
    assert any(line.urn.endswith("::deploy") for line in result.logs)


def test_second_up_and_previews_make_no_flyctl_call(deployed):
    assert not deployed.preview().changes()
    again = deployed.up()
    assert again.ok and not again.changes()
    assert deployed.new_calls() == []
    # Tokens are minted deterministically: the same on every run.
    first_tokens = deployed.harness.up(deployed.config).outputs["readWriteToken"]
    assert first_tokens == again.outputs["readWriteToken"]


def test_preview_of_a_new_stack_runs_nothing(stack):
    plan = stack.preview()
    assert plan.ok, plan.log_text
    assert plan.changes()["deploy"] == "create"
    assert stack.new_calls() == []
    assert not stack.fly_state.exists() or not flysim.load_state(stack.fly_state)["apps"]


def test_replica_count_change_runs_only_that_regions_scale(deployed):
    result = deployed.up(**{key("replicas"): json.dumps(["ams=1", "sin=3"])})
    assert result.ok, result.log_text
    assert verbs(deployed.new_calls()) == ["scale count sin"]
    assert deployed.machines_per_region() == {"yyz": 1, "ams": 1, "sin": 3}


def test_run_sh_change_runs_only_a_deploy(deployed):
    run_sh = deployed.project_dir / "assets" / "run.sh"
    run_sh.write_text(run_sh.read_text() + "\n# a change that ships\n")
    result = deployed.up()
    assert result.ok, result.log_text
    assert verbs(deployed.new_calls()) == ["deploy"]
    assert len(flysim.app_record(deployed.fly_state, APP)["releases"]) == 2


def test_bigger_volume_extends_in_place(deployed):
    before = {v["id"] for v in deployed.volumes()}
    result = deployed.up(**{key("volumeSizeGb"): "20"})
    assert result.ok, result.log_text
    calls = verbs(deployed.new_calls())
    assert "volumes create" not in " ".join(calls)
    # Only extends: nothing that ships changed, so no redeploy restarts the machines.
    assert calls.count("volumes extend") == 4 and "deploy" not in calls
    assert {v["id"] for v in deployed.volumes()} == before
    assert all(v["size_gb"] == 20 for v in deployed.volumes())


def test_smaller_volume_is_refused_and_nothing_changes(deployed):
    result = deployed.up(**{key("volumeSizeGb"): "5"})
    assert not result.ok
    assert "cannot shrink" in result.log_text
    assert all(v["size_gb"] == 10 for v in deployed.volumes())


def test_key_rotation_stages_secrets_then_deploys(deployed):
    old = deployed.harness.up(deployed.config).outputs["readWriteToken"]
    old_key = flysim.app_record(deployed.fly_state, APP)["secrets"]["SQLD_AUTH_JWT_KEY"]
    result = deployed.up(**{key("keyVersion"): "2"})
    assert result.ok, result.log_text
    assert verbs(deployed.new_calls()) == ["secrets import", "deploy"]
    assert result.outputs["readWriteToken"] != old
    assert flysim.app_record(deployed.fly_state, APP)["secrets"]["SQLD_AUTH_JWT_KEY"] != old_key


def test_replica_region_added_then_removed_touches_only_that_region(deployed):
    added = deployed.up(**{key("replicas"): json.dumps(["ams=1", "sin=2", "syd=1"])})
    assert added.ok, added.log_text
    assert verbs(deployed.new_calls()) == ["volumes create syd", "scale count syd"]
    assert deployed.machines_per_region()["syd"] == 1
    removed = deployed.up(**{key("replicas"): json.dumps(["ams=1", "sin=2"])})
    assert removed.ok, removed.log_text
    calls = verbs(deployed.new_calls())
    assert calls[0] == "scale count syd" and set(calls[1:]) <= {"volumes list", "volumes destroy"}
    assert "syd" not in deployed.machines_per_region()
    assert deployed.volumes("syd") == []
    assert len(deployed.volumes("yyz")) == 1 and len(deployed.volumes("sin")) == 2


FAILURE_POINTS = [
    "apps create", "volumes create .*yyz", "volumes create .*sin", "secrets import",
    "deploy", "scale count .*sin", "scale count .*ams",
]  # fmt: skip


@pytest.mark.parametrize("point", FAILURE_POINTS)
def test_a_failed_step_then_up_again_converges_without_duplicates(stack, point):
    flysim.inject_failure(stack.fly_state, point)
    failed = stack.up()
    assert not failed.ok and "simulated failure" in failed.log_text
    retried = stack.up()
    assert retried.ok, retried.log_text
    assert list(flysim.load_state(stack.fly_state)["apps"]) == [APP]
    assert {r: len(stack.volumes(r)) for r in ("yyz", "ams", "sin")} == {
        "yyz": 1,
        "ams": 1,
        "sin": 2,
    }
    assert stack.machines_per_region() == {"yyz": 1, "ams": 1, "sin": 2}
    stack.new_calls()
    assert stack.up().ok and stack.new_calls() == []


def test_destroy_removes_everything(deployed):
    result = deployed.destroy()
    assert result.ok, result.log_text
    assert flysim.load_state(deployed.fly_state)["apps"] == {}
    assert deployed.volumes() == []
    assert deployed.harness.resource_names() == []


def test_destroy_with_protect_is_refused_and_deletes_nothing(stack):
    assert stack.up(**{key("protect"): "true"}).ok
    stack.new_calls()
    result = stack.destroy()
    assert not result.ok and "marked for protection" in result.error
    assert stack.new_calls() == []
    assert flysim.app_record(stack.fly_state, APP) is not None


def test_app_name_taken_by_another_org_fails_clearly_and_creates_nothing(stack):
    flysim.seed_org(stack.fly_state, "someone-else", member=False)
    flysim.seed_app(stack.fly_state, APP, "someone-else")
    result = stack.up()
    assert not result.ok
    assert "another organization" in result.log_text
    assert verbs(stack.new_calls())[-1] != "volumes create yyz"
    assert stack.volumes() == []


def test_app_in_our_org_is_adopted(stack):
    flysim.seed_app(stack.fly_state, APP, "personal")
    result = stack.up()
    assert result.ok, result.log_text
    assert "adopting existing app" in result.log_text


def test_no_secret_in_argv_logs_or_plain_state(stack):
    stack.config.update(S3)
    stack.secret_keys = [key("s3AccessKeyId"), key("s3SecretAccessKey")]
    result = stack.up()
    assert result.ok, result.log_text
    secrets = [S3[key("s3AccessKeyId")], S3[key("s3SecretAccessKey")]]
    secrets += [result.outputs["readWriteToken"], result.outputs["readOnlyToken"]]
    for name in stack.harness.resource_names():
        outputs = stack.harness.resource(name)["outputs"]
        secrets += [v for k, v in outputs.items() if k.startswith("privateKeyPem")]
    assert len(secrets) > 6
    fly_state = flysim.load_state(stack.fly_state)
    # flyctl got them (on stdin) ...
    assert fly_state["apps"][APP]["secrets"]["LITESTREAM_SECRET_ACCESS_KEY"]["value"] == secrets[1]
    # ... but no argv, recorded environment, printed line or plain state holds any of them.
    calls_text = json.dumps(fly_state["calls"])
    logs, state_text = result.log_text, stack.harness.state_path.read_text()
    for secret in secrets:
        for line in secret.strip().splitlines()[1:2] or [secret]:  # a PEM's first body line
            assert line not in calls_text
            assert line not in logs
            assert line not in state_text


def test_bad_stack_config_fails_with_one_message_and_registers_nothing(stack):
    result = stack.up(**{key("appName"): "Not_Valid", key("primaryRegion"): "mars"})
    assert not result.ok
    assert "invalid stack config (2 problems)" in result.log_text
    assert f"{key('appName')} = 'Not_Valid'" in result.log_text
    assert f"{key('primaryRegion')} = 'mars'" in result.log_text
    assert "Traceback" not in result.log_text  # a RunError: the message alone
    assert [op for op in result.ops if op.type != "pulumi:pulumi:Stack"] == []
    assert stack.new_calls() == []
