"""Program figures: flyctl calls per `up` against the flyctl simulator, and evaluation time of
a preview under the harness's mocks, through tests/harness (tests/prod_stack.py, as the lifecycle
tests run it)."""

from __future__ import annotations

import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tests.fakes import flysim
from tests.harness import Harness
from tests.prod_stack import PROD, Stack, key, verbs

from .stats import Summary, Table, fmt, met

REPO = Path(__file__).resolve().parents[1]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def minimal_program() -> None:
    """The baseline: one pulumi-command Command and nothing else."""
    from pulumi_command import local

    local.Command("hello", create="echo hello")


def flyctl_calls() -> Table:
    tmp = Path(tempfile.mkdtemp(prefix="bench-program-"))
    try:
        stack = Stack(tmp)
        regions = json.loads(PROD[key("replicas")])
        n_regions = len(regions)
        rows = []

        def step(label: str, action, target: int, exact=True, expect_ok=True) -> None:
            result = action()
            if result.ok != expect_ok:
                raise RuntimeError(f"{label} failed:\n{result.log_text[-3000:]}")
            calls = stack.new_calls()
            count = len(calls)
            ok = count == target if exact else count <= target
            shown = ", ".join(verbs(calls)) or "none"
            rows.append([label, str(count), ("= " if exact else "≤ ") + str(target), met(ok),
                         shown])  # fmt: skip

        # app, 3 for addresses, 2 for the primary's volume, 3 for the Tigris bucket (status,
        # secrets list, create), secrets, 2 for the deploy (machine list: is the primary
        # moving?); per replica region: list and create its volumes, scale count, check for
        # volumes left over.
        step(f"first `up` of prod, replicas {', '.join(regions)} ({n_regions} replica regions)",
             stack.up, 12 + 4 * n_regions, exact=False)  # fmt: skip
        step("`up` again, nothing changed", stack.up, 0)
        step("`preview`, nothing changed", stack.preview, 0)
        changed = [regions[0], regions[1].split("=")[0] + "=3"]
        step(f"`up`, replica count changed ({regions[1]} → {changed[1]})",
             lambda: stack.up(**{key("replicas"): json.dumps(changed)}), 4)  # fmt: skip
        run_sh = stack.project_dir / "assets" / "run.sh"
        run_sh.write_text(run_sh.read_text() + "\n# a change that ships\n")
        step("`up`, run.sh changed", stack.up, 1)
        step("`up`, keyVersion bumped (key rotation)",
             lambda: stack.up(**{key("keyVersion"): "2"}), 2)  # fmt: skip
        machines = 1 + sum(int(r.split("=")[1]) for r in changed)
        step("`up`, volumeSizeGb grown", lambda: stack.up(**{key("volumeSizeGb"): "20"}),
             1 + n_regions + machines)  # fmt: skip
        step("`up`, snapshotRetentionDays changed",
             lambda: stack.up(**{key("snapshotRetentionDays"): "14"}),
             1 + n_regions + machines)  # fmt: skip
        step("`up`, protect set", lambda: stack.up(**{key("protect"): "true"}), 0)
        step("`destroy` of the protected stack (refused)", stack.destroy, 0, expect_ok=False)
        step("`up` after the refused destroy", stack.up, 0)
        step("`up`, protect unset", lambda: stack.up(**{key("protect"): "false"}), 0)
        # each region scaled to 0, its volumes listed and destroyed, the bucket and its
        # secrets, the app
        step("`destroy`", stack.destroy, 6 + 4 * n_regions, exact=False)
        total = len(flysim.calls(stack.fly_state))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    notes = [
        "The real program (a copy of `__main__.py`, `infra/`, `assets/`) through tests/harness "
        "against the flyctl simulator (tests/fakes/flysim.py); a call is one `fly` invocation "
        f"recorded by the simulator ({total} in this sequence). Target for the first `up`: "
        "12 + 4 per replica region.",
    ]
    header = ["scenario", "flyctl calls", "target", "met?", "calls"]
    return Table("flyctl calls per lifecycle step", header, rows, notes)


def evaluation_time(reps: int) -> Table:
    tmp = Path(tempfile.mkdtemp(prefix="bench-eval-"))
    try:
        ours: list[float] = []
        minimal: list[float] = []
        for i in range(reps):
            our_stack = Stack(tmp / f"ours-{i}")
            base = Harness(
                workdir=tmp / f"min-{i}" / "pulumi", program="bench.program:minimal_program",
                project="bench-minimal", stack="dev", env=flysim.sim_env(tmp / f"min-{i}.json"),
                cwd=REPO,
            )  # fmt: skip
            pair = [(ours, our_stack.preview), (minimal, lambda b=base: b.preview())]
            random.shuffle(pair)  # neither always goes first
            for samples, preview in pair:
                started = time.perf_counter()
                result = preview()
                elapsed = time.perf_counter() - started
                if not result.ok:
                    raise RuntimeError(f"preview failed:\n{result.log_text[-3000:]}")
                samples.append(elapsed)
        log(f"  evaluation: {reps} pairs")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    o, m = Summary.of(ours), Summary.of(minimal)
    ratio = o.p50 / m.p50
    ratios = sorted(a / b for a, b in zip(ours, minimal, strict=True))
    header = ["program", "n", "median (s)", "p99 (s)", "min–max", "target", "met?"]
    rows = [
        ["ours (prod, 2 replica regions), preview of a new stack", str(o.n), fmt(o.p50, 3),
         fmt(o.p99, 3), o.spread("s", 3), "", ""],
        ["minimal: one `local.Command`", str(m.n), fmt(m.p50, 3), fmt(m.p99, 3),
         m.spread("s", 3), "", ""],
        ["ratio of medians", "", f"{ratio:.2f}x", "", f"pairwise {ratios[0]:.2f}–"
         f"{ratios[-1]:.2f}x, median {statistics.median(ratios):.2f}x", "≤ 1.5x",
         met(ratio <= 1.5)],
    ]  # fmt: skip
    notes = [
        "Wall time of `Harness.preview()` (a dry run: the program is evaluated under the "
        "harness's mock engine and nothing executes), measured around the call, so both include "
        "the same fresh Python process, Pulumi SDK import and result exchange. Pairs run "
        "back-to-back in random order.",
    ]
    return Table("Program evaluation time (preview under mocks)", header, rows, notes)


def run_all(quick: bool) -> list[Table]:
    log("program: flyctl calls")
    tables = [flyctl_calls()]
    log("program: evaluation time")
    tables.append(evaluation_time(5 if quick else 15))
    return tables
