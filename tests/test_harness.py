"""The harness behaves like `pulumi up` + pulumi-command on a throwaway program.

Each test writes a small program whose Commands append lines to a log file, then runs
up/preview/destroy through the harness and checks what ran, in what order, and what state
and logs hold. Every harness run is a fresh Python process (~0.5 s).
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from tests.harness import Harness

PROJECT = "t"

# One program for the lifecycle tests; config knobs switch its shape between runs.
LIFECYCLE_PROGRAM = """
import pulumi
from pulumi_command import local

cfg = pulumi.Config()
LOG = cfg.require("log")


def note(text):
    return f'echo "{text}" >> "{LOG}"'


app = local.Command(
    "app",
    create=note("create app $MARK") + " && sleep 0.2 && echo app-id-1",
    update=note("update app $MARK prev=$PULUMI_COMMAND_STDOUT") + " && echo app-id-2",
    delete=note("delete app $MARK prev=$PULUMI_COMMAND_STDOUT"),
    environment={"MARK": cfg.get("mark") or "m1"},
    triggers=[cfg.get("appTrigger") or "t1"],
    opts=pulumi.ResourceOptions(
        delete_before_replace=cfg.get_bool("dbr") or False,
        protect=cfg.get_bool("protect") or False,
    ),
)
# No update script: an input change runs create again.
volume = local.Command(
    "volume",
    create=app.stdout.apply(lambda app_id: note(f"create volume on {app_id}")),
    delete=note("delete volume"),
)
# Waits for app only through depends_on (no input comes from app).
ordered = local.Command(
    "ordered",
    create=note("create ordered"),
    delete=note("delete ordered"),
    opts=pulumi.ResourceOptions(depends_on=[app]),
)
if cfg.get_bool("withCache"):
    # The delete reads only its stored environment, never today's program.
    local.Command(
        "cache",
        create=note("create cache $CACHE_MARK"),
        delete='echo "delete cache $CACHE_MARK" >> "$LOG_FILE"',
        environment={"CACHE_MARK": cfg.get("cacheMark") or "c1", "LOG_FILE": LOG},
    )
if cfg.get_bool("withGate"):
    flag = cfg.require("flag")
    gate = local.Command(
        "gate",
        create=f'test -f "{flag}" || {{ echo "gate closed" >&2; exit 3; }}; '
        + note("create gate " + (cfg.get("gateVersion") or "v1")) + "; echo opened",
        opts=pulumi.ResourceOptions(depends_on=[volume]),
    )
    local.Command(
        "after",
        create=gate.stdout.apply(lambda out: note(f"create after {out}")),
        delete=note("delete after"),
    )
pulumi.export("appId", app.stdout)
"""


def write_program(directory: Path, source: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    program = directory / "__main__.py"
    program.write_text(textwrap.dedent(source))
    return program


class Stack:
    """A harness plus the log file its program writes, for short tests."""

    def __init__(self, tmp_path: Path, source: str, name: str = "dev", **harness_args):
        self.log = tmp_path / f"{name}-commands.log"
        program = write_program(tmp_path / f"{name}-program", source)
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
        self.harness = Harness(
            workdir=tmp_path / f"{name}-state", program=program, project=PROJECT, stack=name,
            env=env, **harness_args,
        )
        self.seen = 0

    def config(self, **knobs) -> dict[str, str]:
        config = {f"{PROJECT}:log": str(self.log)}
        config.update({f"{PROJECT}:{k}": str(v).lower() if isinstance(v, bool) else str(v)
                       for k, v in knobs.items()})
        return config

    def up(self, secret_keys=(), **knobs):
        return self.harness.up(self.config(**knobs), [f"{PROJECT}:{k}" for k in secret_keys])

    def preview(self, **knobs):
        return self.harness.preview(self.config(**knobs))

    def destroy(self):
        return self.harness.destroy()

    def new_lines(self) -> list[str]:
        """Log lines written since the last call."""
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        fresh, self.seen = lines[self.seen:], len(lines)
        return fresh


@pytest.fixture
def stack(tmp_path):
    return Stack(tmp_path, LIFECYCLE_PROGRAM)


def test_first_up_follows_dependencies_and_second_up_runs_nothing(stack):
    first = stack.up()
    assert first.ok, first.error
    assert first.changes() == {"app": "create", "volume": "create", "ordered": "create"}
    lines = stack.new_lines()
    # volume waits for app's stdout, ordered for app via depends_on, though app sleeps.
    assert lines[0] == "create app m1"
    assert sorted(lines[1:]) == ["create ordered", "create volume on app-id-1"]
    assert first.outputs == {"appId": "app-id-1"}
    app_urn = stack.harness.resource("app")["urn"]
    assert stack.harness.resource("ordered")["dependencies"] == [app_urn]

    second = stack.up()
    assert second.ok, second.error
    assert second.changes() == {}
    assert {op.op for op in second.ops} == {"same"}
    assert stack.new_lines() == []
    assert second.outputs == {"appId": "app-id-1"}


def test_input_change_runs_update_or_create_again(stack):
    stack.up()
    stack.new_lines()

    changed = stack.up(mark="m2")
    assert changed.ok, changed.error
    # app has an update script; volume has none, so its create runs again.
    assert changed.changes() == {"app": "update", "volume": "update"}
    assert stack.new_lines() == ["update app m2 prev=app-id-1", "create volume on app-id-2"]
    assert stack.harness.resource("app")["outputs"]["stdout"] == "app-id-2"


def test_trigger_change_creates_the_replacement_before_deleting_the_old(stack):
    stack.up()
    stack.new_lines()

    replaced = stack.up(appTrigger="t2")
    assert replaced.ok, replaced.error
    assert replaced.op("app") == "replace"
    assert replaced.op("volume") == "same"  # the new app printed the same id
    # The old app's delete runs last, with its own stored env and output.
    assert stack.new_lines() == ["create app m1", "delete app m1 prev=app-id-1"]
    assert stack.harness.resource_names().count("app") == 1


def test_delete_before_replace_deletes_the_old_first(tmp_path):
    stack = Stack(tmp_path, LIFECYCLE_PROGRAM)
    stack.up(dbr=True)
    stack.new_lines()

    replaced = stack.up(dbr=True, appTrigger="t2", mark="m2")
    assert replaced.ok, replaced.error
    assert replaced.op("app") == "replace"
    assert stack.new_lines() == ["delete app m1 prev=app-id-1", "create app m2"]


def test_removed_resource_runs_the_delete_and_environment_stored_in_state(stack):
    stack.up(withCache=True, cacheMark="c1")
    assert "create cache c1" in stack.new_lines()

    removed = stack.up(withCache=False, cacheMark="c2")
    assert removed.ok, removed.error
    assert removed.changes() == {"cache": "delete"}
    assert stack.new_lines() == ["delete cache c1"]
    assert "cache" not in stack.harness.resource_names()


def test_failed_create_stops_the_run_and_a_retry_converges(stack):
    flag = stack.log.parent / "gate-open"
    stack.up()
    stack.new_lines()

    failed = stack.up(withGate=True, flag=flag)
    assert not failed.ok
    assert failed.error.startswith('exit status 3: running "test -f')
    assert "gate closed" in failed.error
    assert "error: exit status 3" in failed.log_text
    assert stack.new_lines() == []  # `after` never ran
    assert "gate" not in stack.harness.resource_names()  # a failed create stores nothing
    assert "after" not in stack.harness.resource_names()

    flag.touch()
    retried = stack.up(withGate=True, flag=flag)
    assert retried.ok, retried.error
    assert retried.changes() == {"gate": "create", "after": "create"}
    assert stack.new_lines() == ["create gate v1", "create after opened"]

    # A failed update keeps the old state, so the next up tries the update again.
    flag.unlink()
    failed_update = stack.up(withGate=True, flag=flag, gateVersion="v2")
    assert not failed_update.ok
    gate = stack.harness.resource("gate")
    assert "v1" in gate["inputs"]["create"] and gate["outputs"]["stdout"] == "opened"
    flag.touch()
    assert stack.up(withGate=True, flag=flag, gateVersion="v2").changes() == {"gate": "update"}
    assert stack.up(withGate=True, flag=flag, gateVersion="v2").changes() == {}


def test_protect_refuses_destroy_before_anything_is_deleted(stack):
    stack.up(protect=True, withCache=True)
    stack.new_lines()

    no_replace = stack.up(protect=True, withCache=True, appTrigger="t2")
    assert not no_replace.ok
    assert no_replace.error.startswith('unable to replace resource "urn:pulumi:dev::t::')
    assert stack.new_lines() == []  # refused before the replacement was created

    refused = stack.destroy()
    assert not refused.ok
    assert 'unable to delete resource "urn:pulumi:dev::t::' in refused.error
    assert "as it is currently marked for protection" in refused.error
    assert stack.new_lines() == []  # not even the unprotected ones
    assert set(stack.harness.resource_names()) == {"app", "volume", "ordered", "cache"}

    unprotected = stack.up(protect=False, withCache=True)
    assert unprotected.changes() == {}  # only the flag changed: no command runs
    destroyed = stack.destroy()
    assert destroyed.ok, destroyed.error
    lines = stack.new_lines()
    # Reverse dependency order; PULUMI_COMMAND_STDOUT carries app's last output to its delete.
    assert lines[-1] == "delete app m1 prev=app-id-1"
    assert lines.index("delete volume") < lines.index("delete app m1 prev=app-id-1")
    assert set(lines) == {"delete cache c1", "delete volume", "delete ordered",
                          "delete app m1 prev=app-id-1"}
    assert stack.harness.resource_names() == []


def test_preview_plans_without_running_anything(stack):
    planned = stack.preview()
    assert planned.ok, planned.error
    assert planned.changes() == {"app": "create", "volume": "create", "ordered": "create"}
    assert not stack.log.exists()
    assert not stack.harness.state_path.exists()

    stack.up()
    stack.new_lines()
    planned = stack.preview(mark="m2", withCache=True)
    assert planned.changes() == {"app": "update", "volume": "update", "cache": "create"}
    assert stack.new_lines() == []
    assert stack.up().changes() == {}  # the preview changed no state


def test_preview_still_runs_local_run_invokes(tmp_path):
    # FIELD-NOTES: `local.run` is an invoke, so it runs during preview too.
    program = """
    import pulumi
    from pulumi_command import local
    log = pulumi.Config().require("log")
    local.run(command=f'echo "invoked" >> "{log}"')
    local.Command("never", create=f'echo "created" >> "{log}"')
    """
    stack = Stack(tmp_path, program)
    planned = stack.preview()
    assert planned.ok, planned.error
    assert stack.new_lines() == ["invoked"]


SECRETS_PROGRAM = """
import pulumi
from pulumi_command import local

cfg = pulumi.Config()
out = cfg.require("out")
token = cfg.require_secret("token")
seed = cfg.require_secret("seed")

local.Command(
    "reader",
    create=f'cat > "{out}/stdin.txt"; printf %s "$TOKEN" > "{out}/env.txt"; echo done',
    stdin=seed,
    environment={"TOKEN": token},
)
# pulumi-command does not make stdout secret because an input is secret.
echo_plain = local.Command("echo-plain", create='echo "$TOKEN"', environment={"TOKEN": token},
                           logging=local.Logging.NONE)
echo_secret = local.Command(
    "echo-secret", create='echo "$TOKEN"', environment={"TOKEN": token},
    logging=local.Logging.NONE,
    opts=pulumi.ResourceOptions(additional_secret_outputs=["stdout"]),
)
echo_logged = local.Command("echo-logged", create='echo "$TOKEN" >&2', environment={"TOKEN": token},
                            opts=pulumi.ResourceOptions(additional_secret_outputs=["stderr"]))
pulumi.export("plain", echo_plain.stdout)
pulumi.export("secret", echo_secret.stdout)
"""


def plaintext_paths(state: dict, text: str) -> list[str]:
    """Where `text` appears in plain (unencrypted) state values."""
    found = []

    def walk(value, path):
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{path}/{key}")
        elif isinstance(value, list):
            for item in value:
                walk(item, path)
        elif isinstance(value, str) and text in value:
            found.append(path)

    for entry in state["resources"]:
        walk(entry, entry["urn"].rsplit("::", 1)[-1])
    return found


def test_stdin_environment_and_secrets(tmp_path):
    stack = Stack(tmp_path, SECRETS_PROGRAM)
    token, seed = "tok-3f9a1c", "seed-77e2b0"
    result = stack.harness.up(
        {f"{PROJECT}:out": str(tmp_path), f"{PROJECT}:token": token, f"{PROJECT}:seed": seed,
         f"{PROJECT}:log": str(stack.log)},
        [f"{PROJECT}:token", f"{PROJECT}:seed"],
    )
    assert result.ok, result.error
    assert (tmp_path / "stdin.txt").read_text() == seed
    assert (tmp_path / "env.txt").read_text() == token

    assert result.outputs == {"plain": token, "secret": token}
    assert result.secret_outputs == {"secret"}
    # Only the unmarked stdout (and the stack output copied from it) is plaintext in state.
    raw_state = stack.harness.state_path.read_text()
    assert seed not in raw_state
    assert plaintext_paths(json.loads(raw_state), token) == [
        "t-dev/outputs/plain", "echo-plain/outputs/stdout"]
    # Default logging prints stderr even when the output is marked secret; NONE prints nothing.
    logged = [line.urn.rsplit("::", 1)[-1] for line in result.logs if token in line.text]
    assert logged == ["echo-logged"]


def test_child_holding_stdout_is_reported_not_hung(tmp_path):
    program = """
    import pulumi
    from pulumi_command import local
    local.Command("daemon", create="sleep 30 & echo started")
    """
    stack = Stack(tmp_path, program, pipe_close_timeout=0.5)
    result = stack.up()
    assert not result.ok
    assert "stdout/stderr stayed open" in result.error
    assert "daemon" not in stack.harness.resource_names()


TLS_PROGRAM = """
import pulumi
import pulumi_tls as tls

cfg = pulumi.Config()
ed = tls.PrivateKey("ed", algorithm="ED25519")
ec = tls.PrivateKey("ec", algorithm="ECDSA", ecdsa_curve=cfg.get("curve") or "P256")
ca = tls.SelfSignedCert(
    "ca", private_key_pem=ec.private_key_pem, validity_period_hours=24, is_ca_certificate=True,
    allowed_uses=["cert_signing", "digital_signature"], subject={"common_name": "harness ca"},
)
pulumi.export("edPem", ed.private_key_pem)
pulumi.export("edPublic", ed.public_key_pem)
pulumi.export("edOpenssh", ed.public_key_openssh)
pulumi.export("ecPem", ec.private_key_pem)
pulumi.export("caPem", ca.cert_pem)
"""


def test_tls_keys_are_real_secret_and_stable(tmp_path):
    stack = Stack(tmp_path, TLS_PROGRAM)
    first = stack.up()
    assert first.ok, first.error
    out = first.outputs
    assert {"edPem", "ecPem"} <= first.secret_outputs
    assert "edPublic" not in first.secret_outputs

    ed_key = serialization.load_pem_private_key(out["edPem"].encode(), password=None)
    assert isinstance(ed_key, ed25519.Ed25519PrivateKey)
    ed_public = ed_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert ed_public.decode() == out["edPublic"]
    assert out["edOpenssh"].startswith("ssh-ed25519 ") and out["edOpenssh"].endswith("\n")
    ec_key = serialization.load_pem_private_key(out["ecPem"].encode(), password=None)
    assert isinstance(ec_key.curve, ec.SECP256R1)
    cert = x509.load_pem_x509_certificate(out["caPem"].encode())
    assert cert.public_key().public_numbers() == ec_key.public_key().public_numbers()
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca

    raw_state = stack.harness.state_path.read_text()
    assert out["edPem"].splitlines()[1] not in raw_state
    assert out["ecPem"].splitlines()[1] not in raw_state

    again = stack.up()
    assert again.changes() == {}
    assert again.outputs == out

    recurved = stack.up(curve="P384")
    assert recurved.changes() == {"ec": "replace", "ca": "replace"}
    assert recurved.outputs["edPem"] == out["edPem"]
    new_ec = serialization.load_pem_private_key(recurved.outputs["ecPem"].encode(), None)
    assert isinstance(new_ec.curve, ec.SECP384R1)
