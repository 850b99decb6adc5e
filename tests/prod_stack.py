"""A prod-like stack of the real program, driven through the harness against the flyctl
simulator: what the lifecycle tests and the benchmarks both run."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

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
        # A folder copied from another Stack's (see copy_to) keeps its project and state.
        self.project_dir = tmp / "project" if (tmp / "project").is_dir() else copy_project(tmp)
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

    def copy_to(self, tmp: Path) -> Stack:
        """The same stack, Fly account and state in another folder: a test starts from a
        deployed stack without deploying it again."""
        shutil.copytree(self.project_dir.parent, tmp, dirs_exist_ok=True)
        copy = Stack(tmp, self.harness.stack)
        copy.config, copy.secret_keys = dict(self.config), list(self.secret_keys)
        copy.new_calls()
        return copy

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
        words = [w for w in argv[:2] if re.fullmatch(r"[a-z][a-z0-9-]*", w)]
        if "--region" in argv:
            words.append(argv[argv.index("--region") + 1])
        out.append(" ".join(words))
    return out
