"""The part of the Pulumi engine the harness emulates: steps, state, deletes.

Behaviour and its source (pulumi/pulumi pkg/resource/deploy/step_generator.go, step.go,
step_executor.go, deployment_executor.go, source_eval.go; pulumi-go-provider infer/resource.go;
pulumi-command local/commandController.go):

- No old state -> create. Same inputs (after ignoreChanges) -> same, nothing runs, the old
  outputs go back to the program. Changed inputs -> update, unless the provider or the
  resource's replaceOnChanges asks for replace. pulumi-command marks only `triggers` as
  replaceOnChanges (common/inputs.go) and implements Update, so any other change is an update.
  pulumi-tls (a Terraform bridge) replaces on every input change here.
- Replace: create the new one now and delete the old one after the program ended, with the
  other deletes; with deleteBeforeReplace, delete the old one first. A resource protected in
  both old state and the program refuses replace (step_generator.go continueStepsFromDiff):
  "unable to replace resource ...". `up` stops there, before the replacement exists; preview
  reports it and goes on planning, and fails at the end.
- A failed create stores nothing (the provider returns no partial state: commandController.go
  returns a plain error). A failed update keeps the old state. The first failure stops the
  run: resources registered later run nothing and no delete happens.
- After the program: resources in the old state that were not registered, plus replaced
  ones, are deleted in reverse state order (state is kept in registration order, a
  topological order; deployment_executor.go performPostSteps runs ScheduleDeletes' antichains).
  Nothing is refused up front. A protected resource's own delete is refused when its turn
  comes (step.go DeleteStep.Apply, in preview too; not for the old half of a replacement):
  'resource "..." cannot be deleted\nbecause it is protected. ...'. Since pulumi/pulumi#18396
  (3.149) the run goes on past that refusal (step_executor.go cancelDueToError) and deletes the
  rest, except everything the refused resource depends on, transitively: parent,
  dependencies, propertyDependencies, deletedWith (deployment_executor.go performPostSteps with
  graph TransitiveDependenciesOf). Those stay in state with the refused one, unstepped, and the
  run fails. `up` deleting a resource no longer in the program and `destroy` behave the same.
  Any other failed delete stops the run. retainOnDelete drops the resource from state without
  running its delete.
- protect, retainOnDelete and deletedWith that a registration leaves unset come from its
  parent (source_eval.go inheritFromParent; the Python SDK already copies protect to children,
  sdk/python/lib/pulumi/resource.py Resource.__init__).
- Preview (dry run) decides the same steps and runs nothing; outputs that a step would
  compute come back unknown, as pulumi-go-provider's markComputed does.
- Resource hooks (sdk/python/lib/pulumi/resource_hooks.py; the engine's side in
  pkg/resource/deploy/source_eval.go RegisterResourceHook, wrapResourceHookCallback, and
  deployment.go RunHooks; step.go CreateStep/UpdateStep.Apply): before_create and
  before_update hooks bound to a resource run when its step applies, through the SDK's
  callback server, with the old and new inputs; in preview only hooks registered with
  on_dry_run. A hook that raises fails the step: 'before hook "NAME" failed: MESSAGE'
  (ignore_errors: a warning instead). Delete and after hooks are not modelled.
- Secrets: an output that mirrors a secret input stays secret; stdout/stderr do NOT become
  secret because stdin/environment are (pulumi-go-provider v1.3.0 ensureDefaultSecrets flows
  secretness only between same-named fields); additionalSecretOutputs makes them secret.

Not modelled: parallel steps (the harness runs one step at a time, in registration order),
the replacement of dependents forced by a deleteBeforeReplace (and its protect check),
ignoreChanges/replaceOnChanges paths deeper than one property, aliases, imports, targets,
refresh, --ignore-protect, providers' Check/defaults, provider resources in state (the engine
would keep a refused resource's provider too), deletedWith's skipped provider delete,
replaceWith, resources of other providers (kept in state with inputs as outputs, nothing runs).
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

# What the engine prints when `protect` stops a step. Replace: step_generator.go
# continueStepsFromDiff. Delete: step.go deleteProtectedError (%q of the URN, then URN.Quote(),
# which is single quotes outside Windows).
REPLACE_PROTECTED = (
    'unable to replace resource "{urn}"\nas it is currently marked for protection. To unprotect '
    "the resource, remove the `protect` flag from the resource in your Pulumi program and run "
    "`pulumi up`"
)
DELETE_PROTECTED = (
    'resource "{urn}" cannot be deleted\nbecause it is protected. To unprotect the resource, '
    "either remove the `protect` flag from the resource in your Pulumi program and run "
    "`pulumi up`, or use the command:\n`pulumi state unprotect '{urn}'`"
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
        self.error: str | None = None  # the first error; the run fails
        self.halted = False  # a step failed the way that stops the run: no further step runs
        self.lock = threading.RLock()
        self.hooks: dict[str, dict] = {}  # name -> callback target, token and options

    # --- recording -------------------------------------------------------------------------

    def log(self, urn: str, severity: str, text: str, stream: str = "") -> None:
        self.logs.append({"urn": urn, "severity": severity, "text": text, "stream": stream})

    def op(self, urn: str, type_: str, op: str) -> None:
        self.ops.append({"urn": urn, "type": type_, "op": op})

    def step(self, urn: str, op: str) -> None:
        self.steps.append({"urn": urn, "op": op})

    def fail(self, urn: str, message: str, halt: bool = True) -> StepFailed:
        """Records an error. halt=False: the run fails at the end but goes on (a refused
        protected delete, step_executor.go cancelDueToError; a protected replace in preview)."""
        if self.error is None:
            self.error = message
        self.halted = self.halted or halt
        self.log(urn, "error", message)
        return StepFailed(message)

    # --- program events --------------------------------------------------------------------

    def register_hook(
        self, name: str, target: str, token: str, *, on_dry_run: bool, ignore_errors: bool
    ) -> None:
        if name in self.hooks:
            # resource_hooks.go RegisterResourceHook
            raise ValueError(f"resource hook already registered for name {name!r}")
        self.hooks[name] = {
            "target": target, "token": token,
            "on_dry_run": on_dry_run, "ignore_errors": ignore_errors,
        }  # fmt: skip

    def run_hooks(
        self, kind: str, entry: dict, old_inputs: dict | None, new_inputs: dict | None,
        old_outputs: dict | None = None,
    ) -> None:  # fmt: skip
        """deployment.go RunHooks for one before-hook kind, e.g. "before_update"."""
        for name in entry.get("hooks", {}).get(kind, []):
            hook = self.hooks.get(name)
            if hook is None:
                raise self.fail(entry["urn"], f"hook {name!r} was not registered")
            if self.dry_run and not hook["on_dry_run"]:
                continue
            error = _call_hook(hook, entry, old_inputs, new_inputs, old_outputs)
            if not error:
                continue
            hook_type = kind.replace("_", "")  # resource.HookType: "beforeUpdate"
            hook_type = hook_type[:6] + hook_type[6].upper() + hook_type[7:]
            if hook["ignore_errors"]:
                self.log(entry["urn"], "warning", f"{hook_type} hook {name!r} failed: {error}")
                continue
            raise self.fail(entry["urn"], f'before hook "{name}" failed: {error}')

    def register(self, urn: str, request: dict) -> tuple[str, dict]:
        """Handles one RegisterResource; returns (id, outputs) for the program."""
        with self.lock:
            if self.halted:
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
                    # step_generator.go: `up` bails before the replacement is created; preview
                    # reports the error and goes on showing the plan.
                    error = self.fail(urn, REPLACE_PROTECTED.format(urn=urn), halt=not self.dry_run)
                    if not self.dry_run:
                        raise error
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
        parent = self.new.get(request.get("parent", ""), {})
        # source_eval.go inheritFromParent: protect and retainOnDelete the request leaves unset
        # (optional in the proto), and an empty deletedWith, come from the parent's goal.
        protect = request.get("protect", parent.get("protect", False))
        retain = request.get("retainOnDelete", parent.get("retainOnDelete", False))
        return {
            "urn": urn,
            "type": request["type"],
            "custom": bool(request.get("custom")),
            "id": "",
            "parent": request.get("parent", ""),
            "protect": bool(protect),
            "deleteBeforeReplace": bool(request.get("deleteBeforeReplace")),
            "retainOnDelete": bool(retain),
            "deletedWith": request.get("deletedWith") or parent.get("deletedWith", ""),
            "dependencies": list(request.get("dependencies", [])),
            "propertyDependencies": {k: v.get("urns", []) for k, v in deps.items()},
            "additionalSecretOutputs": list(request.get("additionalSecretOutputs", [])),
            "replaceOnChanges": list(request.get("replaceOnChanges", [])),
            "ignoreChanges": list(request.get("ignoreChanges", [])),
            "inputs": request.get("object", {}),
            "outputs": {},
            "hooks": {k: list(v) for k, v in request.get("hooks", {}).items()},
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
        self.run_hooks("before_create", entry, None, entry["inputs"])
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
        self.run_hooks("before_update", entry, old["inputs"], entry["inputs"], old["outputs"])
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

    def transitive_dependencies(self, entry: dict) -> set[int]:
        """id()s of the old entries `entry` needs, directly or not: parent, dependencies,
        propertyDependencies, deletedWith (pkg/resource/graph/dependency_graph.go
        TransitiveDependenciesOf over the old state; pkg/resource/state.go GetAllDependencies).
        Where a URN is both live and pending delete, a pending-delete entry means the
        pending-delete copy and a live entry the live one, as its `lookup` does."""
        live = {e["urn"]: e for e in self.old_entries if not e.get("pendingDelete")}
        pending = {e["urn"]: e for e in self.old_entries if e.get("pendingDelete")}

        def lookup(source: dict, urn: str) -> dict | None:
            if urn in live and urn in pending:
                return pending[urn] if source.get("pendingDelete") else live[urn]
            return live.get(urn) or pending.get(urn)

        marked: set[int] = set()
        todo = [entry]
        while todo:
            current = todo.pop()
            if id(current) in marked:
                continue
            marked.add(id(current))
            urns = [current.get("parent", ""), current.get("deletedWith", "")]
            urns += current.get("dependencies", [])
            for property_urns in current.get("propertyDependencies", {}).values():
                urns += property_urns
            todo += [found for urn in urns if urn and (found := lookup(current, urn))]
        marked.discard(id(entry))
        return marked

    def run_deletes(self, destroy: bool = False) -> None:
        """The deletes after the program (or all of them, for destroy), in reverse dependency
        order (deployment_executor.go performPostSteps). A protected resource's delete is
        refused (step.go DeleteStep.Apply, also in preview) and, since pulumi/pulumi#18396 (3.149),
        the run goes on (step_executor.go cancelDueToError) but never deletes anything the
        refused resource depends on, transitively; the run fails at the end. Any other failed
        delete stops the run."""
        with self.lock:
            if self.halted:
                return
            replaced = {id(e) for e in self.replaced}
            kept: set[int] = set()  # depended on by a refused resource: not deleted
            for entry in self.condemned(destroy):
                if id(entry) in kept:
                    continue
                replacing = id(entry) in replaced or bool(entry.get("pendingDelete"))
                if replacing:
                    self.step(entry["urn"], "delete-replaced")
                else:
                    self.op(entry["urn"], entry["type"], "delete")
                    self.step(entry["urn"], "delete")
                if entry.get("protect") and not replacing:
                    self.fail(entry["urn"], DELETE_PROTECTED.format(urn=entry["urn"]), halt=False)
                    kept |= self.transitive_dependencies(entry)
                    continue
                if self.dry_run:
                    continue
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


def _call_hook(
    hook: dict, entry: dict, old_inputs: dict | None, new_inputs: dict | None,
    old_outputs: dict | None,
) -> str:  # fmt: skip
    """source_eval.go wrapResourceHookCallback: one ResourceHookRequest to the SDK's callback
    server; the hook's error text, "" when it passed."""
    import grpc
    from google.protobuf import json_format, struct_pb2
    from pulumi.runtime.proto import callback_pb2, callback_pb2_grpc, resource_pb2

    def struct(value: dict | None):
        if value is None:
            return None
        out = struct_pb2.Struct()
        json_format.ParseDict(value, out)
        return out

    request = resource_pb2.ResourceHookRequest(
        urn=entry["urn"], id=entry.get("id") or "", name=entry["urn"].rsplit("::", 1)[-1],
        type=entry["type"], new_inputs=struct(new_inputs), old_inputs=struct(old_inputs),
        old_outputs=struct(old_outputs),
    )  # fmt: skip
    with grpc.insecure_channel(hook["target"]) as channel:
        response = callback_pb2_grpc.CallbacksStub(channel).Invoke(
            callback_pb2.CallbackInvokeRequest(
                token=hook["token"], request=request.SerializeToString()
            )
        )
    return resource_pb2.ResourceHookResponse.FromString(response.response).error
