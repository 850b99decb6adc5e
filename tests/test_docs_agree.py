"""The settings model, Pulumi.yaml's config schema and the README's table say the same thing."""

import json
import re
from pathlib import Path

import pytest
import yaml
from pydantic import SecretStr
from pydantic_core import PydanticUndefined

from infra.settings import SettingsError, config_keys, parse_settings, secret_config_keys

ROOT = Path(__file__).resolve().parents[1]


def model_defaults() -> dict:
    defaults = {}
    for key, field in config_keys().items():
        default = field.get_default(call_default_factory=True)
        if isinstance(default, SecretStr):
            default = default.get_secret_value()
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
        if default is PydanticUndefined:
            assert "default" not in entry, key
        else:
            assert entry["default"] == default, key
        expected_type = {bool: "boolean", int: "integer"}.get(type(default), "string")
        if key == "replicas":
            expected_type = "array"
        assert entry["type"] == expected_type, key
        # `secret: true` would make the CLI demand the key in every stack (pkg/workspace/
        # config.go): the program enforces encryption itself (settings.secret_config_keys).
        assert "secret" not in entry, key


def test_readme_table_lists_every_key_with_the_models_default_and_description():
    rows = readme_rows()
    assert list(rows) == list(config_keys())
    for key, default in model_defaults().items():
        shown, meaning = rows[key]
        assert meaning == config_keys()[key].description, key
        if default is PydanticUndefined:
            assert shown == "*required*", key
        elif default == "":
            assert shown == "—", key
        else:
            value = json.dumps(default) if isinstance(default, (bool, list)) else str(default)
            assert shown == f"`{value}`", key


def test_only_appname_is_required_so_every_stack_passes_the_cli():
    # The CLI requires in every stack each declared key without a default (mergeConfig).
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    assert [k for k, v in declared.items() if "default" not in v] == ["appName"]


def test_secret_keys_are_the_credentials_and_refused_in_plain_text():
    assert secret_config_keys() == [
        "s3AccessKeyId", "s3SecretAccessKey", "restoreFromAccessKeyId", "restoreFromSecretAccessKey"
    ]  # fmt: skip
    s3 = {"appName": "x", "backupTarget": "s3", "s3Bucket": "bkt", "s3Endpoint": "https://e",
          "s3AccessKeyId": "AKID", "s3SecretAccessKey": "shh"}  # fmt: skip
    assert parse_settings(s3, secret_keys={"s3AccessKeyId", "s3SecretAccessKey"})
    with pytest.raises(SettingsError) as caught:
        parse_settings(s3, secret_keys={"s3AccessKeyId"})
    assert "s3SecretAccessKey = '[secret]': set it encrypted" in str(caught.value)
    assert "shh" not in str(caught.value)


def test_quick_start_gives_the_test_command_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make setup" in readme and "make test" in readme
    assert "make setup" in ci and "make test" in ci


def test_every_test_the_conformance_table_names_exists():
    """tests/CONFORMANCE.md stays true: each `file.py::test` it cites is a test in that file."""
    table = (ROOT / "tests" / "CONFORMANCE.md").read_text()
    cited: list[tuple[str, str]] = []
    for cell in re.findall(r"`(tests/[\w/]+\.py)((?:::\w+)?)`(?P<rest>(?:, `::\w+`)*)", table):
        path, first, rest = cell
        names = ([first[2:]] if first else []) + re.findall(r"`::(\w+)`", rest)
        cited += [(path, name) for name in names]
        assert (ROOT / path).is_file(), path
    assert len(cited) > 30
    for path, name in cited:
        assert re.search(rf"^def {name}\(", (ROOT / path).read_text(), re.M), f"{path}::{name}"


def test_no_module_outside_tests_imports_a_test_module():
    """Shared test code lives in support modules (e.g. tests/prod_stack.py), never in test_*."""
    for path in [ROOT / "__main__.py", *ROOT.glob("infra/**/*.py"), *ROOT.glob("bench/*.py")]:
        assert not re.search(r"tests\.test_\w+|tests import test_", path.read_text()), path
