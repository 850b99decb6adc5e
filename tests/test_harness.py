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

from tests.harness import Harness, cliconfig

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


def protect_refusal(stack: Stack, name: str) -> str:
    """The engine's whole message for refusing to delete the protected resource `name`."""
    urn = next(e["urn"] for e in stack.harness.state()["resources"]
               if e["urn"].endswith("::" + name))
    return (
        f'resource "{urn}" cannot be deleted\nbecause it is protected. To unprotect the resource, '
        "either remove the `protect` flag from the resource in your Pulumi program and run "
        f"`pulumi up`, or use the command:\n`pulumi state unprotect '{urn}'`"
    )


def test_protected_replace_stops_up_before_the_replacement_but_preview_goes_on(stack):
    stack.up(protect=True)
    stack.new_lines()

    planned = stack.preview(protect=True, appTrigger="t2", withCache=True)
    assert not planned.ok
    assert planned.error.startswith('unable to replace resource "urn:pulumi:dev::t::')
    assert "as it is currently marked for protection" in planned.error
    # Preview reports the error and still shows the rest of the plan (volume reads app's
    # stdout, unknown until a replacement would run).
    assert planned.changes() == {"app": "replace", "volume": "update", "cache": "create"}

    refused = stack.up(protect=True, appTrigger="t2", withCache=True)
    assert not refused.ok
    assert refused.error == planned.error
    # No replacement of app. cache does not depend on app: the engine runs independent steps
    # at once, so whether it was created before the refusal depends on timing, there as here.
    assert [line for line in stack.new_lines() if "app" in line.split()] == []


# `vault` is protected (knob) and needs, transitively: its parent component `shelf`, `base`
# (depends_on) and `root` (through base's environment); `leaf` needs vault; `side` is unrelated.
PROTECT_PROGRAM = """
import pulumi
from pulumi_command import local

cfg = pulumi.Config()
LOG = cfg.require("log")
full = cfg.get_bool("full") is not False


def command(name, **kwargs):
    return local.Command(name, create=f'echo "create {name}" >> "{LOG}"',
                         delete=f'echo "delete {name}" >> "{LOG}"', **kwargs)


class Shelf(pulumi.ComponentResource):
    def __init__(self, name, opts=None):
        super().__init__("t:index:Shelf", name, None, opts)


if full:
    command("side")
root = command("root")
base = command("base", environment={"ROOT": root.stdout})
if full:
    shelf = Shelf("shelf")
    vault = command("vault", opts=pulumi.ResourceOptions(
        parent=shelf, depends_on=[base], protect=cfg.get_bool("protect") or False))
    command("leaf", opts=pulumi.ResourceOptions(depends_on=[vault]))
"""


def test_destroy_goes_on_past_a_protected_resource_and_keeps_what_it_depends_on(tmp_path):
    stack = Stack(tmp_path, PROTECT_PROGRAM)
    assert stack.up(protect=True).ok
    stack.new_lines()

    refused = stack.destroy()
    assert not refused.ok
    assert refused.error == protect_refusal(stack, "vault")
    # leaf goes first; side, after the refusal, too. vault's parent, its dependency and that
    # one's dependency are never stepped.
    assert stack.new_lines() == ["delete leaf", "delete side"]
    assert [refused.op(name) for name in ("shelf", "base", "root")] == [None, None, None]
    assert set(stack.harness.resource_names()) == {"root", "base", "shelf", "vault"}
    assert stack.harness.resource("vault")["protect"]

    assert stack.up(protect=False).changes() == {"leaf": "create", "side": "create"}
    stack.new_lines()
    destroyed = stack.destroy()
    assert destroyed.ok, destroyed.error
    lines = stack.new_lines()
    assert lines.index("delete vault") < lines.index("delete base") < lines.index("delete root")
    assert stack.harness.resource_names() == []


def test_up_refuses_to_delete_a_protected_resource_and_deletes_the_rest(tmp_path):
    stack = Stack(tmp_path, PROTECT_PROGRAM)
    assert stack.up(protect=True).ok
    stack.new_lines()

    planned = stack.preview(full=False)
    assert not planned.ok
    assert planned.error == protect_refusal(stack, "vault")  # refused in preview too
    assert planned.changes() == {"leaf": "delete", "vault": "delete", "side": "delete"}

    removed = stack.up(full=False)
    assert not removed.ok
    assert removed.error == protect_refusal(stack, "vault")
    # shelf, vault's parent, is no longer in the program either, but stays with vault.
    assert stack.new_lines() == ["delete leaf", "delete side"]
    assert set(stack.harness.resource_names()) == {"root", "base", "shelf", "vault"}


def test_a_child_of_a_protected_component_is_protected(tmp_path):
    program = """
    import pulumi
    from pulumi_command import local

    log = pulumi.Config().require("log")
    shelf = pulumi.ComponentResource("t:index:Shelf", "shelf",
                                     opts=pulumi.ResourceOptions(protect=True))
    local.Command("inner", create="true", delete=f'echo "delete inner" >> "{log}"',
                  opts=pulumi.ResourceOptions(parent=shelf))
    local.Command("loose", create="true", delete=f'echo "delete loose" >> "{log}"',
                  opts=pulumi.ResourceOptions(parent=shelf, protect=False))
    """
    stack = Stack(tmp_path, program)
    assert stack.up().ok
    assert stack.harness.resource("shelf")["protect"]
    assert stack.harness.resource("inner")["protect"]  # inherited from the parent
    assert not stack.harness.resource("loose")["protect"]  # an explicit False wins

    refused = stack.destroy()
    assert refused.error == protect_refusal(stack, "inner")
    assert stack.new_lines() == ["delete loose"]
    assert stack.harness.resource_names() == ["shelf", "inner"]


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


# --- the CLI's config validation (tests/harness/cliconfig.py) ------------------------------------


def project_config(tmp_path: Path, config_block: str, name: str = PROJECT) -> dict:
    path = tmp_path / "Pulumi.yaml"
    path.write_text(f"name: {name}\nruntime: python\nconfig:\n" + textwrap.indent(
        textwrap.dedent(config_block), "  "))
    return cliconfig.load_project(path)


def refusal(project: dict, config: dict[str, str], secret_keys=()) -> str | None:
    try:
        cliconfig.apply_project_config(project, "prod", config, list(secret_keys))
    except cliconfig.ConfigError as error:
        return str(error)
    return None


@pytest.mark.parametrize("present, missing_text", [
    (["zone", "size"], "value 'region'"),
    (["zone"], "values 'region' and 'size'"),
    ([], "values 'region', 'size' and 'zone'"),
])
def test_every_missing_key_without_default_is_named_in_one_error(tmp_path, present, missing_text):
    project = project_config(tmp_path, """
        zone: {}
        size: {type: integer}
        region: {type: string, description: no default and no value}
        color: {type: string, default: red}
        label: {value: fixed}
        aws:region: {value: us-east-1}
    """)
    config = {f"{PROJECT}:{key}": "1" for key in present}
    assert refusal(project, config) == (
        f"validating stack config: Stack 'prod' is missing configuration {missing_text}")


def test_a_typed_secret_key_needs_an_encrypted_value_even_over_its_default(tmp_path):
    project = project_config(tmp_path, """
        token: {type: string, secret: true}
        pin: {type: integer, secret: true, default: 1234}
        loose: {secret: true}
    """)
    must_encrypt = "validating stack config: Stack 'prod' with configuration key '{}' " \
        "must be encrypted as it's secret"
    token, pin, loose = f"{PROJECT}:token", f"{PROJECT}:pin", f"{PROJECT}:loose"
    assert refusal(project, {token: "t", pin: "1", loose: "l"}, [pin]) == must_encrypt.format(
        "token")
    # A default is merged as a plain value, so a typed secret key's default is refused.
    assert refusal(project, {token: "t", loose: "l"}, [token]) == must_encrypt.format("pin")
    # An untyped key is never checked, secret or not.
    merged, secret_keys = cliconfig.apply_project_config(
        project, "prod", {token: "t", pin: "1", loose: "l"}, [token, pin])
    assert secret_keys == [pin, token]
    assert merged[loose] == "l"


@pytest.mark.parametrize("declared, value, secret, full_type", [
    ("{type: integer}", "20", False, None),
    ("{type: integer}", "-7", True, None),  # a secure value is checked once decrypted
    ("{type: integer}", "twenty", True, "integer"),
    ("{type: integer}", "1.5", False, "integer"),
    ("{type: boolean}", "false", False, None),
    ("{type: boolean}", "yes", False, "boolean"),
    ("{type: string}", "20", False, None),
    ("{type: string}", '["a"]', False, "string"),
    ("{type: array, items: {type: string}}", '["a", "b"]', False, None),
    ("{type: array, items: {type: string}}", '["a", 1]', False, "array<string>"),
    ("{type: array, items: {type: string}}", "a", False, "array<string>"),
    ("{type: array, items: {type: integer}}", "[1, 2.0]", False, None),
    ("{type: array, items: {type: array, items: {type: boolean}}}", "[[true]]", False, None),
    ("{type: array, items: {type: array, items: {type: boolean}}}", "[[1]]", False,
     "array<array<boolean>>"),
])
def test_values_must_fit_the_declared_type(tmp_path, declared, value, secret, full_type):
    project = project_config(tmp_path, f"key: {declared}\n")
    key = f"{PROJECT}:key"
    expected = full_type and (
        f"validating stack config: Stack 'prod' with configuration key 'key' "
        f"must be of type '{full_type}'")
    assert refusal(project, {key: value}, [key] if secret else []) == expected


def test_defaults_fill_in_as_text_and_undeclared_keys_pass_through(tmp_path):
    project = project_config(tmp_path, """
        size: {type: integer, default: 5}
        debug: false
        zones: {type: array, items: {type: string}, default: [a, "b&c"]}
        name: {type: string, default: db}
        label: {value: fixed}
        aws:region: {value: us-east-1}
    """)
    stack = {f"{PROJECT}:name": "mine", f"{PROJECT}:extra": "undeclared",
             "other:thing": "foreign", f"{PROJECT}:token": "s"}
    merged, secret_keys = cliconfig.apply_project_config(
        project, "prod", stack, [f"{PROJECT}:token"])
    assert merged == {
        f"{PROJECT}:size": "5", f"{PROJECT}:debug": "false",
        f"{PROJECT}:zones": '["a","b\\u0026c"]',  # encoding/json escapes &
        f"{PROJECT}:name": "mine", f"{PROJECT}:label": "fixed", "aws:region": "us-east-1",
        f"{PROJECT}:extra": "undeclared", "other:thing": "foreign", f"{PROJECT}:token": "s",
    }
    assert secret_keys == [f"{PROJECT}:token"]  # defaults are never secret


@pytest.mark.parametrize("declaration, message", [
    ("x: {default: 1, value: 2}", "project config 'x' cannot have both a 'default' and 'value' "
     "attribute"),
    ("x: {type: array}", "The configuration key 'x' declares an array but does not specify the "
     "underlying type via the 'items' attribute"),
    ("x: {type: integer, default: ten}", "The default value specified for configuration key 'x' "
     "is not of the expected type 'integer'"),
    ("aws:region: {type: string, value: a}", "Configuration key 'aws:region' is not namespaced "
     "by the project and should not define a type"),
    ("aws:region: {}", "Configuration key 'aws:region' is namespaced and must provide an "
     "attribute 'value'"),
])
def test_a_bad_declaration_refuses_the_project(tmp_path, declaration, message):
    with pytest.raises(cliconfig.ConfigError) as refused:
        project_config(tmp_path, declaration + "\n")
    assert str(refused.value) == f"could not unmarshal '{tmp_path / 'Pulumi.yaml'}': {message}"


def test_a_secret_key_may_declare_a_default(tmp_path):
    project = project_config(tmp_path, "token: {secret: true, default: none}\n")
    assert cliconfig.apply_project_config(project, "prod", {}) == ({f"{PROJECT}:token": "none"}, [])


def test_a_stack_file_loads_as_the_cli_hands_it_to_the_program(tmp_path):
    stack_file = tmp_path / "Pulumi.prod.yaml"
    stack_file.write_text(textwrap.dedent("""\
        config:
          t:mode: off
          t:on: true
          t:count: 3
          t:ratio: 2.50
          t:replicas: [ams=1, sin=2]
          t:token:
            secure: v1:standin
          t:s3:
            bucket: b
            key:
              secure: k
          plain: value
          aws:region: us-east-1
    """))
    config, secret_keys = cliconfig.load_stack_file(stack_file, PROJECT)
    assert config == {
        "t:mode": "off",  # go-yaml v3 reads only true/false as booleans
        "t:on": "true", "t:count": "3", "t:ratio": "2.5",
        "t:replicas": '["ams=1","sin=2"]', "t:token": "v1:standin",
        "t:s3": '{"bucket":"b","key":"k"}', "t:plain": "value", "aws:region": "us-east-1",
    }
    assert secret_keys == ["t:s3", "t:token"]


CONFIG_PROGRAM = """
import pathlib

import pulumi
from pulumi_command import local

pathlib.Path("program-ran").touch()
cfg = pulumi.Config()
local.Command("thing", create="echo made")
pulumi.export("region", cfg.get("region"))
pulumi.export("size", cfg.get_int("size"))
pulumi.export("zones", cfg.get_object("zones"))
pulumi.export("token", cfg.get_secret("token"))
"""

CONFIG_PROJECT = """\
name: t
runtime: python
config:
  region:
    type: string
  size:
    type: integer
    default: 2
  zones:
    type: array
    items:
      type: string
    default: [a, b]
"""


def test_a_refused_config_runs_no_program_and_destroy_skips_the_check(tmp_path):
    stack = Stack(tmp_path, CONFIG_PROGRAM)
    program_dir = Path(stack.harness.program).parent
    (program_dir / "Pulumi.yaml").write_text(CONFIG_PROJECT)
    missing = "validating stack config: Stack 'dev' is missing configuration value 'region'"

    for run in (stack.preview, stack.up):
        refused = run()
        assert (refused.ok, refused.error, refused.ops, refused.steps) == (False, missing, [], [])
    assert not (program_dir / "program-ran").exists()
    assert not stack.harness.state_path.exists()

    made = stack.up(region="yyz")
    assert made.ok, made.error
    assert made.outputs == {"region": "yyz", "size": 2, "zones": ["a", "b"]}

    # A key the stack lacks, added later: `pulumi destroy` does not validate.
    (program_dir / "Pulumi.yaml").write_text(CONFIG_PROJECT + "  org:\n    type: string\n")
    assert not stack.up(region="yyz").ok
    destroyed = stack.destroy()
    assert destroyed.ok, destroyed.error
    assert stack.harness.resource_names() == []


def test_without_config_the_stack_file_beside_the_project_file_is_read(tmp_path):
    program = write_program(tmp_path / "program", CONFIG_PROGRAM)
    project_dir = tmp_path / "project"
    project_dir.mkdir()
    (project_dir / "Pulumi.yaml").write_text(CONFIG_PROJECT)
    (project_dir / "Pulumi.dev.yaml").write_text(
        "config:\n  region: ams\n  t:zones: [c]\n  t:token:\n    secure: tok-standin\n")
    harness = Harness(workdir=tmp_path / "state", program=program, project=PROJECT, stack="dev",
                      env={"PATH": os.environ["PATH"]}, project_file=project_dir / "Pulumi.yaml")
    result = harness.up()
    assert result.ok, result.error
    assert result.outputs == {"region": "ams", "size": 2, "zones": ["c"], "token": "tok-standin"}
    assert result.secret_outputs == {"token"}


def test_may_run_together_follows_dependency_paths(tmp_path):
    stack = Stack(tmp_path, LIFECYCLE_PROGRAM)
    assert stack.up().ok
    h = stack.harness
    assert not h.may_run_together("app", "volume")  # volume's create takes app's stdout
    assert not h.may_run_together("app", "ordered")  # depends_on
    assert h.may_run_together("volume", "ordered")  # nothing orders them


# A before_update hook that refuses one change; the engine calls it through the SDK's callback
# server when the update step applies, in preview too when registered with on_dry_run.
HOOK_PROGRAM = """
import pulumi
from pulumi_command import local

cfg = pulumi.Config()
LOG = cfg.require("log")


def refuse_a_new_region(args):
    old, new = args.old_inputs["environment"]["REGION"], args.new_inputs["environment"]["REGION"]
    if old != new:
        raise ValueError(f"REGION {old} -> {new} is refused")


hook = pulumi.ResourceHook(
    "refuse-region-change", refuse_a_new_region,
    opts=pulumi.ResourceHookOptions(on_dry_run=cfg.get_bool("onDryRun") or False),
)
marker = local.Command(
    "marker",
    create=f'echo "marker $REGION" >> "{LOG}"',
    environment={"REGION": cfg.get("region") or "yyz"},
    opts=pulumi.ResourceOptions(hooks=pulumi.ResourceHookBinding(before_update=[hook])),
)
local.Command(
    "after", create=f'echo "after $REGION" >> "{LOG}"',
    environment={"REGION": cfg.get("region") or "yyz"},
    opts=pulumi.ResourceOptions(depends_on=[marker]),
)
"""


def test_a_before_update_hook_that_raises_fails_the_step_in_preview_when_on_dry_run(tmp_path):
    stack = Stack(tmp_path, HOOK_PROGRAM)
    assert stack.up(onDryRun=True).ok
    assert stack.new_lines() == ["marker yyz", "after yyz"]
    planned = stack.preview(onDryRun=True, region="ams")
    assert not planned.ok
    assert planned.error == (
        'before hook "refuse-region-change" failed: REGION yyz -> ams is refused'
    )
    refused = stack.up(onDryRun=True, region="ams")
    assert not refused.ok and refused.error == planned.error
    assert stack.new_lines() == []  # the hook runs before the update, and nothing after it
    assert stack.up(onDryRun=True).ok  # an unchanged region passes the hook


def test_a_hook_without_on_dry_run_passes_preview_and_refuses_up(tmp_path):
    stack = Stack(tmp_path, HOOK_PROGRAM)
    assert stack.up().ok
    stack.new_lines()
    assert stack.preview(region="ams").ok
    refused = stack.up(region="ams")
    assert not refused.ok and "REGION yyz -> ams is refused" in refused.error
    assert stack.new_lines() == []
