"""Test-side API: `Harness(...).up() / preview() / destroy()` -> `RunResult`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import cliconfig
from . import state as state_file
from .values import unwrap

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the directory holding `tests/`


@dataclass(frozen=True)
class Op:
    urn: str
    type: str
    op: str  # create | update | replace | delete | same

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]


@dataclass(frozen=True)
class LogLine:
    urn: str  # "" for the program's own diagnostics
    severity: str  # debug | info | warning | error
    text: str
    stream: str = ""  # stdout | stderr for command output

    def __str__(self) -> str:
        name = self.urn.rsplit("::", 1)[-1] if self.urn else "program"
        return f"{name} {self.severity}: {self.text}"


@dataclass
class RunResult:
    ok: bool
    error: str | None
    outputs: dict[str, Any]  # stack outputs, secrets unwrapped
    secret_outputs: frozenset[str]  # names of outputs that were secret
    ops: list[Op]  # one per resource the run touched (same included)
    steps: list[tuple[str, str]]  # (urn, create|update|create-replacement|delete|...)
    logs: list[LogLine]
    process_output: str = ""  # the program process's own stdout/stderr (prints, tracebacks)

    def op(self, name: str) -> str | None:
        """The op on the resource with this logical name (None: not touched)."""
        found = [o.op for o in self.ops if o.name == name]
        return found[-1] if found else None

    def changes(self) -> dict[str, str]:
        """{name: op} for every op other than `same` (stack excluded)."""
        return {
            o.name: o.op for o in self.ops if o.op != "same" and o.type != "pulumi:pulumi:Stack"
        }

    @property
    def log_text(self) -> str:
        """Everything Pulumi would print: command output, diagnostics, errors."""
        lines = [str(line) for line in self.logs if line.severity != "debug"]
        lines += [f"program: {line}" for line in self.process_output.splitlines()]
        if self.error:
            lines.append(f"error: {self.error}")
        for name, value in sorted(self.outputs.items()):
            shown = "[secret]" if name in self.secret_outputs else json.dumps(value)
            lines.append(f"output {name}: {shown}")
        return "\n".join(lines)


class Harness:
    """Runs a Pulumi program against real pulumi-command semantics, keeping state on disk.

    workdir: where the state file (`state.json`) and its key (`state.key`) live.
    program: a `__main__.py` path, a project directory, or "module.path:function".
    env: the environment of the Pulumi CLI, hence of the program and of every command
         (pulumi-command gives the child the provider's whole environment). Default: os.environ.
    cwd: working directory for a "module:function" program (a path program runs in its dir).
    project_file: the project's Pulumi.yaml. Default: Pulumi.yaml in a path program's directory,
         if there is one. With one, up() and preview() merge and validate the stack's config
         against its `config:` block first, as the CLI does (cliconfig.py), and config=None
         reads Pulumi.<stack>.yaml beside it; destroy() skips both, as the CLI does by default.
    """

    def __init__(
        self,
        workdir: Path,
        program: Path | str,
        project: str,
        stack: str,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        command_timeout: float = 120.0,
        pipe_close_timeout: float = 5.0,
        run_timeout: float = 600.0,
        project_file: Path | None = None,
    ):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.program = program
        self.project = project
        self.stack = stack
        self.env = dict(os.environ if env is None else env)
        self.cwd = Path(cwd) if cwd else Path.cwd()
        self.command_timeout = command_timeout
        self.pipe_close_timeout = pipe_close_timeout
        self.run_timeout = run_timeout
        self.project_file = Path(project_file) if project_file else None
        self.state_path = self.workdir / "state.json"
        self.key_path = self.workdir / "state.key"
        if not self.key_path.exists():
            self.key_path.write_text(state_file.new_key())
            self.key_path.chmod(0o600)

    # --- operations ------------------------------------------------------------------------

    def up(self, config: dict[str, str] | None = None, secret_keys: list[str] | None = None):
        """config: {"project:key": text}; a key in secret_keys holds the decrypted value of a
        `secure:` entry."""
        return self._run_program("up", config, secret_keys, dry_run=False)

    def preview(self, config: dict[str, str] | None = None, secret_keys: list[str] | None = None):
        return self._run_program("up", config, secret_keys, dry_run=True)

    def destroy(self) -> RunResult:
        return self._run("destroy", {}, [], dry_run=False)

    def project_path(self) -> Path | None:
        """The Pulumi.yaml the CLI would read, or None (no config validation)."""
        if self.project_file is not None:
            return self.project_file
        program = Path(self._program_arg())
        if program.suffix == ".py" or program.is_dir():
            found = (program if program.is_dir() else program.parent) / "Pulumi.yaml"
            return found if found.exists() else None
        return None

    # --- state -----------------------------------------------------------------------------

    def state(self) -> dict:
        """The decrypted state (secrets as {sig: secret, value: ...})."""
        return state_file.load(
            self.state_path, self.key_path.read_text(), self.project, self.stack
        )

    def resource(self, name: str) -> dict | None:
        """The live state entry with this logical name, values unwrapped."""
        for entry in self.state()["resources"]:
            if entry["urn"].rsplit("::", 1)[-1] == name and not entry.get("pendingDelete"):
                return {**entry, "inputs": unwrap(entry["inputs"]),
                        "outputs": unwrap(entry["outputs"])}
        return None

    def resource_names(self) -> list[str]:
        return [
            e["urn"].rsplit("::", 1)[-1] for e in self.state()["resources"]
            if e["type"] != "pulumi:pulumi:Stack"
        ]

    def may_run_together(self, a: str, b: str) -> bool:
        """Whether the real engine could run the steps of resources A and B (logical names, in
        today's state) at the same time. It starts a step as soon as the steps of the resources
        it depends on are done, and deletes them in antichains of the same graph
        (pkg/resource/deploy/step_executor.go, step_generator.go ScheduleDeletes), so only a
        path of dependencies (dependsOn and inputs) orders two resources. The harness itself
        runs one step at a time, so a test asks this instead of watching for a race."""
        entries = [e for e in self.state()["resources"] if not e.get("pendingDelete")]
        urn_of = {e["urn"].rsplit("::", 1)[-1]: e["urn"] for e in entries}
        needs = {
            e["urn"]: {*e.get("dependencies", []), *(
                u for urns in e.get("propertyDependencies", {}).values() for u in urns
            )}
            for e in entries
        }  # fmt: skip

        def reaches(start: str, goal: str) -> bool:
            seen, todo = set(), [start]
            while todo:
                urn = todo.pop()
                if urn == goal:
                    return True
                if urn not in seen:
                    seen.add(urn)
                    todo.extend(needs.get(urn, ()))
            return False

        first, second = urn_of[a], urn_of[b]
        return not reaches(first, second) and not reaches(second, first)

    # --- plumbing --------------------------------------------------------------------------

    def _program_arg(self) -> str:
        if isinstance(self.program, Path) or Path(str(self.program)).suffix == ".py":
            return str(Path(self.program).resolve())
        return str(self.program)

    def _run_program(self, mode, config, secret_keys, dry_run) -> RunResult:
        project_path = self.project_path()
        if project_path is None:
            return self._run(mode, config, secret_keys, dry_run)
        try:
            project = cliconfig.load_project(project_path)
            if project["name"] != self.project:
                raise ValueError(
                    f"Harness(project={self.project!r}) but {project_path} names the project "
                    f"{project['name']!r}; the CLI would use the latter"
                )
            if config is None:
                stack_file = project_path.with_name(f"Pulumi.{self.stack}.yaml")
                config, secret_keys = cliconfig.load_stack_file(stack_file, self.project)
            config, secret_keys = cliconfig.apply_project_config(
                project, self.stack, config, secret_keys or []
            )
        except cliconfig.ConfigError as error:
            # The CLI stops before the language host starts: no program, no step, no state.
            return RunResult(
                ok=False, error=str(error), outputs={}, secret_outputs=frozenset(), ops=[],
                steps=[], logs=[LogLine("", "error", str(error))],
            )
        return self._run(mode, config, secret_keys, dry_run)

    def _run(self, mode, config, secret_keys, dry_run) -> RunResult:
        program = self._program_arg()
        job = {
            "mode": mode,
            "program": program,
            "project": self.project,
            "stack": self.stack,
            "config": dict(config or {}),
            "secret_keys": list(secret_keys or []),
            "dry_run": dry_run,
            "provider_env": self.env,
            "state_path": str(self.state_path),
            "state_key": self.key_path.read_text(),
            "command_timeout": self.command_timeout,
            "pipe_close_timeout": self.pipe_close_timeout,
        }
        program_path = Path(program)
        if program_path.suffix == ".py" or program_path.is_dir():
            cwd = program_path if program_path.is_dir() else program_path.parent
        else:
            cwd = self.cwd
        child_env = dict(self.env)
        child_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(PACKAGE_ROOT), self.env.get("PYTHONPATH", "")) if p
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.harness.runner"],
            cwd=cwd,
            env=child_env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(json.dumps(job), timeout=self.run_timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            message = f"harness run timed out after {self.run_timeout:g}s:\n{err}"
            raise RuntimeError(message) from None
        if proc.returncode != 0 or not out.strip():
            raise RuntimeError(f"harness runner crashed (exit {proc.returncode}):\n{err}")
        data = json.loads(out)
        return RunResult(
            ok=data["ok"],
            error=data["error"],
            outputs=data["outputs"],
            secret_outputs=frozenset(data["secret_outputs"]),
            ops=[Op(o["urn"], o["type"], o["op"]) for o in data["ops"]],
            steps=[(s["urn"], s["op"]) for s in data["steps"]],
            logs=[LogLine(**line) for line in data["logs"]],
            process_output=err,
        )
