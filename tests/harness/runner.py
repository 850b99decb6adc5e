"""One `pulumi up` / `preview` / `destroy`, in a fresh Python process.

Started by harness.Harness as `python -m harness.runner`. The job (config, the provider's
environment, the state key) arrives as JSON on stdin so no secret is in argv or on disk; the
result leaves as JSON on the original stdout, while the program's own prints are moved to
stderr. The program runs the way the Python language host runs it: cwd = its directory,
that directory first on sys.path, `runpy.run_path(..., run_name="__main__")` inside
`pulumi.runtime.run_in_stack`, config from `set_all_config(config, secret_keys)`.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import runpy
import sys
import traceback
from pathlib import Path

from . import state as state_file
from .engine import STACK, Engine, Limits
from .values import contains_secret, unwrap


def _program_callable(program: str):
    path = Path(program)
    if path.is_dir():
        path = path / "__main__.py"
    if path.suffix == ".py" or path.exists():
        sys.path.insert(0, str(path.parent.resolve()))
        return lambda: runpy.run_path(str(path.resolve()), run_name="__main__")
    module_name, _, attr = program.partition(":")
    sys.path.insert(0, os.getcwd())
    module = importlib.import_module(module_name)
    return getattr(module, attr or "main")


def run_program(engine: Engine, job: dict) -> str | None:
    """Evaluates the program against the engine; None when it ran to its end, else the error."""
    import pulumi.runtime
    from pulumi.runtime.stack import run_in_stack

    from .mocks import configure

    pulumi.runtime.set_all_config(job["config"], job["secret_keys"])
    configure(engine, job["project"], job["stack"], job["dry_run"])
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        program = _program_callable(job["program"])
        loop.run_until_complete(run_in_stack(program))
    except pulumi.RunError as error:
        # pulumi-language-python-exec logs a RunError's message alone, with no traceback.
        message = str(error)
        engine.log("", "error", message)
        return message
    except BaseException:  # noqa: BLE001 - reported like the language host does
        detail = traceback.format_exc()
        if engine.halted:
            # The program only failed because a step did; Pulumi reports the step.
            engine.log("", "debug", detail)
            return engine.error
        message = f"Program failed with an unhandled exception:\n{detail}"
        engine.log("", "error", message)
        return message
    finally:
        loop.close()
    return None


def stack_outputs(engine: Engine) -> dict:
    for entry in engine.new.values():
        if entry["type"] == STACK:
            return entry["outputs"]
    return {}


def main() -> None:
    job = json.load(sys.stdin)
    result_stream = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # the program's prints must not corrupt the result
    key = job["state_key"]
    state_path = Path(job["state_path"])
    old = state_file.load(state_path, key, job["project"], job["stack"])
    limits = Limits(job["command_timeout"], job["pipe_close_timeout"])
    engine = Engine(old, job["provider_env"], job["dry_run"], limits)

    if job["mode"] == "destroy":
        engine.run_deletes(destroy=True)
        error = engine.error
    else:
        program_error = run_program(engine, job)
        if program_error is None:
            # The deletes follow the program even after errors that let the run go on
            # (a protected replace in preview); run_deletes skips them after a halting one.
            engine.run_deletes()
        error = program_error or engine.error

    new_state = engine.new_state()
    if not job["dry_run"]:
        state_file.save(state_path, key, new_state)

    outputs = stack_outputs(engine) if job["mode"] != "destroy" else {}
    result = {
        "ok": error is None,
        "error": error,
        "outputs": {k: unwrap(v) for k, v in outputs.items()},
        "secret_outputs": sorted(k for k, v in outputs.items() if contains_secret(v)),
        "ops": engine.ops,
        "steps": engine.steps,
        "logs": engine.logs,
    }
    json.dump(result, result_stream)
    result_stream.close()


if __name__ == "__main__":
    main()
