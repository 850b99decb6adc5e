"""The settings model, Pulumi.yaml's config schema and the README's table say the same thing."""

import json
import re
from pathlib import Path

import yaml
from pydantic import SecretStr
from pydantic_core import PydanticUndefined

from infra.settings import config_keys

ROOT = Path(__file__).resolve().parents[1]


def model_defaults() -> dict:
    defaults = {}
    for key, field in config_keys().items():
        default = field.get_default(call_default_factory=True)
        defaults[key] = [] if default == {} else default
    return defaults


def readme_rows() -> dict[str, tuple[str, str]]:
    rows = {}
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    for line in section.splitlines():
        m = re.fullmatch(r"\| `(\w+)` \| (.+?) \| (.+) \|", line)
        if m:
            rows[m[1]] = (m[2], m[3])
    return rows


def test_pulumi_yaml_declares_every_key_with_the_models_type_default_and_description():
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    fields = config_keys()
    assert list(declared) == list(fields)
    for key, default in model_defaults().items():
        entry, field = declared[key], fields[key]
        assert entry["description"] == field.description, key
        if default is PydanticUndefined or default is None:
            assert "default" not in entry, key
        else:
            assert entry["default"] == default, key
        expected_type = {bool: "boolean", int: "integer"}.get(type(default), "string")
        if key == "replicas":
            expected_type = "array"
        elif default is None or default is PydanticUndefined:
            expected_type = "string"
        assert entry["type"] == expected_type, key
        assert entry.get("secret", False) == ("SecretStr" in str(field.annotation)), key


def test_readme_table_lists_every_key_with_the_models_default_and_description():
    rows = readme_rows()
    assert list(rows) == list(config_keys())
    for key, default in model_defaults().items():
        shown, meaning = rows[key]
        assert meaning == config_keys()[key].description, key
        if default is PydanticUndefined:
            assert shown == "*required*", key
        elif default is None:
            assert shown == "—", key
        else:
            value = json.dumps(default) if isinstance(default, (bool, list)) else str(default)
            assert shown == f"`{value}`", key


def test_secret_keys_are_secrets_everywhere():
    secret = {k for k, f in config_keys().items() if f.annotation == SecretStr | None}
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    assert secret == {k for k, v in declared.items() if v.get("secret")}
    assert secret == {"s3AccessKeyId", "s3SecretAccessKey"}


def test_quick_start_gives_the_test_command_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make setup" in readme and "make test" in readme
    assert "make setup" in ci and "make test" in ci
