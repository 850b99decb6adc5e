"""Pulumi's wire/state encoding of property values, as plain JSON.

Signatures come from sdk/go/common/resource/sig/sig.go and the Python SDK's
pulumi/runtime/rpc.py (_special_sig_key, _special_secret_sig, UNKNOWN).
"""

from __future__ import annotations

import json
from typing import Any

SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17"
RESOURCE_REF_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG


def make_secret(value: Any) -> Any:
    if is_secret(value):
        return value
    return {SIG_KEY: SECRET_SIG, "value": unwrap(value)}


def contains_secret(value: Any) -> bool:
    if is_secret(value):
        return True
    if isinstance(value, dict):
        return any(contains_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_secret(v) for v in value)
    return False


def contains_unknown(value: Any) -> bool:
    if value == UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(contains_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_unknown(v) for v in value)
    return False


def unwrap(value: Any) -> Any:
    """The plain value with every secret wrapper removed (deeply)."""
    if is_secret(value):
        return unwrap(value["value"])
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def plain_equal(old: Any, new: Any) -> bool:
    # Secretness alone is not a diff: the engine compares the underlying values.
    return canonical(unwrap(old)) == canonical(unwrap(new))


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def go_quote(text: str) -> str:
    """Approximates Go's %q (strconv.Quote): JSON escaping is the same for the usual cases."""
    return json.dumps(text, ensure_ascii=False)
