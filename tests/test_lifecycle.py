"""`pulumi up / preview / destroy` of the real program against the flyctl simulator.

Each test copies the project into a temporary folder (so it can edit run.sh or a stack's config
without touching the checkout), runs the program through the harness, and reads what flyctl was
asked to do from the simulator's call log and state.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.fakes import flysim
from tests.prod_stack import APP, S3, Stack, key, verbs

TIGRIS_SECRETS = (
    "AWS_ACCESS_KEY_ID", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_SECRET_ACCESS_KEY",
    "BUCKET_NAME",
)  # fmt: skip


@pytest.fixture
def stack(tmp_path) -> Stack:
    return Stack(tmp_path)


@pytest.fixture(scope="module")
def deployed_once(tmp_path_factory) -> Stack:
    """One first `up` of prod, which tests that start from a deployed stack copy."""
    stack = Stack(tmp_path_factory.mktemp("deployed"))
    result = stack.up()
    assert result.ok, result.log_text
    return stack


@pytest.fixture
def deployed(deployed_once, tmp_path) -> Stack:
    return deployed_once.copy_to(tmp_path)


FIRST_UP_OF_PROD = [
    "ips list", "ips allocate-v6", "ips allocate-v4",
    "storage status", "secrets list", "storage create", "machine list",
    "volumes list", "volumes create yyz", "volumes list", "volumes create ams",
    "volumes list", "volumes create sin", "secrets import", "deploy",
    "scale count ams", "volumes list", "scale count sin", "volumes list",
]  # fmt: skip


def test_first_up_creates_app_ips_volumes_secrets_release_and_machines(stack):
    result = stack.up()
    assert result.ok, result.log_text
    calls = stack.new_calls()
    done = verbs(calls)
    # Independent resources may run in any order; dependencies fix the rest.
    assert done[0] == "apps create"
    assert sorted(done[1:]) == sorted(FIRST_UP_OF_PROD)
    before_deploy = ("secrets import", "volumes create yyz", "ips allocate-v4", "storage create")
    assert done.index("deploy") > max(done.index(v) for v in before_deploy)
    assert done.index("scale count sin") > max(
        done.index("deploy"), done.index("volumes create sin")
    )
    app = flysim.app_record(stack.fly_state, APP)
    assert app["org"] == "personal"
    assert len(app["releases"]) == 1
    assert set(app["secrets"]) >= {"SQLD_AUTH_JWT_KEY", "GRPC_TLS_CA_CERT", "GRPC_TLS_CLIENT_KEY"}
    # Backups go to the app's own Tigris bucket, whose keys flyctl made the app's secrets and
    # the first release carries.
    [bucket] = flysim.buckets(stack.fly_state, app=APP)
    assert bucket["name"] == f"{APP}-backup"
    assert set(app["secrets"]) >= set(TIGRIS_SECRETS)
    for machine in flysim.machines(stack.fly_state, APP):
        assert machine["secrets_digest"] == flysim.secrets_digest_of(app)
    assert stack.machines_per_region() == {"yyz": 1, "ams": 1, "sin": 2}
    assert {r: len(stack.volumes(r)) for r in ("yyz", "ams", "sin")} == {
        "yyz": 1,
        "ams": 1,
        "sin": 2,
    }
    # Every volume, the ones scale count puts under new machines included, as configured.
    assert {(v["size_gb"], v["snapshot_retention"]) for v in stack.volumes()} == {(10, 5)}
    # Reachable: a public IPv6 and a shared IPv4 for APP.fly.dev.
    assert sorted(ip["type"] for ip in flysim.ips(stack.fly_state, APP)) == ["shared_v4", "v6"]
    assert result.outputs["httpsUrl"] == f"https://{APP}.fly.dev"
    assert result.outputs["libsqlUrl"] == f"libsql://{APP}.fly.dev:5000"
    assert result.outputs["replicaRegions"] == ["ams", "sin"]
    assert {"readWriteToken", "readOnlyToken"} <= result.secret_outputs
    # Deploy progress reaches the user; it is the long step.
    assert any(line.urn.endswith("::deploy") for line in result.logs)


def test_volumes_are_placed_for_a_bigger_machine_and_it_fits(stack):
    result = stack.up(**{key("vmSize"): "performance-2x", key("vmMemoryMb"): "4096"})
    assert result.ok, result.log_text
    assert stack.machines_per_region() == {"yyz": 1, "ams": 1, "sin": 2}


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


def test_replica_count_change_touches_only_that_region(deployed):
    result = deployed.up(**{key("replicas"): json.dumps(["ams=1", "sin=3"])})
    assert result.ok, result.log_text
    assert verbs(deployed.new_calls()) == [
        "volumes list", "volumes create sin", "scale count sin", "volumes list",
    ]  # fmt: skip
    assert deployed.machines_per_region() == {"yyz": 1, "ams": 1, "sin": 3}
    assert {(v["size_gb"], v["snapshot_retention"]) for v in deployed.volumes("sin")} == {(10, 5)}


def test_fewer_replicas_leave_one_volume_per_machine(deployed):
    result = deployed.up(**{key("replicas"): json.dumps(["ams=1", "sin=1"])})
    assert result.ok, result.log_text
    assert deployed.machines_per_region()["sin"] == 1
    [volume] = deployed.volumes("sin")
    assert (
        volume["attached_machine_id"]
        == flysim.machines(deployed.fly_state, APP, region="sin")[0]["id"]
    )


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
    # Only lists and extends: nothing that ships changed, so no redeploy restarts machines.
    assert sorted(calls) == ["volumes extend"] * 4 + ["volumes list"] * 3
    assert {v["id"] for v in deployed.volumes()} == before
    assert all(v["size_gb"] == 20 for v in deployed.volumes())


def test_snapshot_retention_change_reaches_every_existing_volume(deployed):
    result = deployed.up(**{key("snapshotRetentionDays"): "14"})
    assert result.ok, result.log_text
    assert sorted(verbs(deployed.new_calls())) == ["volumes list"] * 3 + ["volumes update"] * 4
    assert {v["snapshot_retention"] for v in deployed.volumes()} == {14}


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
    assert verbs(deployed.new_calls()) == [
        "volumes list", "volumes create syd", "scale count syd", "volumes list",
    ]  # fmt: skip
    assert deployed.machines_per_region()["syd"] == 1
    removed = deployed.up(**{key("replicas"): json.dumps(["ams=1", "sin=2"])})
    assert removed.ok, removed.log_text
    calls = verbs(deployed.new_calls())
    assert calls[0] == "scale count syd" and set(calls[1:]) <= {"volumes list", "volumes destroy"}
    assert "syd" not in deployed.machines_per_region()
    assert deployed.volumes("syd") == []
    assert len(deployed.volumes("yyz")) == 1 and len(deployed.volumes("sin")) == 2


# One call of each resource's script (the replica regions share theirs).
FAILURE_POINTS = [
    "apps create", "ips allocate-v4", "storage create", "volumes create .*yyz",
    "secrets import", "deploy", "scale count .*sin",
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
    assert len(flysim.ips(stack.fly_state, APP)) == 2
    assert len(flysim.buckets(stack.fly_state)) == 1
    stack.new_calls()
    assert stack.up().ok and stack.new_calls() == []


def test_destroy_removes_everything(deployed):
    result = deployed.destroy()
    assert result.ok, result.log_text
    assert flysim.load_state(deployed.fly_state)["apps"] == {}
    assert deployed.volumes() == []
    assert flysim.buckets(deployed.fly_state) == []  # the backups go with an unprotected stack
    assert deployed.harness.resource_names() == []


def test_destroy_removes_everything_in_one_run_while_machines_let_go_slowly(deployed):
    # scale count returns before its machines are gone (count_machines.go destroyMachine);
    # the volumes stay bound for a while (the simulator: a few calls).
    deployed.harness.env["FLY_SIM_DETACH_AFTER_CALLS"] = "3"
    result = deployed.destroy()
    assert result.ok, result.log_text
    assert flysim.load_state(deployed.fly_state)["apps"] == {}


@pytest.fixture
def protected(deployed) -> Stack:
    result = deployed.up(**{key("protect"): "true"})
    assert result.ok, result.log_text
    assert deployed.new_calls() == []  # protection lives in state only
    return deployed


def secret_state(stack: Stack) -> dict[str, dict]:
    """Every resource's outputs (keys, certificates, the token timestamp), by name."""
    names = stack.harness.resource_names()
    return {name: stack.harness.resource(name)["outputs"] for name in names}


def test_destroy_of_a_protected_stack_touches_nothing(protected):
    before = secret_state(protected)
    tokens = protected.harness.up(protected.config).outputs
    result = protected.destroy()
    assert not result.ok
    # The engine's text (pkg/resource/deploy/step.go deleteProtectedError).
    assert "destroy-guard\" cannot be deleted\nbecause it is protected" in result.error
    assert protected.new_calls() == []  # nothing stopped, nothing destroyed
    assert [s for s in result.steps if s[1] == "delete"] == [
        (u, "delete") for u, _ in result.steps if u.endswith("::destroy-guard")
    ]
    assert secret_state(protected) == before  # no key, certificate or timestamp dropped
    again = protected.up()
    assert again.ok and not again.changes()
    assert protected.new_calls() == []
    assert again.outputs["readWriteToken"] == tokens["readWriteToken"]
    assert protected.machines_per_region() == {"yyz": 1, "ams": 1, "sin": 2}


def test_a_protected_stack_still_rotates_keys_and_certificates(protected):
    result = protected.up(**{key("keyVersion"): "2", key("tlsVersion"): "2"})
    assert result.ok, result.log_text
    assert verbs(protected.new_calls()) == ["secrets import", "deploy"]


def test_a_protected_stack_still_adds_and_removes_a_region_and_resizes(protected):
    added = protected.up(**{key("replicas"): json.dumps(["ams=1", "sin=2", "syd=1"])})
    assert added.ok, added.log_text
    removed = protected.up(**{key("replicas"): json.dumps(["ams=1", "sin=2"])})
    assert removed.ok, removed.log_text
    assert "syd" not in protected.machines_per_region() and protected.volumes("syd") == []
    grown = protected.up(**{key("volumeSizeGb"): "20"})
    assert grown.ok, grown.log_text
    assert {v["size_gb"] for v in protected.volumes()} == {20}


def test_unprotecting_then_destroying_removes_everything(protected):
    assert protected.up(**{key("protect"): "false"}).ok
    assert protected.new_calls() == []  # protection lives in state only
    result = protected.destroy()
    assert result.ok, result.log_text
    assert flysim.load_state(protected.fly_state)["apps"] == {}


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


def test_state_holds_each_script_apart_from_its_values(deployed):
    volume = deployed.harness.resource("volume-sin")["inputs"]
    scripts = deployed.project_dir / "infra" / "flyctl"
    assert volume["create"].endswith((scripts / "volumes-ensure.sh").read_text())
    assert volume["delete"].endswith((scripts / "volumes-destroy.sh").read_text())
    assert not re.search(r"\bsin\b", volume["create"] + volume["delete"])
    assert (volume["environment"]["REGION"], volume["environment"]["MACHINE_COUNT"]) == ("sin", "2")


def test_no_two_steps_that_lease_machines_can_run_at_once(stack):
    # deploy and scale count lease every machine of the app while they run
    # (scale/count_machines.go AcquireLeases across all regions); another command then waits
    # for the lease and fails after a minute (fly-go flaps/retry.go MaxElapsedTime). The
    # engine runs steps with no dependency path between them at the same time.
    result = stack.up(**{key("replicas"): json.dumps(["ams=1", "sin=2", "syd=1"])})
    assert result.ok, result.log_text
    leasing = ["deploy", "scale-ams", "scale-sin", "scale-syd"]
    together = [
        (a, b) for i, a in enumerate(leasing) for b in leasing[i + 1 :]
        if stack.harness.may_run_together(a, b)
    ]  # fmt: skip
    assert together == []


# Tigris, the default backup target: `storage create` runs once per app, before the first deploy.


def fly(stack: Stack, *argv: str) -> subprocess.CompletedProcess:
    """flyctl (the simulator) run by hand on the stack's Fly account."""
    return subprocess.run(
        [str(flysim.FLY_EXECUTABLE.with_name("flyctl")), *argv],
        env=flysim.sim_env(stack.fly_state), capture_output=True, text=True, check=False,
    )  # fmt: skip


@pytest.fixture
def small(stack) -> Stack:
    """A stack with the primary only: these tests are about the bucket."""
    stack.config[key("replicas")] = "[]"
    return stack


def test_bucket_keys_never_reach_argv_logs_or_state(small):
    result = small.up()
    assert result.ok, result.log_text
    [bucket] = flysim.buckets(small.fly_state, app=APP)
    names = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    keys = [bucket["environment"][n] for n in names]
    app = flysim.app_record(small.fly_state, APP)
    assert [app["secrets"][n]["value"] for n in names] == keys
    # flyctl printed them on stdout; the script sent that nowhere.
    calls_text = json.dumps(flysim.load_state(small.fly_state)["calls"])
    state_text = small.harness.state_path.read_text()
    # flyctl's own log files (~/.fly/logs, every API body in them): none holds a key.
    logs_dir = Path(small.harness.env["HOME"]) / ".fly" / "logs"
    flyctl_logs = "".join(f.read_text() for f in logs_dir.glob("*.log"))
    tls_key_line = app["secrets"]["GRPC_TLS_SERVER_KEY"]["value"].splitlines()[1]
    for secret in [*keys, tls_key_line]:
        assert secret not in calls_text
        assert secret not in result.log_text
        assert secret not in state_text
        assert secret not in flyctl_logs
    assert "made Tigris bucket letter-unboxed-db-backup" in result.log_text


def test_an_existing_bucket_of_the_app_is_adopted_not_made_again(small):
    flysim.seed_app(small.fly_state, APP, "personal")
    made = fly(small, "storage", "create", "-a", APP, "-n", "made-by-hand", "--yes")
    assert made.returncode == 0, made.stderr
    small.new_calls()
    result = small.up()
    assert result.ok, result.log_text
    assert "adopting Tigris bucket made-by-hand" in result.log_text
    assert [b["name"] for b in flysim.buckets(small.fly_state)] == ["made-by-hand"]
    assert "storage create" not in verbs(small.new_calls())


def test_an_app_with_stray_bucket_secrets_is_refused_before_a_bucket_is_made(small):
    flysim.seed_app(small.fly_state, APP, "personal")
    with flysim.edit_state(small.fly_state) as state:
        state["apps"][APP]["secrets"]["AWS_ACCESS_KEY_ID"] = {
            "value": "someone-elses", "digest": "d", "updated_seq": 0,
        }  # fmt: skip
    result = small.up()
    assert not result.ok
    assert "already has secrets AWS_ACCESS_KEY_ID but no Tigris bucket" in result.log_text
    assert "flyctl secrets unset AWS_ACCESS_KEY_ID -a letter-unboxed-db --stage" in result.log_text
    assert flysim.buckets(small.fly_state) == []
    assert "deploy" not in verbs(small.new_calls())


def test_a_bucket_name_taken_elsewhere_is_said_with_the_key_to_change(small):
    flysim.seed_app(small.fly_state, "someone-else", "personal")
    taken = fly(small, "storage", "create", "-a", "someone-else", "-n", f"{APP}-backup", "--yes")
    assert taken.returncode == 0, taken.stderr
    result = small.up()
    assert not result.ok
    assert "is taken (Tigris bucket names are global): set s3Bucket" in result.log_text
    retried = small.up(**{key("s3Bucket"): "letter-unboxed-db-backups-2"})
    assert retried.ok, retried.log_text
    assert [b["name"] for b in flysim.buckets(small.fly_state, app=APP)] == [
        "letter-unboxed-db-backups-2"
    ]


def test_a_protected_stack_keeps_its_bucket_through_destroy_and_a_target_change(small):
    assert small.up(**{key("protect"): "true"}).ok
    assert not small.destroy().ok
    assert len(flysim.buckets(small.fly_state, app=APP)) == 1
    changed = small.up(**{key("backupTarget"): "file"})
    assert not changed.ok
    assert "backup-bucket\" cannot be deleted" in changed.log_text
    assert len(flysim.buckets(small.fly_state, app=APP)) == 1


# Moving the primary: a new primaryRegion, with the backup off the machine.


def test_a_new_primary_region_moves_the_primary_through_the_backup(deployed):
    [old_primary] = flysim.machines(deployed.fly_state, APP, region="yyz")
    result = deployed.up(**{key("primaryRegion"): "fra"})
    assert result.ok, result.log_text
    done = verbs(deployed.new_calls())
    # The new region's volume first; then the old primary stops (SIGTERM, Litestream's last
    # sync) and goes; the release moves every replica to the new primary, which starts on its
    # empty volume (run.sh restores the backup); the old volume goes last.
    order = ["volumes create fra", "machine stop", "scale count yyz", "deploy", "scale count fra",
             "volumes destroy"]  # fmt: skip
    assert [v for v in done if v in order] == order
    assert deployed.machines_per_region() == {"fra": 1, "ams": 1, "sin": 2}
    envs = {m["config"]["env"]["PRIMARY_REGION"] for m in flysim.machines(deployed.fly_state, APP)}
    assert envs == {"fra"}
    stop = flysim.load_state(deployed.fly_state)["machines"][old_primary["id"]]["last_stop"]
    assert stop["signal"] == "SIGTERM" and stop["timeout"] == "30s"  # killTimeoutSeconds
    assert deployed.volumes("yyz") == [] and len(deployed.volumes("fra")) == 1
    assert len(flysim.buckets(deployed.fly_state, app=APP)) == 1  # the same backup, kept
    again = deployed.up()
    assert again.ok and not again.changes() and deployed.new_calls() == []


def test_a_protected_stack_moves_too_and_keeps_the_old_volume_for_later(protected):
    result = protected.up(**{key("primaryRegion"): "fra"})
    assert result.ok, result.log_text
    assert protected.machines_per_region() == {"fra": 1, "ams": 1, "sin": 2}
    [kept] = protected.volumes("yyz")
    running = {m["id"] for m in flysim.machines(protected.fly_state, APP)}
    assert kept["attached_machine_id"] not in running  # its machine is gone; it detaches
    assert "volume-yyz" not in protected.harness.resource_names()  # released, kept on Fly
    assert not protected.destroy().ok  # still protected as a whole


def test_a_move_with_file_backups_is_refused_in_preview_before_anything_runs(stack):
    assert stack.up(**{key("backupTarget"): "file"}).ok
    stack.new_calls()
    before = secret_state(stack)
    planned = stack.preview()
    assert planned.ok
    for run in (stack.preview, stack.up):
        stack.config[key("primaryRegion")] = "fra"
        result = run()
        assert not result.ok
        assert result.error.startswith(
            'before hook "refuse-a-primary-move-that-loses-data" failed: '
            "letter-unboxed-db:primaryRegion yyz -> fra: with backupTarget file"
        )
    assert stack.new_calls() == []
    assert secret_state(stack) == before  # no key or certificate made either
    assert stack.machines_per_region() == {"yyz": 1, "ams": 1, "sin": 2}


def test_a_move_in_the_same_run_as_a_new_backup_is_refused(stack):
    assert stack.up(**{key("backupTarget"): "file"}).ok
    stack.new_calls()
    result = stack.up(**{key("backupTarget"): "tigris", key("primaryRegion"): "fra"})
    assert not result.ok
    assert "in the same run as a new backup location" in result.error
    assert stack.new_calls() == []


def test_a_stack_with_file_backups_switches_to_tigris_in_one_up(small):
    assert small.up(**{key("backupTarget"): "file"}).ok
    small.new_calls()
    result = small.up(**{key("backupTarget"): "tigris"})
    assert result.ok, result.log_text
    done = verbs(small.new_calls())
    # flyctl deploys the bucket's secrets itself (a restart), then the new litestream.yml ships.
    assert done.index("storage create") < done.index("deploy")
    app = flysim.app_record(small.fly_state, APP)
    assert set(app["secrets"]) >= set(TIGRIS_SECRETS)
    [machine] = flysim.machines(small.fly_state, APP)
    assert machine["secrets_digest"] == flysim.secrets_digest_of(app)


def test_a_clone_gets_the_sources_keys_as_secrets_and_nowhere_else(small):
    clone = {
        key("restoreFrom"): "s3://letter-unboxed-db-prod-backup/backups",
        key("restoreFromTime"): "2026-11-30T01:02:03Z",
        key("restoreFromAccessKeyId"): "tid_CloneReadOnlyKeyId",
        key("restoreFromSecretAccessKey"): "tsec_CloneReadOnlySecret0123456789",
    }
    small.secret_keys = [key("restoreFromAccessKeyId"), key("restoreFromSecretAccessKey")]
    result = small.up(**clone)
    assert result.ok, result.log_text
    secrets = flysim.app_record(small.fly_state, APP)["secrets"]
    assert secrets["RESTORE_FROM_ACCESS_KEY_ID"]["value"] == "tid_CloneReadOnlyKeyId"
    calls_text = json.dumps(flysim.load_state(small.fly_state)["calls"])
    state_text = small.harness.state_path.read_text()
    for value in ("tid_CloneReadOnlyKeyId", "tsec_CloneReadOnlySecret0123456789"):
        assert value not in calls_text and value not in result.log_text
        assert value not in state_text
