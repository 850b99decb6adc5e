"""The part of the Pulumi engine the harness emulates: steps, state, deletes.

Behaviour and its source (pulumi/pulumi pkg/resource/deploy/step_generator.go, step.go,
pulumi-go-provider infer/resource.go, pulumi-command local/commandController.go):

- No old state -> create. Same inputs (after ignoreChanges) -> same, nothing runs, the old
  outputs go back to the program. Changed inputs -> update, unless the provider or the
  resource's replaceOnChanges asks for replace. pulumi-command marks only `triggers` as
  replaceOnChanges (common/inputs.go) and implements Update, so any other change is an update.
  pulumi-tls (a Terraform bridge) replaces on every input change here.
- Replace: create the new one now and delete the old one after the program ended, with the
  other deletes; with deleteBeforeReplace, delete the old one first. A resource protected in
  both old state and the program refuses replace: "unable to replace resource ...".
- A failed create stores nothing (the provider returns no partial state: commandController.go
  returns a plain error). A failed update keeps the old state. The first failure stops the
  run: resources registered later run nothing and no delete happens.
- After the program: resources in the old state that were not registered, plus replaced
  ones, are deleted in reverse state order (state is kept in registration order, a
  topological order). If any of them is protected, nothing is deleted and the run fails
  ("unable to delete resource ... protected"), as the step generator checks before deletes.
  retainOnDelete drops the resource from state without running its delete.
- Preview (dry run) decides the same steps and runs nothing; outputs that a step would
  compute come back unknown, as pulumi-go-provider's markComputed does.
- Secrets: an output that mirrors a secret input stays secret; stdout/stderr do NOT become
  secret because stdin/environment are (pulumi-go-provider v1.3.0 ensureDefaultSecrets flows
  secretness only between same-named fields); additionalSecretOutputs makes them secret.

Not modelled: parallel steps (the harness runs one step at a time, in registration order),
the replacement of dependents forced by a deleteBeforeReplace, ignoreChanges/replaceOnChanges
paths deeper than one property, aliases, imports, targets, refresh, providers' Check/defaults,
resources of other providers (kept in state with inputs as outputs, nothing runs).
"""

from __future__ import annotations

import re
import secrets
import threading
from dataclasses import dataclass

from . import command, tls
from .values import UNKNOWN, make_secret, plain_equal, unwrap

COMMAND = "command:local:Command"
STACK = "pulumi:pulumi:Stack"

TLS_OUTPUTS = {
    tls.PRIVATE_KEY: [
        "privateKeyPem", "privateKeyPemPkcs8", "privateKeyOpenssh", "publicKeyPem",
        "publicKeyOpenssh", "publicKeyFingerprintMd5", "publicKeyFingerprintSha256",
    ],
    tls.SELF_SIGNED_CERT: [
        "certPem", "keyAlgorithm", "validityStartTime", "validityEndTime", "readyForRenewal",
    ],
    tls.CERT_REQUEST: ["certRequestPem", "keyAlgorithm"],
    tls.LOCALLY_SIGNED_CERT: [
        "certPem", "caKeyAlgorithm", "validityStartTime", "validityEndTime", "readyForRenewal",
    ],
}

# What the engine prints when `protect` stops a step (step_generator.go / step.go).
REPLACE_PROTECTED = (
    'unable to replace resource "{urn}"\nas it is currently marked for protection. To unprotect '
    "the resource, remove the `protect` flag from the resource in your Pulumi program and run "
    "`pulumi up`"
)
DELETE_PROTECTED = (
    'unable to delete resource "{urn}"\nas it is currently marked for protection. To unprotect '
    "the resource, either remove the `protect` flag from the resource in your Pulumi program "
    "and run `pulumi up` or use the command:\n`pulumi state unprotect '{urn}'`"
)


class StepFailed(Exception):
    """A step failed; the message is what Pulumi would print for the resource."""


@dataclass
class Limits:
    command_timeout: float = 120.0
    pipe_close_timeout: float = 5.0


def top_key(path: str) -> str:
    return re.split(r"[.\[]", path, maxsplit=1)[0]


def changed_keys(old_inputs: dict, new_inputs: dict) -> list[str]:
    keys = set(old_inputs) | set(new_inputs)
    return sorted(k for k in keys if not plain_equal(old_inputs.get(k), new_inputs.get(k)))


class Engine:
    def __init__(
        self,
        old_state: dict,
        provider_env: dict[str, str],
        dry_run: bool,
        limits: Limits | None = None,
    ):
        self.old_state = old_state
        self.old_entries: list[dict] = list(old_state.get("resources", []))
        self.old = {e["urn"]: e for e in self.old_entries if not e.get("pendingDelete")}
        self.provider_env = provider_env
        self.dry_run = dry_run
        self.limits = limits or Limits()
        self.new: dict[str, dict] = {}
        self.replaced: list[dict] = []  # old halves of create-before-delete replacements
        self.gone: list[int] = []  # id() of old entries already deleted
        self.ops: list[dict] = []
        self.steps: list[dict] = []
        self.logs: list[dict] = []
        self.error: str | None = None
        self.lock = threading.RLock()

    # --- recording -------------------------------------------------------------------------

    def log(self, urn: str, severity: str, text: str, stream: str = "") -> None:
        self.logs.append({"urn": urn, "severity": severity, "text": text, "stream": stream})

    def op(self, urn: str, type_: str, op: str) -> None:
        self.ops.append({"urn": urn, "type": type_, "op": op})

    def step(self, urn: str, op: str) -> None:
        self.steps.append({"urn": urn, "op": op})

    def fail(self, urn: str, message: str) -> StepFailed:
        if self.error is None:
            self.error = message
        self.log(urn, "error", message)
        return StepFailed(message)

    # --- program events --------------------------------------------------------------------

    def register(self, urn: str, request: dict) -> tuple[str, dict]:
        """Handles one RegisterResource; returns (id, outputs) for the program."""
        with self.lock:
            if self.error is not None:
                # The engine stops issuing steps after the first failure.
                raise StepFailed(f"not run: the deployment already failed ({urn})")
            if urn in self.new:
                raise self.fail(urn, f"Duplicate resource URN '{urn}'; try giving it a unique name")
            entry = self._entry(urn, request)
            old = self.old.get(urn)
            if not entry["custom"]:
                entry["outputs"] = dict(old["outputs"]) if old else {}
                entry["id"] = ""
                self.op(urn, entry["type"], "same" if old else "create")
                self.new[urn] = entry
                return "", entry["outputs"]
            if old is None:
                return self._create(entry, "create")
            inputs = self._apply_ignore_changes(old["inputs"], entry)
            changed = changed_keys(old["inputs"], inputs)
            if not changed:
                entry["id"], entry["outputs"] = old["id"], old["outputs"]
                self.op(urn, entry["type"], "same")
                self.new[urn] = entry
                return entry["id"], entry["outputs"]
            if self._replaces(entry, changed):
                if old.get("protect") and entry["protect"]:
                    raise self.fail(urn, REPLACE_PROTECTED.format(urn=urn))
                if entry["deleteBeforeReplace"]:
                    self.op(urn, entry["type"], "replace")
                    self.step(urn, "delete-replaced")
                    if not self.dry_run:
                        self._delete(old)
                    return self._create(entry, None, step="create-replacement")
                self.op(urn, entry["type"], "replace")
                result = self._create(entry, None, step="create-replacement")
                self.replaced.append(old)
                return result
            return self._update(entry, old, changed)

    def register_outputs(self, urn: str, outputs: dict) -> None:
        with self.lock:
            if urn in self.new:
                self.new[urn]["outputs"] = outputs

    def invoke_run(self, args: dict) -> dict:
        """`command:local:run`: runs even in preview, like the real invoke."""
        urn = "command:local:run"
        try:
            result = command.run(
                unwrap(args.get("command")), args, self.provider_env,
                timeout=self.limits.command_timeout,
                pipe_close_timeout=self.limits.pipe_close_timeout,
                on_log=lambda stream, text: self.log(urn, "info", text, stream),
            )
        except command.CommandError as exc:
            self.log(urn, "error", str(exc))
            raise
        out = dict(args)
        out.update(stdout=result.stdout, stderr=result.stderr)
        if result.assets is not None:
            out["assets"] = result.assets
        return out

    # --- steps -----------------------------------------------------------------------------

    def _entry(self, urn: str, request: dict) -> dict:
        deps = request.get("propertyDependencies", {})
        return {
            "urn": urn,
            "type": request["type"],
            "custom": bool(request.get("custom")),
            "id": "",
            "parent": request.get("parent", ""),
            "protect": bool(request.get("protect")),
            "deleteBeforeReplace": bool(request.get("deleteBeforeReplace")),
            "retainOnDelete": bool(request.get("retainOnDelete")),
            "dependencies": list(request.get("dependencies", [])),
            "propertyDependencies": {k: v.get("urns", []) for k, v in deps.items()},
            "additionalSecretOutputs": list(request.get("additionalSecretOutputs", [])),
            "replaceOnChanges": list(request.get("replaceOnChanges", [])),
            "ignoreChanges": list(request.get("ignoreChanges", [])),
            "inputs": request.get("object", {}),
            "outputs": {},
        }

    def _apply_ignore_changes(self, old_inputs: dict, entry: dict) -> dict:
        inputs = dict(entry["inputs"])
        for path in entry["ignoreChanges"]:
            key = top_key(path)
            if key in old_inputs:
                inputs[key] = old_inputs[key]
            else:
                inputs.pop(key, None)
        entry["inputs"] = inputs
        return inputs

    def _replaces(self, entry: dict, changed: list[str]) -> bool:
        if entry["type"] in tls.TYPES:
            return True
        if entry["type"] == COMMAND and "triggers" in changed:
            return True
        wanted = {top_key(p) for p in entry["replaceOnChanges"]}
        return "*" in wanted or bool(wanted & set(changed))

    def _finish_outputs(self, entry: dict, computed: dict) -> dict:
        outputs = dict(entry["inputs"])
        outputs.update(computed)
        for key in entry["additionalSecretOutputs"]:
            if key in outputs and outputs[key] != UNKNOWN:
                outputs[key] = make_secret(outputs[key])
        return outputs

    def _create(self, entry: dict, op: str | None, step: str = "create") -> tuple[str, dict]:
        urn, type_ = entry["urn"], entry["type"]
        if op:
            self.op(urn, type_, op)
        self.step(urn, step)
        if self.dry_run:
            entry["id"] = UNKNOWN
            entry["outputs"] = self._finish_outputs(entry, self._unknown_outputs(type_))
            self.new[urn] = entry
            return "", entry["outputs"]
        if type_ == COMMAND:
            create = unwrap(entry["inputs"].get("create"))
            run = self._run(urn, create, entry["inputs"], "", "") if create else None
            entry["id"] = urn.rsplit("::", 1)[-1] + secrets.token_hex(4)  # NewUniqueHex(name, 8)
            entry["outputs"] = self._finish_outputs(entry, self._command_outputs(run, None))
        elif type_ in tls.TYPES:
            try:
                entry["id"], computed = tls.create(type_, entry["inputs"])
            except tls.TlsError as exc:
                raise self.fail(urn, str(exc)) from exc
            entry["outputs"] = self._finish_outputs(entry, computed)
        else:
            entry["id"] = urn.rsplit("::", 1)[-1] + "-" + secrets.token_hex(4)
            entry["outputs"] = self._finish_outputs(entry, {})
        self.new[urn] = entry
        return entry["id"], entry["outputs"]

    def _update(self, entry: dict, old: dict, changed: list[str]) -> tuple[str, dict]:
        urn, type_ = entry["urn"], entry["type"]
        self.op(urn, type_, "update")
        self.step(urn, "update")
        entry["id"] = old["id"]
        if self.dry_run:
            computed = self._unknown_outputs(type_)
            entry["outputs"] = self._finish_outputs(entry, computed)
            self.new[urn] = entry
            return entry["id"], entry["outputs"]
        if type_ == COMMAND:
            inputs = entry["inputs"]
            script = unwrap(inputs.get("update")) or unwrap(inputs.get("create"))
            prev_out = unwrap(old["outputs"].get("stdout")) or ""
            prev_err = unwrap(old["outputs"].get("stderr")) or ""
            run = self._run(urn, script, inputs, prev_out, prev_err) if script else None
            entry["outputs"] = self._finish_outputs(entry, self._command_outputs(run, old))
        else:
            entry["outputs"] = self._finish_outputs(entry, {})
        self.new[urn] = entry
        return entry["id"], entry["outputs"]

    def _unknown_outputs(self, type_: str) -> dict:
        if type_ == COMMAND:
            return {"stdout": UNKNOWN, "stderr": UNKNOWN}
        return {name: UNKNOWN for name in TLS_OUTPUTS.get(type_, [])}

    @staticmethod
    def _command_outputs(run: command.CommandRun | None, old: dict | None) -> dict:
        if run is None:
            # Update with neither update nor create keeps the previous outputs.
            previous = old["outputs"] if old else {}
            return {"stdout": previous.get("stdout", ""), "stderr": previous.get("stderr", "")}
        outputs = {"stdout": run.stdout, "stderr": run.stderr}
        if run.assets is not None:
            outputs["assets"] = run.assets
        return outputs

    def _run(self, urn: str, script: str, inputs: dict, prev_out: str, prev_err: str):
        try:
            return command.run(
                script, inputs, self.provider_env, prev_out, prev_err,
                timeout=self.limits.command_timeout,
                pipe_close_timeout=self.limits.pipe_close_timeout,
                on_log=lambda stream, text: self.log(urn, "info", text, stream),
            )
        except command.CommandError as exc:
            raise self.fail(urn, str(exc)) from exc

    def _delete(self, old: dict) -> None:
        """Runs the delete stored in state (its script, env, dir, stdin, previous output)."""
        urn = old["urn"]
        if old.get("retainOnDelete"):
            self.log(urn, "info", "retained: removed from state without deleting")
        elif old["type"] == COMMAND:
            stored = old["outputs"]
            script = unwrap(stored.get("delete"))
            if script:
                self._run(
                    urn, script, stored,
                    unwrap(stored.get("stdout")) or "", unwrap(stored.get("stderr")) or "",
                )
        self.gone.append(id(old))

    # --- end of the deployment ---------------------------------------------------------------

    def condemned(self, destroy: bool) -> list[dict]:
        """Old resources to delete now, in reverse state order."""
        replaced = {id(e) for e in self.replaced}
        chosen = [
            e for e in self.old_entries
            if id(e) not in self.gone and (
                destroy or e.get("pendingDelete") or id(e) in replaced or e["urn"] not in self.new
            )
        ]
        return list(reversed(chosen))

    def run_deletes(self, destroy: bool = False) -> None:
        with self.lock:
            if self.error is not None:
                return
            victims = self.condemned(destroy)
            replaced = {id(e) for e in self.replaced}
            for entry in victims:
                if id(entry) in replaced or entry.get("pendingDelete"):
                    self.step(entry["urn"], "delete-replaced")
                else:
                    self.op(entry["urn"], entry["type"], "delete")
                    self.step(entry["urn"], "delete")
            protected = [e for e in victims if e.get("protect") and id(e) not in replaced]
            if protected:
                for entry in protected:
                    self.fail(entry["urn"], DELETE_PROTECTED.format(urn=entry["urn"]))
                return
            if self.dry_run:
                return
            for entry in victims:
                try:
                    self._delete(entry)
                except StepFailed:
                    return

    def new_state(self) -> dict:
        """State after the run: what was registered, then surviving old entries."""
        replaced = {id(e) for e in self.replaced}
        resources = list(self.new.values())
        for entry in self.old_entries:
            if id(entry) in self.gone:
                continue
            if id(entry) in replaced or entry.get("pendingDelete"):
                resources.append({**entry, "pendingDelete": True})
            elif entry["urn"] not in self.new:
                resources.append(entry)
        state = {k: v for k, v in self.old_state.items() if k != "resources"}
        state["resources"] = resources
        return state
