"""Every stack a user runs passes the Pulumi CLI's config checks, then the settings model.

The CLI merges Pulumi.yaml's declarations into the stack and validates them before the program
runs (tests/harness/cliconfig.py, from pulumi/pulumi pkg/workspace/config.go). A stack it refuses
never reaches the program, so the settings model's own checks come second."""

import json
import re
import shlex
from pathlib import Path

import pytest

from infra.settings import PROJECT, StackSettings, parse_settings
from tests.harness.cliconfig import apply_project_config, load_project, load_stack_file

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ["prod", "staging", "local"]


def cli_checked(stack: str, config: dict[str, str], secret_keys=()) -> StackSettings:
    """What the program gets after the CLI's checks, validated as load_settings does."""
    project = load_project(ROOT / "Pulumi.yaml")
    merged, secure = apply_project_config(project, stack, config, list(secret_keys))
    prefix = f"{PROJECT}:"
    raw = {k.removeprefix(prefix): v for k, v in merged.items() if k.startswith(prefix)}
    return parse_settings(raw, {k.removeprefix(prefix) for k in secure})


@pytest.mark.parametrize("stack", SHIPPED)
def test_every_shipped_stack_file_passes_the_cli_and_the_settings(stack):
    config, secret_keys = load_stack_file(ROOT / f"Pulumi.{stack}.yaml", PROJECT)
    settings = cli_checked(stack, config, secret_keys)
    assert settings.app_name.startswith("letter-unboxed-db")


def readme_new_environment() -> tuple[str, dict[str, str]]:
    """The stack the README's "Adding an environment" steps make, as `pulumi config set` would."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Adding an environment\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    stack, config, lists = "", {}, {}
    for line in block.splitlines():
        words = shlex.split(line, comments=True)
        if words[:3] == ["pulumi", "stack", "init"]:
            stack = words[3]
        elif words[:3] == ["pulumi", "config", "set"]:
            args = words[3:]
            path = args[0] == "--path"
            key, value = args[path:][:2]
            if path:
                name, index = re.fullmatch(r"(\w+)\[(\d+)\]", key).groups()
                lists.setdefault(name, {})[int(index)] = value
            else:
                config[f"{PROJECT}:{key}"] = value
    for name, items in lists.items():
        config[f"{PROJECT}:{name}"] = json.dumps([items[i] for i in sorted(items)])
    return stack, config


def test_the_readme_s_new_environment_passes_the_cli_and_the_settings():
    stack, config = readme_new_environment()
    assert stack == "dev" and f"{PROJECT}:appName" in config
    settings = cli_checked(stack, config)
    assert settings.replicas == {"ams": 1}


def test_an_s3_stack_passes_with_its_credentials_encrypted():
    config, _ = load_stack_file(ROOT / "Pulumi.staging.yaml", PROJECT)
    s3 = {"backupTarget": "s3", "s3Bucket": "staging-backups",
          "s3Endpoint": "https://fly.storage.tigris.dev", "s3AccessKeyId": "tid_x",
          "s3SecretAccessKey": "tsec_y"}  # fmt: skip
    config.update({f"{PROJECT}:{k}": v for k, v in s3.items()})
    secret = [f"{PROJECT}:s3AccessKeyId", f"{PROJECT}:s3SecretAccessKey"]
    settings = cli_checked("staging", config, secret)
    assert settings.s3_secret_access_key.get_secret_value() == "tsec_y"
