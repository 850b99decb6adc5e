"""The stack's state file: JSON like a Pulumi checkpoint, secrets as ciphertext.

Pulumi writes a secret in a checkpoint as ``{"<sig>": "<secret sig>", "ciphertext": "..."}``
(pkg/resource/stack/deployment.go, SerializePropertyValue). Here the ciphertext is a Fernet
token whose key lives in a separate file, so grepping the state file for a secret is a real
check that it never holds the plaintext.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from .values import SECRET_SIG, SIG_KEY, is_secret

STATE_VERSION = 1


def new_key() -> str:
    return Fernet.generate_key().decode()


def _encrypt(value: Any, fernet: Fernet) -> Any:
    if is_secret(value):
        token = fernet.encrypt(json.dumps(value["value"]).encode()).decode()
        return {SIG_KEY: SECRET_SIG, "ciphertext": token}
    if isinstance(value, dict):
        return {k: _encrypt(v, fernet) for k, v in value.items()}
    if isinstance(value, list):
        return [_encrypt(v, fernet) for v in value]
    return value


def _decrypt(value: Any, fernet: Fernet) -> Any:
    if isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG and "ciphertext" in value:
        return {SIG_KEY: SECRET_SIG, "value": json.loads(fernet.decrypt(value["ciphertext"]))}
    if isinstance(value, dict):
        return {k: _decrypt(v, fernet) for k, v in value.items()}
    if isinstance(value, list):
        return [_decrypt(v, fernet) for v in value]
    return value


def empty_state(project: str, stack: str) -> dict:
    return {"version": STATE_VERSION, "project": project, "stack": stack, "resources": []}


def load(path: Path, key: str, project: str, stack: str) -> dict:
    """The decrypted state: secrets as ``{"<sig>": "<secret sig>", "value": ...}``."""
    if not path.exists():
        return empty_state(project, stack)
    return _decrypt(json.loads(path.read_text()), Fernet(key.encode()))


def save(path: Path, key: str, state: dict) -> None:
    encrypted = _encrypt(state, Fernet(key.encode()))
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(encrypted, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)
