"""What the Pulumi CLI does with Pulumi.yaml's `config:` block before `up` / `preview` run.

Sources (pulumi/pulumi, CLI 3.2xx):

- pkg/cmd/pulumi/operations/up.go and preview.go call
  pkg/workspace/config.go ValidateStackConfigAndApplyProjectConfig (= mergeConfig with validate)
  and fail with "validating stack config: <error>" before the language host starts.
  destroy.go calls it only with --run-program; by default it merges without validating, and
  runs no program, so the harness skips all of this for destroy.
- mergeConfig: declared keys in sorted order; a key in the project's namespace with neither
  `default` nor `value` that the stack lacks is missing (all missing keys in one error,
  missingStackConfigurationKeysError / formatMissingKeys); a key the stack lacks gets its
  `default` (else `value`) as a plain, never secret, value (createConfigValue: strings, ints and
  bools as text, anything else as JSON text). Stack keys that Pulumi.yaml does not declare, and
  keys of other namespaces, pass through untouched.
- validateStackConfigValues / validateStackConfigValue: only explicitly typed keys are checked:
  first `secret: true` needs a secure stack value ("... must be encrypted as it's secret"), then
  the (decrypted) value must fit the type (sdk/go/common/workspace/project.go ValidateConfigValue,
  InferFullTypeName). A default merged in above is not secure, so a typed `secret: true` key with
  a default fails whenever the stack does not set it with --secret; an untyped key is never
  checked, `secret: true` or not.
- sdk/go/common/workspace/project.go RewriteShorthandConfigValues (`key: value` shorthand) and
  Project.Validate (rules on the declarations themselves; `secret: true` with `default` is allowed).
- sdk/go/common/workspace/loaders.go LoadProjectStackBytes (stack keys without a namespace get the
  project's) and sdk/go/common/resource/config/object.go MarshalString (how a stack value becomes
  the text the program sees: scalars as text, lists and maps as JSON, `secure:` as secret).

Not modelled: ESC environments, stackConfigDir, --skip-config-validation, `--path` keys (a key
with `.` or `[`), the JSON schema check of Pulumi.yaml, YAML 1.1 vs 1.2 differences beyond
booleans (go-yaml v3 reads yes/no/on/off as strings; so does read_yaml). The harness has no
secrets provider: the text after `secure:` is taken as the decrypted value. A value given as
text that parses as a JSON list or map is taken as a structured stack value (as a YAML list or
map in the stack file would be); the CLI would see a quoted string there.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import yaml

STRING, INTEGER, BOOLEAN, ARRAY, OBJECT = "string", "integer", "boolean", "array", "object"
GO_INT64 = (-(2**63), 2**63 - 1)


class ConfigError(Exception):
    """The CLI refused the stack's config; str() is the CLI's message."""


class _Yaml12Loader(yaml.SafeLoader):
    """go-yaml v3 (the CLI's parser) reads only true/false as booleans, never yes/no/on/off."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def read_yaml(path: Path) -> Any:
    return yaml.load(Path(path).read_text(encoding="utf-8-sig"), Loader=_Yaml12Loader)


# --- values as the CLI turns them into text -------------------------------------------------------


def _go_float(number: float) -> str:
    # encoding/json formats a float64 with %g-like rules: no ".0" on whole numbers.
    if number == math.trunc(number) and abs(number) < 1e21:
        return str(int(number))
    return repr(number)


def _go_json(value: Any) -> str:
    """encoding/json.Marshal: compact, map keys sorted, <, > and & escaped."""
    def convert(item):
        if isinstance(item, float) and item == math.trunc(item) and abs(item) < 1e21:
            return int(item)
        if isinstance(item, dict):
            return {str(k): convert(v) for k, v in item.items()}
        if isinstance(item, list):
            return [convert(v) for v in item]
        return item

    text = json.dumps(convert(value), separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text


def _reveal(value: Any) -> tuple[Any, bool]:
    """(value with every `secure:` replaced by its text, whether any was there)."""
    if isinstance(value, dict) and set(value) == {"secure"} and isinstance(value["secure"], str):
        return value["secure"], True
    if isinstance(value, dict):
        pairs = [(k, _reveal(v)) for k, v in value.items()]
        return {k: v for k, (v, _) in pairs}, any(s for _, (_, s) in pairs)
    if isinstance(value, list):
        items = [_reveal(v) for v in value]
        return [v for v, _ in items], any(s for _, s in items)
    return value, False


def _stack_value_text(value: Any) -> tuple[str, bool]:
    """config/object.go MarshalString: (text the program sees, secure)."""
    revealed, secure = _reveal(value)
    if isinstance(value, dict) and set(value) == {"secure"}:
        return str(revealed), True
    if isinstance(revealed, bool):
        return ("true" if revealed else "false"), False
    if isinstance(revealed, int):
        return str(revealed), False
    if isinstance(revealed, float):
        return _go_float(revealed), False
    if isinstance(revealed, str):
        return revealed, False
    return _go_json(revealed), secure  # lists, maps (and null) are object values


def parse_key(project_name: str, key: str) -> tuple[str, str]:
    """(namespace, name): config.ParseKey, or the project's namespace when there is none."""
    if ":" not in key:
        return project_name, key  # pkg/workspace/config.go parseConfigKey
    parts = key.split(":")
    if len(parts) == 2:
        return parts[0], parts[1]
    if len(parts) == 3 and parts[1] == "config" and parts[0] and parts[2]:
        return parts[0], parts[2]
    raise ConfigError(
        f"could not parse {key} as a configuration key "
        "(configuration keys should be of the form `<namespace>:<name>`)"
    )


def _full_key(project_name: str, key: str) -> str:
    return ":".join(parse_key(project_name, key))


def load_stack_file(path: Path, project_name: str) -> tuple[dict[str, str], list[str]]:
    """Pulumi.<stack>.yaml -> ({"ns:key": text the program sees}, sorted secret keys)."""
    path = Path(path)
    if not path.exists():
        return {}, []  # LoadProjectStack: a missing stack file is an empty config
    document = read_yaml(path) or {}
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in (document.get("config") or {}).items():
        full = _full_key(project_name, str(key))
        config[full], secure = _stack_value_text(value)
        if secure:
            secret_keys.append(full)
    return config, sorted(secret_keys)


# --- Pulumi.yaml's declarations ------------------------------------------------------------------


def _namespaced_by_project(project_name: str, key: str) -> bool:
    # project.go configKeyIsNamespacedByProject
    return ":" not in key or key.startswith(project_name + ":")


def declarations(project: dict) -> dict[str, dict]:
    """The `config:` block after RewriteShorthandConfigValues (`key: v` -> default or value)."""
    name = project["name"]
    block = project.get("config")
    if not isinstance(block, dict):
        return {}  # a string here is the old spelling of stackConfigDir
    declared = {}
    for key, spec in block.items():
        if isinstance(spec, (str, int, bool, list)):
            field = "default" if _namespaced_by_project(name, key) else "value"
            spec = {field: spec}
        declared[key] = dict(spec or {})
    return declared


def full_type_name(type_name: str, items: dict | None) -> str:
    # project.go InferFullTypeName
    if items is not None:
        return f"array<{full_type_name(items.get('type', ''), items.get('items'))}>"
    return type_name


def _go_atoi(text: str) -> bool:
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        return False
    return GO_INT64[0] <= int(text) <= GO_INT64[1]


def value_fits(type_name: str, items: dict | None, value: Any) -> bool:
    """project.go ValidateConfigValue."""
    if type_name == STRING:
        return isinstance(value, str)
    if type_name == INTEGER:
        if isinstance(value, bool):
            return False
        if isinstance(value, int):
            return True
        if isinstance(value, float):
            return value == math.trunc(value)  # YAML/JSON whole numbers may arrive as floats
        return isinstance(value, str) and _go_atoi(value)
    if type_name == BOOLEAN:
        return value in ("true", "false") or isinstance(value, bool)
    if type_name == OBJECT:
        return isinstance(value, dict)
    if not isinstance(value, list) or items is None:
        return False
    return all(value_fits(items.get("type", ""), items.get("items"), item) for item in value)


def load_project(path: Path) -> dict:
    """Pulumi.yaml, refused the way loaders.go LoadProjectBytes refuses it."""
    project = read_yaml(path)
    if not isinstance(project, dict) or "name" not in project:
        # project.go ValidateProject (without its guess at a misspelt attribute)
        raise ConfigError(f"could not validate '{path}': project is missing a 'name' attribute")
    if not isinstance(project["name"], str) or not project["name"]:
        raise ConfigError(
            f"could not validate '{path}': project is missing a non-empty string 'name' attribute"
        )
    try:
        validate_project(project)
    except ConfigError as error:
        raise ConfigError(f"could not unmarshal '{path}': {error}") from None
    return project


def validate_project(project: dict) -> None:
    """project.go Project.Validate, the rules on config declarations."""
    name = project["name"]
    for key, spec in declarations(project).items():
        has_default, has_value = spec.get("default") is not None, spec.get("value") is not None
        if has_default and has_value:
            raise ConfigError(
                f"project config '{key}' cannot have both a 'default' and 'value' attribute"
            )
        typed = spec.get("type") is not None
        if _namespaced_by_project(name, key):
            if typed and spec["type"] == ARRAY and spec.get("items") is None:
                raise ConfigError(
                    f"The configuration key '{key}' declares an array "
                    "but does not specify the underlying type via the 'items' attribute"
                )
            items = spec.get("items")
            if typed and has_default and not value_fits(spec["type"], items, spec["default"]):
                raise ConfigError(
                    f"The default value specified for configuration key '{key}' is not of the "
                    f"expected type '{full_type_name(spec['type'], items)}'"
                )
        else:
            if typed:
                raise ConfigError(
                    f"Configuration key '{key}' is not namespaced by the project "
                    "and should not define a type"
                )
            if has_default:
                raise ConfigError(
                    f"Configuration key '{key}' is not namespaced by the project and "
                    "should not define a default value. "
                    "Did you mean to use the 'value' attribute instead of 'default'?"
                )
            if not has_value:
                raise ConfigError(
                    f"Configuration key '{key}' is namespaced and must provide an attribute 'value'"
                )


# --- merging and validating ----------------------------------------------------------------------


def _format_missing_keys(keys: list[str]) -> str:
    # config.go formatMissingKeys: 'a' | 'a' and 'b' | 'a', 'b' and 'c'
    if len(keys) == 1:
        return f"'{keys[0]}'"
    keys = sorted(keys)
    return ", ".join(f"'{k}'" for k in keys[:-1]) + f" and '{keys[-1]}'"


def _default_text(value: Any) -> str:
    # config.go createConfigValue: string/int/bool via %v, anything else as JSON text.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int)):
        return str(value)
    return _go_json(value)


def _content(text: str) -> Any:
    """The stack value as validateStackConfigValue sees it: JSON for object values, else text."""
    if text[:1] in "[{":
        try:
            parsed = json.loads(text)
        except ValueError:
            return text
        if isinstance(parsed, (list, dict)):
            return parsed
    return text


def apply_project_config(
    project: dict,
    stack: str,
    config: dict[str, str],
    secret_keys: list[str] | tuple[str, ...] = (),
    validate: bool = True,
) -> tuple[dict[str, str], list[str]]:
    """config.go mergeConfig: (config the program gets, its secret keys), or ConfigError.

    `project` is Pulumi.yaml as load_project returns it (its declarations already valid).
    `config` holds the stack's values as the program would see them; a key in `secret_keys`
    holds the decrypted value of a `secure:` entry. The error carries the CLI's whole message,
    "validating stack config: ..." included.
    """
    name = project["name"]
    merged = {_full_key(name, k): v for k, v in config.items()}
    secure = {_full_key(name, k) for k in secret_keys}
    declared = declarations(project)

    missing = []
    for key in sorted(declared):
        spec = declared[key]
        full = _full_key(name, key)
        namespace = parse_key(name, key)[0]
        has_default, has_value = spec.get("default") is not None, spec.get("value") is not None
        if full not in merged and not has_value and not has_default and namespace == name:
            missing.append(key)
            continue
        if full not in merged and (has_value or has_default):
            merged[full] = _default_text(spec["default"] if has_default else spec["value"])

    if validate and missing:
        word = "value" if len(missing) == 1 else "values"
        raise ConfigError(
            f"validating stack config: Stack '{stack}' is missing configuration {word} "
            f"{_format_missing_keys(missing)}"
        )
    if validate:
        for key in sorted(declared):
            spec = declared[key]
            if spec.get("type") is None:
                continue  # IsExplicitlyTyped: untyped keys are never checked
            full = _full_key(name, key)
            if spec.get("secret") and full not in secure:
                raise ConfigError(
                    f"validating stack config: Stack '{stack}' with configuration key '{key}' "
                    "must be encrypted as it's secret"
                )
            if not value_fits(spec["type"], spec.get("items"), _content(merged[full])):
                raise ConfigError(
                    f"validating stack config: Stack '{stack}' with configuration key '{key}' "
                    f"must be of type '{full_type_name(spec['type'], spec.get('items'))}'"
                )
    return merged, sorted(secure)
