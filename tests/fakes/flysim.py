"""A flyctl simulator: the subset of `fly` that infra/flyctl.py's scripts call.

Every flag, argument rule, output shape and error text below is taken from flyctl's
source (github.com/superfly/flyctl, read at commit ad0172f, Aug 2026) or the libraries it
uses (spf13/cobra, spf13/pflag, superfly/fly-go). The file each behaviour comes from is
named next to it. Where the text comes from the Fly API rather than flyctl (so the source
cannot show it), the comment says "API text (assumed)"; scripts must not depend on those.

Fly's state lives in one JSON file named by $FLY_SIM_STATE. Tests read and seed it with
the helper functions at the bottom of this module.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shlex
import sys
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# --------------------------------------------------------------------------------------
# Errors and output


class FlyError(Exception):
    """An error flyctl prints as `Error: <message>` (internal/cli/cli.go printError)."""

    def __init__(
        self, message: str, *, suggestion: str = "", request_id: str = "", exit_code: int = 1
    ) -> None:
        super().__init__(message)
        self.message = message
        self.suggestion = suggestion
        self.request_id = request_id
        self.exit_code = exit_code


class UsageError(FlyError):
    """A cobra flag/argument error: cobra prints the usage to stdout as well
    (spf13/cobra command.go ExecuteC: c.Println(cmd.UsageString()); root's out is
    io.Out, set in internal/cli/cli.go)."""


class NonInteractiveError(FlyError):
    """internal/prompt/prompt.go: a prompt on a non-TTY returns ErrNonInteractive and the
    command turns it into prompt.NonInteractiveError(...). The simulator is never
    interactive (iostreams.IsInteractive needs stdin and stdout to be TTYs, and
    scripts run under Pulumi never have them)."""


# fly-go api.go
ERR_NO_AUTH_TOKEN = "no access token available. Please login with 'flyctl auth login'"
# internal/command/command.go
ERR_REQUIRE_APP_NAME = (
    "the config for your app is missing an app name, add an app field to the fly.toml file "
    "or specify with the -a flag"
)
# fly-go flaps/flaps_error.go (nameTaken suggestion) and legacyNameTakenMessage
NAME_TAKEN_SUGGESTION = (
    "App names are unique across all of Fly.io, not just your organization, so this name may "
    "be held by an app you cannot see. Try a different name."
)
NAME_TAKEN_MESSAGE = "Validation failed: Name has already been taken"


def app_not_found(name: str) -> FlyError:
    # GraphQL error text, as real flyctl prints it (e.g. serverless-dns/serverless-dns#173:
    # `Error: Could not find App "rdns-dev"`); matched by internal/command/deploy/deploy.go.
    return FlyError(f'Could not find App "{name}"')


def go_json(value: Any) -> str:
    """internal/render/render.go JSON: json.Encoder with SetIndent("", "    ").
    Go's encoder escapes <, > and & and keeps other non-ASCII as is."""
    text = json.dumps(value, indent=4, ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text + "\n"


# --------------------------------------------------------------------------------------
# Flags (spf13/pflag semantics, flyctl's internal/flag/flag.go definitions)


@dataclass
class Flag:
    name: str
    kind: str  # bool | string | int | float | stringArray | stringSlice
    shorthand: str = ""
    default: Any = None
    aliases: tuple[str, ...] = ()
    no_opt_default: str | None = None

    def __post_init__(self) -> None:
        if self.default is None:
            self.default = {
                "bool": False,
                "string": "",
                "int": 0,
                "float": 0.0,
                "stringArray": [],
                "stringSlice": [],
            }[self.kind]
        if self.kind == "bool" and self.no_opt_default is None:
            self.no_opt_default = "true"  # pflag BoolVar sets NoOptDefVal "true"


def b(name: str, shorthand: str = "", default: bool = False, aliases=()) -> Flag:
    return Flag(name, "bool", shorthand, default, tuple(aliases))


def s(name: str, shorthand: str = "", default: str = "", aliases=(), no_opt=None) -> Flag:
    return Flag(name, "string", shorthand, default, tuple(aliases), no_opt)


def i(name: str, shorthand: str = "", default: int = 0, aliases=()) -> Flag:
    return Flag(name, "int", shorthand, default, tuple(aliases))


# internal/command/root/root.go persistent flags
GLOBAL_FLAGS = [s("access-token", "t"), b("verbose"), b("debug")]

# internal/flag/flag.go
APP, CONFIG = s("app", "a"), s("config", "c")
YES = b("yes", "y", aliases=("auto-confirm",))
JSON = b("json", "j")
ORG = s("org", "o")
REGION = s("region", "r")
# internal/flag/machines.go VMSizeFlags
VM_SIZE_FLAGS = [
    s("vm-size"),
    i("vm-cpus", aliases=("cpus",)),
    s("vm-cpu-kind", aliases=("vm-cpukind",)),
    s("vm-memory", aliases=("memory",)),
    s("vm-max-memory"),
    i("vm-gpus"),
    s("vm-gpu-kind", aliases=("vm-gpukind",)),
    s("host-dedication-id"),
]
ENV = Flag("env", "stringArray", "e")

# internal/command/deploy/deploy.go CommonFlags + New()
DEPLOY_FLAGS = [
    s("image", "i"),
    b("now"),
    b("remote-only"),
    b("local-only"),
    b("push"),
    b("wg", default=True),
    b("https-failover", default=True),
    b("detach"),
    s("strategy"),
    s("dockerfile"),
    s("ignorefile"),
    s("image-label"),
    Flag("build-arg", "stringArray"),
    Flag("build-secret", "stringArray"),
    s("build-target"),
    s("build-context-warn-size"),
    b("no-cache"),
    s("depot", default="auto", no_opt="true"),
    s("depot-scope"),
    b("nixpacks"),
    s("buildkit-addr"),
    s("buildkit-image"),
    b("buildkit"),
    b("build-only"),
    s("buildpacks-docker-host"),
    Flag("buildpacks-volume", "stringSlice"),
    b("recreate-builder"),
    YES,
    *VM_SIZE_FLAGS,
    ENV,
    s("wait-timeout", default="5m0s"),
    s("release-command-timeout", default="5m0s"),
    s("lease-timeout", default="13s"),
    b("force-machines"),
    b("ha", default=True),
    b("smoke-checks", default=True),
    b("dns-checks", default=True),
    Flag("max-unavailable", "float", default=0.33),
    b("no-public-ips"),
    b("flycast"),
    Flag("file-local", "stringArray"),
    Flag("file-literal", "stringArray"),
    Flag("file-secret", "stringArray"),
    s("primary-region"),
    Flag("regions", "stringSlice", aliases=("only-regions",)),
    Flag("exclude-regions", "stringSlice"),
    Flag("only-machines", "stringSlice"),
    Flag("exclude-machines", "stringSlice"),
    Flag("process-groups", "stringSlice"),
    Flag("label", "stringArray"),
    i("max-concurrent", default=8),
    i("immediate-max-concurrent", default=8),
    i("volume-initial-size"),
    s("signal", "s"),
    s("deploy-retries", default="auto"),
    s("builder-pool", default="auto", no_opt="true"),
    s("compression"),
    i("compression-level", default=-1),
    APP,
    CONFIG,
    b("update-only"),
    b("skip-release-command"),
    s("export-manifest"),
    s("from-manifest"),
]


@dataclass
class Command:
    path: tuple[str, ...]
    use: str
    flags: list[Flag]
    args: tuple  # ("exact", n) | ("max", n) | ("min", n) | ("range", a, b) | ("any",)
    run: Any
    aliases: tuple[str, ...] = ()

    def flag_index(self) -> tuple[dict[str, Flag], dict[str, Flag]]:
        by_name: dict[str, Flag] = {}
        by_short: dict[str, Flag] = {}
        for f in [*self.flags, *GLOBAL_FLAGS]:
            by_name[f.name] = f
            for alias in f.aliases:
                by_name[alias] = f
            if f.shorthand:
                by_short[f.shorthand] = f
        return by_name, by_short

    def usage(self) -> str:
        # cobra UseLine: parent path + Use, " [flags]" appended when the command has flags.
        line = " ".join(("fly", *self.path[:-1], self.use))
        if "[flags]" not in line:
            line += " [flags]"
        names = ", ".join(f"--{f.name}" for f in self.flags)
        return f"Usage:\n  {line}\n\nFlags:\n  {names}\n"


@dataclass
class Parsed:
    values: dict[str, Any]
    changed: set[str]
    args: list[str]

    def get(self, name: str) -> Any:
        return self.values[name]


_GO_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_GO_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def _flag_display(f: Flag) -> str:
    # spf13/pflag errors.go InvalidValueError
    return f"-{f.shorthand}, --{f.name}" if f.shorthand else f"--{f.name}"


def _set_value(parsed: Parsed, f: Flag, value: str) -> None:
    def invalid(cause: str) -> UsageError:
        return UsageError(f'invalid argument "{value}" for "{_flag_display(f)}" flag: {cause}')

    if f.kind == "bool":
        if value not in _GO_TRUE | _GO_FALSE:
            raise invalid(f'strconv.ParseBool: parsing "{value}": invalid syntax')
        parsed.values[f.name] = value in _GO_TRUE
    elif f.kind == "int":
        # pflag int.go: strconv.ParseInt(s, 0, 64)
        try:
            if value != value.strip():
                raise ValueError(value)  # Python's int() would strip; Go's does not
            parsed.values[f.name] = int(value, 0)
        except ValueError:
            raise invalid(f'strconv.ParseInt: parsing "{value}": invalid syntax') from None
    elif f.kind == "float":
        try:
            parsed.values[f.name] = float(value)
        except ValueError:
            raise invalid(f'strconv.ParseFloat: parsing "{value}": invalid syntax') from None
    elif f.kind == "stringArray":
        current = parsed.values[f.name] if f.name in parsed.changed else []
        parsed.values[f.name] = [*current, value]
    elif f.kind == "stringSlice":
        current = parsed.values[f.name] if f.name in parsed.changed else []
        parsed.values[f.name] = [*current, *[v for v in value.split(",")]]
    else:
        parsed.values[f.name] = value
    parsed.changed.add(f.name)


def parse_flags(cmd: Command, argv: list[str]) -> Parsed:
    """spf13/pflag flag.go parseArgs/parseLongArg/parseSingleShortArg, interspersed."""
    by_name, by_short = cmd.flag_index()
    parsed = Parsed({f.name: f.default for f in by_name.values()}, set(), [])
    rest = list(argv)
    while rest:
        arg = rest.pop(0)
        if len(arg) < 2 or arg[0] != "-":
            parsed.args.append(arg)
            continue
        if arg == "--":
            parsed.args.extend(rest)
            break
        if arg.startswith("--"):
            name, has_value, value = arg[2:].partition("=")
            if not name or name[0] in "-=":
                raise UsageError(f"bad flag syntax: {arg}")
            f = by_name.get(name)
            if f is None:
                raise UsageError(f"unknown flag: --{name}")
            if not has_value:
                if f.no_opt_default is not None:
                    value = f.no_opt_default
                elif rest:
                    value = rest.pop(0)
                else:
                    raise UsageError(f"flag needs an argument: --{name}")
            _set_value(parsed, f, value)
            continue
        shorthands = arg[1:]
        while shorthands:
            c = shorthands[0]
            f = by_short.get(c)
            if f is None:
                raise UsageError(f"unknown shorthand flag: '{c}' in -{shorthands}")
            if len(shorthands) > 2 and shorthands[1] == "=":
                value, shorthands = shorthands[2:], ""
            elif f.no_opt_default is not None:
                value, shorthands = f.no_opt_default, shorthands[1:]
            elif len(shorthands) > 1:
                value, shorthands = shorthands[1:], ""
            elif rest:
                value, shorthands = rest.pop(0), ""
            else:
                raise UsageError(f"flag needs an argument: '{c}' in -{shorthands}")
            _set_value(parsed, f, value)
    return parsed


def validate_args(cmd: Command, args: list[str]) -> None:
    """spf13/cobra args.go messages."""
    rule, n = cmd.args[0], len(args)
    if rule == "exact" and n != cmd.args[1]:
        raise UsageError(f"accepts {cmd.args[1]} arg(s), received {n}")
    if rule == "max" and n > cmd.args[1]:
        raise UsageError(f"accepts at most {cmd.args[1]} arg(s), received {n}")
    if rule == "min" and n < cmd.args[1]:
        raise UsageError(f"requires at least {cmd.args[1]} arg(s), only received {n}")
    if rule == "range" and not cmd.args[1] <= n <= cmd.args[2]:
        raise UsageError(f"accepts between {cmd.args[1]} and {cmd.args[2]} arg(s), received {n}")


# --------------------------------------------------------------------------------------
# State


REGIONS = (
    "ams arn atl bog bom bos cdg den dfw ewr eze fra gdl gig gru hkg iad jnb lax lhr mad mia "
    "nrt ord otp phx qro scl sea sin sjc syd waw yul yyz"
).split()
# fly-go flaps/flaps_volumes.go destroyedVolumeStates (hidden by GetVolumes)
DESTROYED_VOLUME_STATES = (
    "scheduling_destroy",
    "fork_cleanup",
    "waiting_for_detach",
    "pending_destroy",
    "destroying",
)
DEFAULT_GUEST = {"cpu_kind": "shared", "cpus": 1, "memory_mb": 256}
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def empty_state() -> dict:
    return {
        # Organizations the token can see ("member"), and others that only own apps.
        "orgs": {"personal": {"name": "Personal", "type": "PERSONAL", "member": True}},
        "apps": {},
        "volumes": {},
        "machines": {},
        "seq": 0,
        "failures": [],
        "calls": [],
    }


class Sim:
    def __init__(self, state: dict, env: dict[str, str], cwd: str, out, err) -> None:
        self.state, self.env, self.cwd, self.out, self.err = state, env, cwd, out, err

    # ids and time are deterministic so test output is stable
    def next_seq(self) -> int:
        self.state["seq"] += 1
        return self.state["seq"]

    def now(self) -> str:
        return (EPOCH + timedelta(seconds=self.state["seq"])).strftime("%Y-%m-%dT%H:%M:%SZ")

    def new_id(self, kind: str) -> str:
        digest = hashlib.sha256(f"{kind}-{self.next_seq()}".encode()).hexdigest()
        if kind == "vol":
            return "vol_" + digest[:16]
        return digest[:14]

    def print(self, text: str = "") -> None:
        self.out.write(text + "\n")

    def eprint(self, text: str = "") -> None:
        self.err.write(text + "\n")

    # --- visibility: the token sees apps of orgs it is a member of
    def member_orgs(self) -> dict[str, dict]:
        return {k: v for k, v in self.state["orgs"].items() if v.get("member")}

    def visible_app(self, name: str) -> dict:
        app = self.state["apps"].get(name)
        if app is None or app["org"] not in self.member_orgs():
            raise app_not_found(name)
        return app

    def app_volumes(self, app: str, include_destroyed: bool = False) -> list[dict]:
        vols = [v for v in self.state["volumes"].values() if v["app"] == app]
        if not include_destroyed:
            vols = [v for v in vols if v["state"] not in DESTROYED_VOLUME_STATES]
        return sorted(vols, key=lambda v: v["seq"])

    def app_machines(self, app: str) -> list[dict]:
        ms = [
            m
            for m in self.state["machines"].values()
            if m["app"] == app and m["state"] != "destroyed"
        ]
        return sorted(ms, key=lambda m: m["seq"])


def volume_json(v: dict) -> dict:
    """fly-go volume_types.go Volume field order and json tags."""
    return {
        "id": v["id"],
        "name": v["name"],
        "state": v["state"],
        "size_gb": v["size_gb"],
        "region": v["region"],
        "zone": v["zone"],
        "encrypted": v["encrypted"],
        "attached_machine_id": v["attached_machine_id"],
        "attached_alloc_id": None,
        "created_at": v["created_at"],
        "host_dedication_id": "",
        "snapshot_retention": v["snapshot_retention"],
        "auto_backup_enabled": v["auto_backup_enabled"],
        "host_status": "ok",
    }


def print_volume(sim: Sim, v: dict, app: str) -> None:
    """internal/command/volumes/volumes.go printVolume (%20s: %s lines)."""
    created = datetime.strptime(v["created_at"], "%Y-%m-%dT%H:%M:%SZ")
    rows = [
        ("ID", v["id"]),
        ("Name", v["name"]),
        ("App", app),
        ("Region", v["region"]),
        ("Zone", v["zone"]),
        ("Size GB", v["size_gb"]),
        ("Encrypted", str(v["encrypted"]).lower()),
        ("Created at", created.strftime("%d %b %y %H:%M UTC")),
        ("Snapshot retention", v["snapshot_retention"]),
        ("Scheduled snapshots", str(v["auto_backup_enabled"]).lower()),
    ]
    for key, value in rows:
        sim.print(f"{key:>20}: {value}")


def app_json(sim: Sim, app: dict) -> dict:
    """fly-go types.go App (no json tags: Go field names), the fields apps list queries
    (internal/command/apps/list.go getApps); the rest of the struct is zero values."""
    org = sim.state["orgs"][app["org"]]
    release = app["releases"][-1] if app["releases"] else None
    return {
        "ID": app["name"],
        "InternalNumericID": 0,
        "Name": app["name"],
        "State": "",
        "Status": "deployed" if release else "pending",
        "Deployed": bool(release),
        "Hostname": f"{app['name']}.fly.dev",
        "AppURL": "",
        "Version": 0,
        "NetworkID": 0,
        "Network": app.get("network", ""),
        "Release": None,
        "Organization": {
            "ID": app["org"],
            "InternalNumericID": "",
            "Name": org["name"],
            "RemoteBuilderImage": "",
            "RemoteBuilderApp": None,
            "Slug": app["org"],
            "RawSlug": "",
            "Type": org["type"],
            "PaidPlan": False,
            "Billable": False,
            "Settings": None,
        },
        "Secrets": None,
        "CurrentRelease": (
            {"CreatedAt": release["created_at"], "Status": release["status"]} if release else None
        ),
        "PlatformVersion": "machines",
    }


# --------------------------------------------------------------------------------------
# Shared preparers (internal/command/command.go)


def require_session(sim: Sim, parsed: Parsed) -> None:
    """RequireSession: token from --access-token, else FLY_ACCESS_TOKEN then FLY_API_TOKEN
    (internal/config/config.go applyEnv/applyFlags). Without one, and not interactive,
    handleReLogin returns fly.ErrNoAuthToken."""
    if "access-token" in parsed.changed:
        token = parsed.get("access-token")
    else:
        token = sim.env.get("FLY_ACCESS_TOKEN") or sim.env.get("FLY_API_TOKEN") or ""
    if not token:
        raise FlyError(ERR_NO_AUTH_TOKEN)


def load_app_config(sim: Sim, parsed: Parsed) -> tuple[dict | None, str]:
    """LoadAppConfigIfPresent: --config PATH tries PATH then PATH/fly.toml; otherwise the
    working directory's fly.toml (relative paths resolve against the working directory,
    which deploy has already changed to its positional argument)."""
    given = parsed.values.get("config", "")
    if given:
        base = Path(sim.cwd, given)
        candidates = [base, base / "fly.toml"]
    else:
        candidates = [Path(sim.cwd, "fly.toml")]
    for path in candidates:
        if path.is_file():
            try:
                return tomllib.loads(path.read_text()), str(path)
            except tomllib.TOMLDecodeError as exc:
                raise FlyError(f"failed loading app config from {path}: {exc}") from None
    if given:
        raise FlyError(
            f"config file not found at specified path: {given} "
            f"(also tried: {Path(given) / 'fly.toml'})"
        )
    return None, ""


def require_app_name(sim: Sim, parsed: Parsed) -> str:
    """RequireAppName: --app, then $FLY_APP, then the config file's `app`."""
    config, _ = load_app_config(sim, parsed)
    name = parsed.values.get("app", "") or sim.env.get("FLY_APP", "")
    if not name and config:
        name = config.get("app", "")
    if not name:
        raise FlyError(ERR_REQUIRE_APP_NAME)
    return name


def load_app_name_if_present(sim: Sim, parsed: Parsed) -> str:
    config, _ = load_app_config(sim, parsed)
    name = parsed.values.get("app", "") or sim.env.get("FLY_APP", "")
    if not name and config:
        name = config.get("app", "")
    return name


# --------------------------------------------------------------------------------------
# apps (internal/command/apps/*.go)


def run_apps_create(sim: Sim, p: Parsed) -> None:
    """internal/command/apps/create.go RunCreate."""
    require_session(sim, p)
    arg = p.args[0] if p.args else ""
    fname = p.get("name")
    if arg and fname and arg != fname:
        raise FlyError(f"two app names specified {arg} and {fname}, only one may be specified")
    name = arg or fname
    if not name:
        if p.get("generate-name"):
            name = "app-" + sim.new_id("app")[:8]
        else:
            # internal/prompt/prompt.go SelectAppName on a non-TTY
            raise NonInteractiveError(
                "name argument or flag must be specified when not running interactively"
            )
    org_slug = choose_org(sim, p)
    if name in sim.state["apps"]:
        # flaps CreateApp: the API answers a taken name (in any org) with a 422 carrying
        # the name_taken status; fly-go attaches NAME_TAKEN_SUGGESTION. API text (assumed,
        # from fly-go's legacyNameTakenMessage).
        raise FlyError(
            NAME_TAKEN_MESSAGE,
            suggestion=NAME_TAKEN_SUGGESTION,
            request_id=f"01SIM{sim.next_seq():08d}-yyz",
        )
    sim.state["apps"][name] = {
        "name": name,
        "org": org_slug,
        "network": p.get("network"),
        "created_at": sim.now(),
        "secrets": {},
        "releases": [],
    }
    if p.get("json"):
        sim.out.write(go_json(app_json(sim, sim.state["apps"][name])))
    else:
        sim.print(f"New app created: {name}")


def choose_org(sim: Sim, p: Parsed) -> str:
    """internal/prompt/prompt.go Org: --org, else $FLY_ORG / $FLY_ORGANIZATION
    (internal/config/config.go); a single personal org is picked automatically."""
    slug = p.get("org") or sim.env.get("FLY_ORG") or sim.env.get("FLY_ORGANIZATION") or ""
    orgs = sim.member_orgs()
    if not slug:
        if len(orgs) == 1 and next(iter(orgs.values()))["type"] == "PERSONAL":
            only = next(iter(orgs.values()))
            sim.eprint(f"automatically selected personal organization: {only['name']}")
            return next(iter(orgs))
        raise NonInteractiveError("org slug must be specified when not running interactively")
    if slug not in orgs:
        raise FlyError(f"organization {slug} not found")
    return slug


def run_apps_destroy(sim: Sim, p: Parsed) -> None:
    """internal/command/apps/destroy.go RunDestroy."""
    require_session(sim, p)
    if not p.args:
        raise FlyError("no app names provided")
    for name in p.args:
        if not p.get("yes"):
            sim.eprint("Destroying an app is not reversible.")
            raise NonInteractiveError("yes flag must be specified when not running interactively")
        sim.visible_app(name)
        for vid in [v["id"] for v in sim.app_volumes(name, include_destroyed=True)]:
            del sim.state["volumes"][vid]
        for mid in [m["id"] for m in sim.state["machines"].values() if m["app"] == name]:
            del sim.state["machines"][mid]
        del sim.state["apps"][name]
        sim.print(f"Destroyed app {name}")


def run_apps_list(sim: Sim, p: Parsed) -> None:
    """internal/command/apps/list.go runList."""
    require_session(sim, p)
    slug = p.get("org") or sim.env.get("FLY_ORG") or ""
    orgs = sim.member_orgs()
    if slug and slug not in orgs:
        # GetOrganizationBySlug failure, wrapped by runList. API text (assumed).
        raise FlyError(f"error getting organization: Could not find Organization {slug}")
    apps = [
        a for a in sim.state["apps"].values() if a["org"] in orgs and (not slug or a["org"] == slug)
    ]
    apps.sort(key=lambda a: a["name"])
    if p.get("json"):
        sim.out.write(go_json([app_json(sim, a) for a in apps]))
        return
    if not apps:
        if not p.get("quiet"):
            sim.print("No apps found")
        return
    for a in apps:
        if p.get("quiet"):
            sim.print(a["name"])
        else:
            status = "deployed" if a["releases"] else "pending"
            sim.print(f"{a['name']}\t{a['org']}\t{status}")


# --------------------------------------------------------------------------------------
# volumes (internal/command/volumes/*.go)


def parse_size_gb(text: str) -> int:
    """helpers/units.go ParseSize(s, units.FromHumanSize, units.GB): a plain integer, else
    docker/go-units FromHumanSize (decimal units) divided by 1e9."""
    try:
        return int(text)
    except ValueError:
        pass
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kKmMgGtTpP]?)[bB]?", text.strip())
    if not match:
        raise FlyError(f"invalid size: invalid size: '{text}'")
    scale = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12, "p": 1e15}[match[2].lower()]
    return int(float(match[1]) * scale) // 10**9


def pick_zone(sim: Sim, app: str, name: str, region: str, unique: bool, app_wide: bool) -> str:
    zones = [hashlib.sha256(f"{region}{n}".encode()).hexdigest()[:4] for n in range(4)]
    if not unique:
        return zones[0]
    used = {
        v["zone"]
        for v in sim.app_volumes(app)
        if v["region"] == region and (app_wide or v["name"] == name)
    }
    free = [z for z in zones if z not in used]
    if not free:
        # API text (assumed): the placement service cannot honour require_unique_zone.
        raise FlyError(
            "failed to create volume: insufficient resources to create new "
            f"volume in a unique zone in region {region}"
        )
    return free[0]


def create_volume(
    sim: Sim,
    app: str,
    *,
    name: str,
    region: str,
    size_gb: int,
    snapshot_retention: int = 5,
    auto_backup: bool = True,
    encrypted: bool = True,
    unique_zone: bool = True,
    app_wide: bool = False,
) -> dict:
    zone = pick_zone(sim, app, name, region, unique_zone, app_wide)
    vid = sim.new_id("vol")
    vol = {
        "id": vid,
        "app": app,
        "name": name,
        "state": "created",
        "size_gb": size_gb,
        "region": region,
        "zone": zone,
        "encrypted": encrypted,
        "attached_machine_id": None,
        "created_at": sim.now(),
        "snapshot_retention": snapshot_retention,
        "auto_backup_enabled": auto_backup,
        "seq": sim.state["seq"],
    }
    sim.state["volumes"][vid] = vol
    return vol


def run_volumes_create(sim: Sim, p: Parsed) -> None:
    """internal/command/volumes/create.go runCreate."""
    require_session(sim, p)
    app_name = require_app_name(sim, p)
    vol_name = p.args[0]
    # confirmVolumeCreate: no prompt with --yes, with --count > 1, or when a volume of
    # this name already exists (the app lookup runs in the background meanwhile).
    if not p.get("yes") and p.get("count") <= 1:
        app = sim.visible_app(app_name)
        if not any(v["name"] == vol_name for v in sim.app_volumes(app["name"])):
            sim.eprint(
                "Warning! Every volume is pinned to a specific physical host. You "
                "should create two or more volumes per application to avoid downtime. "
                "Learn more at https://fly.io/docs/volumes/overview/"
            )
            raise NonInteractiveError("yes flag must be specified when not running interactively")
    sim.visible_app(app_name)
    # internal/prompt/prompt.go Region: --region, else $FLY_REGION (config.Region).
    region = p.get("region") or sim.env.get("FLY_REGION", "")
    if not region:
        raise NonInteractiveError("region code must be specified when not running interactively")
    if region not in REGIONS:
        raise FlyError(f"region {region} not found")
    if "fs-type" in p.changed and p.get("fs-type") not in ("ext4", "raw"):
        raise FlyError(f'filesystem "{p.get("fs-type")}" must be either "ext4" or "raw"')
    for _ in range(p.get("count")):
        vol = create_volume(
            sim,
            app_name,
            name=vol_name,
            region=region,
            size_gb=p.get("size"),
            snapshot_retention=p.get("snapshot-retention"),
            auto_backup=p.get("scheduled-snapshots"),
            encrypted=not p.get("no-encryption"),
            unique_zone=p.get("require-unique-zone"),
            app_wide=p.get("unique-zone-app-wide"),
        )
        if p.get("json"):
            sim.out.write(go_json(volume_json(vol)))
        else:
            print_volume(sim, vol, app_name)


def run_volumes_list(sim: Sim, p: Parsed) -> None:
    """internal/command/volumes/list.go runList."""
    require_session(sim, p)
    app_name = require_app_name(sim, p)
    sim.visible_app(app_name)
    vols = sim.app_volumes(app_name, include_destroyed=p.get("all"))
    if p.get("json"):
        sim.out.write(go_json([volume_json(v) for v in vols]))
        return
    sim.print("ID\tState\tName\tSize\tRegion\tZone\tEncrypted\tAttached VM\tCreated At")
    for v in vols:
        sim.print(
            "\t".join(
                [
                    v["id"],
                    v["state"],
                    v["name"],
                    f"{v['size_gb']}GB",
                    v["region"],
                    v["zone"],
                    str(v["encrypted"]).lower(),
                    v["attached_machine_id"] or "",
                    v["created_at"],
                ]
            )
        )


def find_volume(sim: Sim, app: str, vid: str) -> dict | None:
    vol = sim.state["volumes"].get(vid)
    if vol is None or vol["app"] != app or vol["state"] in DESTROYED_VOLUME_STATES:
        return None
    return vol


def run_volumes_extend(sim: Sim, p: Parsed) -> None:
    """internal/command/volumes/extend.go runExtend."""
    require_session(sim, p)
    app_name = require_app_name(sim, p)
    vid = p.args[0] if p.args else ""
    sim.visible_app(app_name)
    size_flag = p.get("size")
    size = parse_size_gb(size_flag)
    if size == 0:
        raise FlyError("Volume size must be specified")
    if size_flag[0] == "+":
        vol = find_volume(sim, app_name, vid)
        if vol is None:
            raise FlyError(f"failed to get volume {vid}: volume not found")
        size += vol["size_gb"]
    if not vid:
        raise FlyError("volume ID must be specified when not running interactively")
    vol = find_volume(sim, app_name, vid)
    if vol is None:
        # fly-go flaps_volumes.go ExtendVolume wraps; API text (assumed).
        raise FlyError(f"failed to extend volume: failed to extend volume {vid}: volume not found")
    if size <= vol["size_gb"]:
        # API text (assumed): volumes only grow.
        raise FlyError(
            f"failed to extend volume: failed to extend volume {vid}: new size "
            f"({size}GB) must be greater than current size ({vol['size_gb']}GB)"
        )
    vol["size_gb"] = size
    if p.get("json"):
        sim.out.write(go_json(volume_json(vol)))
        return
    print_volume(sim, vol, app_name)
    sim.print("Your Machine got its volume size extended without needing a restart")


def run_volumes_destroy(sim: Sim, p: Parsed) -> None:
    """internal/command/volumes/destroy.go runDestroy (preparer LoadAppNameIfPresent)."""
    require_session(sim, p)
    app_name = load_app_name_if_present(sim, p)
    if not p.args and not app_name:
        raise FlyError("volume ID or app required")
    if not app_name:
        # fly-go resource_volumes.go GetAppNameFromVolume over GraphQL; text seen in
        # superfly/flyctl#4663.
        vol = sim.state["volumes"].get(p.args[0])
        if vol is None or vol["app"] not in sim.state["apps"]:
            raise FlyError(
                "failed to run query($id: ID!) { volume: node(id: $id) { ... on "
                "Volume { app { name } } } }: Could not find Volume with id "
                f"'{p.args[0]}'"
            )
        app_name = vol["app"]
    if not p.args:
        raise FlyError("volume ID must be specified when not running interactively")
    for vid in p.args:
        if not p.get("yes"):
            if find_volume(sim, app_name, vid) is None:
                raise FlyError(f"failed to get volume {vid}: volume not found")
            sim.eprint("Deleting a volume is not reversible.")
            raise NonInteractiveError("yes flag must be specified when not running interactively")
        if app_name not in sim.state["apps"]:
            # flaps 404 for the app path. API text (assumed).
            raise FlyError(
                f"failed destroying volume: failed to destroy volume {vid}: app not found"
            )
        vol = find_volume(sim, app_name, vid)
        if vol is None:
            raise FlyError(
                f"failed destroying volume: failed to destroy volume {vid}: volume not found"
            )
        if vol["attached_machine_id"]:
            # text seen in superfly/docs#2226
            raise FlyError(
                f"failed destroying volume: failed to destroy volume {vid}: "
                "failed_precondition: volume is currently bound to machine: "
                f"{vol['attached_machine_id']}"
            )
        vol["state"] = "pending_destroy"
        sim.print(f"Destroyed volume ID: {vid} name: {vol['name']}")


# --------------------------------------------------------------------------------------
# secrets (internal/command/secrets/*.go)


class GoPanic(Exception):
    pass


def parse_secrets(text: str) -> dict[str, str]:
    """internal/command/secrets/parser.go parseSecrets, line for line.

    bufio.Scanner splits on \\n and drops one trailing \\r per line; its 64 KiB token
    limit stops the scan silently (scanner.Err() is never checked)."""
    secrets: dict[str, str] = {}
    multiline, key, buf = False, "", []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for raw in lines:
        if len(raw) + 1 > 64 * 1024:
            break
        line = raw[:-1] if raw.endswith("\r") else raw
        if not multiline:
            if line.startswith("#") or line.strip() == "":
                continue
            k, sep, value = line.partition("=")
            if not sep:
                raise FlyError(
                    "Failed to parse secrets from stdin: Secrets must be provided "
                    f"as NAME=VALUE pairs ({line} is invalid)"
                )
            k = k.strip()
            value = value.lstrip(" ")
            before, hashed, _ = value.partition("#")
            if hashed and before.count('"') % 2 == 0:
                value = before.rstrip(" ")
            if value.startswith('"""') and value.endswith('"""') and len(value) >= 6:
                secrets[k] = value[3:-3]
            elif value.startswith('"""'):
                multiline, key = True, k
                buf = [value[3:] + "\n"]
            else:
                if (value.startswith('"') and value.endswith('"')) or (
                    value.startswith("'") and value.endswith("'")
                ):
                    if len(value) < 2:
                        # value[1:len(value)-1] with len 1 panics in Go
                        raise GoPanic("runtime error: slice bounds out of range [1:0]")
                    value = value[1:-1]
                secrets[k] = value
        elif line.endswith('"""'):
            buf.append(line[:-3])
            secrets[key] = "".join(buf)
            multiline, key, buf = False, "", []
        else:
            buf.append(line + "\n")
    return secrets


def secret_digest(value: str) -> str:
    # The API computes digests; the simulator's own choice: 16 hex chars of sha256.
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def run_secrets_import(sim: Sim, p: Parsed, stdin_text: str) -> None:
    """internal/command/secrets/import.go runImport -> set.go SetSecretsAndDeploy ->
    secrets.go DeploySecrets."""
    require_session(sim, p)
    app_name = require_app_name(sim, p)
    app = sim.visible_app(app_name)
    secrets = parse_secrets(stdin_text)
    if not secrets:
        raise FlyError("requires at least one SECRET=VALUE pair")
    sim.next_seq()
    for name, value in secrets.items():
        app["secrets"][name] = {
            "value": value,
            "digest": secret_digest(value),
            "updated_seq": sim.state["seq"],
        }
    if p.get("stage"):
        sim.print(
            "Secrets have been staged, but not set on VMs. Deploy or update machines in "
            "this app for the secrets to take effect."
        )
        return
    machines = sim.app_machines(app_name)
    if not app["releases"] and not machines:
        sim.print("Secrets are staged for the first deployment")
        return
    # A restart-only deployment: every machine picks up the current secrets.
    for m in machines:
        m["secrets_digest"] = secrets_digest_of(app)
        m["restarts"] = m.get("restarts", 0) + 1


def secrets_digest_of(app: dict) -> str:
    joined = "\n".join(f"{k}={v['digest']}" for k, v in sorted(app["secrets"].items()))
    return hashlib.sha256(joined.encode()).hexdigest()[:16]


def run_secrets_list(sim: Sim, p: Parsed) -> None:
    """internal/command/secrets/list.go runList: [{name, digest, status}], never values."""
    require_session(sim, p)
    app_name = require_app_name(sim, p)
    app = sim.visible_app(app_name)
    machines = sim.app_machines(app_name)
    releases = {r["version"]: r for r in app["releases"]}
    rows = []
    for name, secret in sorted(app["secrets"].items()):
        # computeSecretStatus: deployed to a machine when the secret's update is not
        # after the machine's release.
        having = sum(
            1
            for m in machines
            if secret["updated_seq"] <= releases.get(m["release_version"], {"seq": -1})["seq"]
        )
        status = "Staged" if having == 0 else "Deployed" if having == len(machines) else "Partial"
        rows.append({"name": name, "digest": secret["digest"], "status": status})
    if p.get("json"):
        sim.out.write(go_json(rows))
        return
    for row in rows:
        prefix = {"Staged": "* ", "Partial": "! "}.get(row["status"], "")
        sim.print(f"{prefix}{row['name']}\t{row['digest']}\t{row['status']}")


# --------------------------------------------------------------------------------------
# deploy (internal/command/deploy/*.go)


MACHINES_DEPLOY_STRATEGIES = ("canary", "rolling", "immediate", "bluegreen")


def parse_duration_flag(p: Parsed, name: str) -> None:
    """internal/command/deploy/deploy.go parseDurationFlag: Go duration, integer seconds,
    or 'none'."""
    if name not in p.changed:
        return
    value = p.get(name)
    if (
        value == "none"
        or re.fullmatch(r"\d+", value)
        or re.fullmatch(r"(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+", value)
    ):
        return
    raise FlyError(
        f"invalid duration value {value} used for --{name} flag: valid options are "
        "a number of seconds, number with time unit (i.e.: 5m, 180s) or 'none'"
    )


def validate_config(config: dict, strategy: str) -> list[str]:
    """internal/appconfig/validation.go validateDeploySection (strategy part)."""
    problems = []
    mounts = config.get("mounts") or []
    if isinstance(mounts, dict):
        mounts = [mounts]
    if strategy:
        if strategy not in MACHINES_DEPLOY_STRATEGIES:
            problems.append(
                f"unsupported deployment strategy '{strategy}'; Apps v2 supports "
                "the following strategies: " + ", ".join(MACHINES_DEPLOY_STRATEGIES)
            )
        if strategy == "canary" and mounts:
            problems.append(
                "error canary deployment strategy is not supported when using mounted volumes"
            )
    return problems


def config_mounts(config: dict) -> list[dict]:
    mounts = config.get("mounts") or []
    return [mounts] if isinstance(mounts, dict) else list(mounts)


def context_digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def run_deploy(sim: Sim, p: Parsed) -> None:
    """internal/command/deploy/deploy.go run + DeployWithConfig + machines.go."""
    require_session(sim, p)
    if p.args:
        # command.go ChangeWorkingDirectoryToFirstArgIfPresent: relative --config and
        # --dockerfile are resolved against this directory from here on.
        wd = Path(sim.cwd, p.args[0])
        if not wd.is_dir():
            raise FlyError(
                f"failed changing working directory: chdir {wd}: no such file or directory"
            )
        sim.cwd = str(wd.resolve())
    app_name = require_app_name(sim, p)
    config, config_path = load_app_config(sim, p)
    if config is None:
        # determineAppConfig falls back to the remote config; an undeployed app has none.
        raise FlyError("App config file not found")
    sim.print("==> Verifying app config")
    file_strategy = (config.get("deploy") or {}).get("strategy", "")
    problems = validate_config(config, file_strategy)
    sim.print(f"Validating {config_path}")
    if problems:
        sim.print("".join(problems) + f"\n   ✘{'invalid app configuration'}")
        raise FlyError("App configuration is not valid")
    sim.print("✓ Configuration is valid")
    sim.print("--> Verified app config")

    if (
        app_name not in sim.state["apps"]
        or sim.state["apps"][app_name]["org"] not in sim.member_orgs()
    ):
        # flaps GetApp 404. deploy.go rewrites "Could not find App" this way.
        raise FlyError(
            f"the app name {app_name} could not be found, did you create the app "
            "or misspell it in the fly.toml file or via -a?"
        )
    app = sim.state["apps"][app_name]

    # deploy_build.go resolveDockerfilePath: [build].dockerfile relative to the config
    # file, else --dockerfile made absolute against the working directory, else
    # imgsrc.ResolveDockerfile(working directory).
    build = config.get("build") or {}
    if build.get("dockerfile"):
        dockerfile = Path(config_path).parent / build["dockerfile"]
    elif p.get("dockerfile"):
        dockerfile = Path(sim.cwd, p.get("dockerfile"))
    else:
        dockerfile = next(
            (Path(sim.cwd, n) for n in ("Dockerfile", "dockerfile") if Path(sim.cwd, n).is_file()),
            Path(sim.cwd, "Dockerfile"),
        )
    image = build.get("image") or p.get("image")
    if not image:
        if not dockerfile.is_file():
            raise FlyError(
                "failed to fetch an image or build from source: dockerfile "
                f"'{dockerfile}' not found"
            )
        digest = context_digest(Path(sim.cwd))
        image = f"registry.fly.io/{app_name}:deployment-{digest[:26].upper()}"
        sim.print("==> Building image")
        sim.print(f"--> Building image done\nimage: {image}\nimage size: 42 MB")
    else:
        digest = hashlib.sha256(image.encode()).hexdigest()
    if p.get("build-only"):
        return
    sim.print(f"\nWatch your deployment at https://fly.io/apps/{app_name}/monitoring\n")
    for name in ("release-command-timeout", "wait-timeout", "lease-timeout"):
        parse_duration_flag(p, name)

    # machines.go determineAppConfigForMachines + ValidateGroups: the --strategy flag
    # overrides [deploy].strategy and is validated against [mounts].
    strategy = p.get("strategy") or file_strategy
    problems = validate_config(config, strategy)
    if problems:
        sim.eprint(
            f"Validating {config_path}\n" + "".join(problems) + "\n   ✘invalid app configuration"
        )
        raise FlyError("App configuration is not valid")
    strategy = strategy or "rolling"  # machines.go setStrategy

    primary_region = p.get("primary-region") or config.get("primary_region", "")
    if not primary_region:
        raise FlyError("fly simulator: fly.toml needs primary_region")  # not modelled
    mounts = config_mounts(config)
    mount = mounts[0] if mounts else None
    machines = sim.app_machines(app_name)
    first_deploy = not app["releases"] and not machines  # machines.go setFirstDeploy

    # machines.go setVolumes: unattached volumes, grouped by name.
    unattached = [v for v in sim.app_volumes(app_name) if not v["attached_machine_id"]]
    if first_deploy and mount:
        # deploy_first.go provisionVolumesOnFirstDeploy: counts unattached volumes of the
        # mount's name in any region; creates one in primary_region only if none.
        if not any(v["name"] == mount["source"] for v in unattached):
            size = (
                parse_size_gb(mount["initial_size"])
                if mount.get("initial_size")
                else p.get("volume-initial-size") or 1
            )
            sim.print(
                f"Creating a {size} GB volume named '{mount['source']}' for process "
                "group 'app'. Use 'fly vol extend' to increase its size"
            )
            unattached.append(
                create_volume(
                    sim,
                    app_name,
                    name=mount["source"],
                    region=primary_region,
                    size_gb=size,
                    snapshot_retention=mount.get("snapshot_retention", 5),
                    auto_backup=mount.get("scheduled_snapshots", True),
                )
            )

    sim.next_seq()
    release = {
        "version": len(app["releases"]) + 1,
        "status": "complete",
        "strategy": strategy,
        "image": image,
        "build_digest": digest,
        "secrets_digest": secrets_digest_of(app),
        "created_at": sim.now(),
        "seq": sim.state["seq"],
    }
    env = dict(config.get("env") or {})
    env["PRIMARY_REGION"] = primary_region
    machine_config = {
        "image": image,
        "env": env,
        "guest": dict(DEFAULT_GUEST),
        "services": bool(config.get("services") or config.get("http_service")),
        "mounts": (
            [{"name": mount["source"], "path": mount.get("destination", "")}] if mount else []
        ),
        "metadata": {"fly_process_group": "app", "fly_release_version": str(release["version"])},
    }
    release["config"] = machine_config
    release["primary_region"] = primary_region
    sim.print("This deployment will:")
    if first_deploy:
        sim.print(' * create 1 "app" machine\n')
        sim.print("No machines in group app, launching a new machine")
        vol = None
        if mount:
            # machines_launchinput.go launchInputForLaunch -> popVolumeFor(name, primary)
            vol = next(
                (
                    v
                    for v in unattached
                    if v["name"] == mount["source"] and v["region"] == primary_region
                ),
                None,
            )
            if vol is None:
                raise FlyError(
                    f"New machine in group 'app' needs an unattached volume named "
                    f"'{mount['source']}' in region '{primary_region}'"
                )
        m = launch_machine(sim, app, primary_region, machine_config, vol, release)
        count = 1
        # machines_deploymachinesapp.go deployCreateMachinesForGroups: --ha adds a second
        # machine (or a standby) only for groups without mounts.
        if p.get("ha") and not mount:
            spare = json.loads(json.dumps(machine_config))
            if not machine_config["services"]:
                spare["standbys"] = [m["id"]]
            launch_machine(sim, app, primary_region, spare, None, release)
            count = 2
        sim.eprint("Finished launching new machines")
        sim.print(f"Launched {count} machine(s)")
    else:
        sim.print(f" * {strategy} update {len(machines)} machine(s)\n")
        for m in machines:
            if m["config"]["mounts"] and not mount:
                # machines.go validateVolumeConfig: prompt.Confirm ignores --yes.
                sim.eprint(
                    f"Warning! machine {m['id']} [app] has a volume mounted but app "
                    "config does not specify a volume.\nThis usually indicates a "
                    "misconfiguration."
                )
                raise NonInteractiveError(
                    "yes flag must be specified when not running interactively"
                )
        for m in machines:
            mounts_now = m["config"]["mounts"]
            new_config = json.loads(json.dumps(machine_config))
            new_config["mounts"] = mounts_now  # the attached volume stays
            new_config["standbys"] = m["config"].get("standbys")
            m["config"] = new_config
            m["release_version"] = release["version"]
            m["secrets_digest"] = release["secrets_digest"]
            m["updates"] = m.get("updates", 0) + 1
            sim.print(f"Updating existing machines in '{app_name}' with {strategy} strategy")
            sim.print(f"  Machine {m['id']} [app] update succeeded")
    app["releases"].append(release)
    sim.print("✓ DNS configuration verified")
    if machine_config["services"]:
        sim.print(f"\nVisit your newly deployed app at https://{app_name}.fly.dev/\n")


def launch_machine(
    sim: Sim, app: dict, region: str, config: dict, vol: dict | None, release: dict
) -> dict:
    mid = sim.new_id("machine")
    config = json.loads(json.dumps(config))
    if vol is not None:
        vol["attached_machine_id"] = mid
        # The API reports the attached volume's size in the mount (superfly/flyctl#2721:
        # scaling up from machines takes the size from their mount).
        config["mounts"][0].update(volume=vol["id"], size_gb=vol["size_gb"], encrypted=True)
    m = {
        "id": mid,
        "app": app["name"],
        "region": region,
        "state": "started",
        "config": config,
        "volume": vol["id"] if vol else None,
        "release_version": release["version"],
        "secrets_digest": secrets_digest_of(app),
        "seq": sim.state["seq"],
    }
    sim.state["machines"][mid] = m
    return m


# --------------------------------------------------------------------------------------
# scale count (internal/command/scale/count.go, count_machines.go, machine_defaults.go)


def converge_group_counts(
    expected: int, current: dict[str, int], regions: list[str], max_per_region: int
) -> dict[str, int]:
    """count_machines.go convergeGroupCounts, line for line."""
    diffs: dict[str, int] = {}
    if not regions:
        regions = list(current)
    regions = list(dict.fromkeys(regions))
    if max_per_region >= 0:
        if len(regions) * max_per_region < expected:
            raise FlyError(
                "the number of regions by the maximum machines per region is fewer "
                "than the expected total"
            )
        for r in regions:
            if current.get(r, 0) > max_per_region:
                diffs[r] = max_per_region - current.get(r, 0)
    diff = expected
    for r in regions:
        diff -= current.get(r, 0) + diffs.get(r, 0)
    idx = 0
    while diff > 0:
        r = regions[idx % len(regions)]
        if max_per_region < 0 or current.get(r, 0) + diffs.get(r, 0) < max_per_region:
            diffs[r] = diffs.get(r, 0) + 1
            diff -= 1
        idx += 1
    idx = -1
    while diff < 0:
        r = regions[(-idx) % len(regions)]
        if current.get(r, 0) + diffs.get(r, 0) > 0:
            diffs[r] = diffs.get(r, 0) - 1
            diff += 1
        idx -= 1
    return diffs


def guest_size(guest: dict) -> str:
    return f"{guest.get('cpu_kind', 'shared')}-cpu-{guest.get('cpus', 1)}x"


def run_scale_count(sim: Sim, p: Parsed) -> None:
    """count.go runScaleCount -> count_machines.go runMachinesScaleCount."""
    require_session(sim, p)
    app_name = require_app_name(sim, p)
    app = sim.visible_app(app_name)  # appconfig.FromRemoteApp
    group = p.get("process-group") or "app"
    counts: dict[str, tuple[str, int]] = {}

    def apply(g: str, text: str) -> None:
        try:
            n = int(text)
        except ValueError:
            raise FlyError(f'strconv.Atoi: parsing "{text}": invalid syntax') from None
        if text[:1] in "+-":
            if n == 0:
                raise FlyError(f"invalid relative scale count: {text}")
            counts[g] = ("relative", n)
        else:
            counts[g] = ("absolute", n)

    if len(p.args) == 1:
        with contextlib.suppress(FlyError):
            apply(group, p.args[0])
    if not counts:
        for arg in p.args:
            parts = arg.split("=")
            if len(parts) != 2:
                raise FlyError(f"'{arg}' is not a valid process=count option")
            apply(*parts)
    unknown = [g for g in counts if g != "app"]
    if unknown:
        raise FlyError(
            f"Attempting to scale unknown process groups [{' '.join(unknown)}] but "
            "valid names are [app].\n Use `fly scale count COUNT "
            "--process-group=NAME` \n or multi group syntax `fly scale count "
            "NAME1=COUNT1 NAME2=COUNT2 ...`"
        )
    machines = sim.app_machines(app_name)
    complete = [r for r in app["releases"] if r["status"] == "complete"]
    if not complete:
        raise FlyError(
            "this app has no complete releases. Run `fly deploy` to create one and "
            "rerun this command"
        )
    latest = complete[-1]
    regions = p.get("region").split(",") if p.get("region") else []
    if not regions:
        regions = list(dict.fromkeys(m["region"] for m in machines))
    volumes = sim.app_volumes(app_name)
    # machine_defaults.go newDefaults: unattached volumes by name then region (unless
    # --with-new-volumes).
    available: dict[str, dict[str, list[dict]]] = {}
    if not p.get("with-new-volumes"):
        for v in volumes:
            if not v["attached_machine_id"]:
                available.setdefault(v["name"], {}).setdefault(v["region"], []).append(v)

    plan = []
    kind, n = counts["app"]
    expected = max(n if kind == "absolute" else len(machines) + n, 0)
    per_region: dict[str, list[dict]] = {}
    for m in machines:
        per_region.setdefault(m["region"], []).append(m)
    if machines:
        # computeActions: clone the group's first machine (standbys dropped).
        template = json.loads(json.dumps(machines[0]["config"]))
        template.pop("standbys", None)
    else:
        # computeActions for a group without machines: defaults.ToMachineConfig, the
        # deployed config with each mount sized like the largest volume of its name
        # (1 GB if none), regions defaulting to primary_region.
        template = json.loads(json.dumps(latest["config"]))
        for mount in template["mounts"]:
            sizes = [v["size_gb"] for v in volumes if v["name"] == mount["name"]]
            mount.update(size_gb=max(sizes, default=1), encrypted=True)
        regions = regions or [latest["primary_region"]]
    diffs = converge_group_counts(
        expected, {r: len(ms) for r, ms in per_region.items()}, regions, p.get("max-per-region")
    )
    for region, delta in diffs.items():
        existing = per_region.get(region, [])
        reuse, create = [], None
        if delta > 0 and template["mounts"]:
            name = template["mounts"][0]["name"]
            pool = available.get(name, {}).get(region, [])
            reuse, available.setdefault(name, {})[region] = pool[:delta], pool[delta:]
            # machine_defaults.go CreateVolumeRequest: the template mount's size; unique
            # zone when the region will hold more than one machine.
            create = {
                "name": name,
                "size_gb": template["mounts"][0].get("size_gb", 0),
                "unique_zone": len(existing) + delta > 1,
            }
        plan.append((region, delta, existing, reuse, create))

    if not plan:
        sim.print("App already scaled to desired state. No need for changes")
        return
    sim.print(f"App '{app_name}' is going to be scaled according to this plan:")
    for region, delta, _existing, reuse, create in plan:
        sim.print(
            f"{delta:+4d} machines for group 'app' on region '{region}' of size "
            f"'{guest_size(template['guest'])}'"
        )
        to_create = delta - len(reuse) if create else 0
        if reuse and to_create > 0:
            sim.print(
                f"{to_create:+4d} volumes and {len(reuse)} unattached volumes assigned to "
                f"group 'app' in region '{region}'"
            )
        elif reuse:
            sim.print(
                f"{len(reuse): 4d} unattached volumes to be assigned to group 'app' in "
                f"region '{region}'"
            )
        elif to_create > 0:
            sim.print(f"{to_create:+4d} volumes  for group 'app' in region '{region}'")
    if not p.get("yes"):
        raise NonInteractiveError("--yes flag must be specified when not running interactively")
    sim.print("Executing scale plan")
    for region, delta, existing, reuse, create in plan:
        for idx in range(max(delta, 0)):
            vol = None
            if template["mounts"]:
                if idx < len(reuse):
                    vol = reuse[idx]
                else:
                    sim.print(
                        f"  Creating volume {create['name']} region:{region} "
                        f"size:{create['size_gb']}GiB"
                    )
                    vol = create_volume(
                        sim,
                        app_name,
                        name=create["name"],
                        region=region,
                        size_gb=create["size_gb"],
                        unique_zone=create["unique_zone"],
                    )
            config = json.loads(json.dumps(template))
            config["metadata"]["fly_release_version"] = str(latest["version"])
            sim.next_seq()
            m = launch_machine(sim, app, region, config, vol, latest)
            volume_note = f" volume:{vol['id']}" if vol else ""
            sim.print(
                f"  Created {m['id']} group:app region:{region} "
                f"size:{guest_size(config['guest'])}{volume_note}"
            )
        for idx in range(max(-delta, 0)):
            m = existing[idx]
            m["state"] = "destroyed"
            # Destroying a machine leaves its volume, unattached (flyctl#2547).
            if m["volume"] and m["volume"] in sim.state["volumes"]:
                sim.state["volumes"][m["volume"]]["attached_machine_id"] = None
            sim.print(
                f"  Destroyed {m['id']} group:app region:{region} "
                f"size:{guest_size(m['config']['guest'])}"
            )


# --------------------------------------------------------------------------------------
# Command table and entry point


COMMANDS = [
    Command(
        ("apps", "create"),
        "create <app name>",
        [s("name"), b("generate-name"), s("network"), b("machines"), YES, b("save"), ORG, JSON],
        ("range", 0, 1),
        run_apps_create,
    ),
    Command(
        ("apps", "destroy"),
        "destroy <app name(s)>",
        [YES],
        ("any",),
        run_apps_destroy,
        ("delete", "remove", "rm"),
    ),
    Command(
        ("apps", "list"), "list", [JSON, ORG, b("quiet", "q")], ("any",), run_apps_list, ("ls",)
    ),
    Command(
        ("volumes", "create"),
        "create <volume name>",
        [
            APP,
            CONFIG,
            REGION,
            i("size", "s", 1),
            i("snapshot-retention", default=5),
            b("scheduled-snapshots", default=True),
            b("no-encryption"),
            b("require-unique-zone", default=True),
            b("unique-zone-app-wide"),
            s("snapshot-id"),
            s("fs-type", default="ext4"),
            YES,
            i("count", "n", 1),
            *VM_SIZE_FLAGS,
            JSON,
        ],
        ("exact", 1),
        run_volumes_create,
    ),
    Command(
        ("volumes", "list"),
        "list",
        [APP, CONFIG, b("all"), JSON],
        ("any",),
        run_volumes_list,
        ("ls",),
    ),
    Command(
        ("volumes", "extend"),
        "extend <volume id>",
        [APP, CONFIG, s("size", "s"), YES, JSON],
        ("max", 1),
        run_volumes_extend,
    ),
    Command(
        ("volumes", "destroy"),
        "destroy <volume id> ... [flags]",
        [YES, APP, CONFIG],
        ("any",),
        run_volumes_destroy,
        ("delete", "rm"),
    ),
    Command(
        ("secrets", "import"),
        "import [flags]",
        [APP, CONFIG, b("detach"), b("stage"), b("dns-checks", default=True)],
        ("any",),
        run_secrets_import,
    ),
    Command(
        ("secrets", "list"),
        "list [flags]",
        [APP, CONFIG, JSON],
        ("any",),
        run_secrets_list,
        ("ls",),
    ),
    Command(("deploy",), "deploy [WORKING_DIRECTORY]", DEPLOY_FLAGS, ("max", 1), run_deploy),
    Command(
        ("scale", "count"),
        "count [count]",
        [
            APP,
            CONFIG,
            YES,
            s("process-group", "g", aliases=("group",)),
            i("max-per-region", default=-1),
            REGION,
            b("with-new-volumes"),
            s("from-snapshot"),
            *VM_SIZE_FLAGS,
            ENV,
        ],
        ("min", 1),
        run_scale_count,
    ),
]
# Parent command aliases (apps.go, volumes.go); `secrets`, `deploy`, `scale` have none.
PARENT_ALIASES = {"app": "apps", "volume": "volumes", "vol": "volumes", "v": "volumes"}
_GLOBAL_VALUE_FLAGS = {"-t", "--access-token"}


def find_command(argv: list[str]) -> tuple[Command, list[str]]:
    """cobra Find: the leading words name the command; flags may sit among them."""
    words, rest, skip = [], [], False
    for idx, arg in enumerate(argv):
        if skip:
            rest.append(arg)
            skip = False
        elif arg.startswith("-"):
            rest.append(arg)
            skip = arg in _GLOBAL_VALUE_FLAGS
        elif len(words) < 2 and not _is_complete(words):
            words.append(arg)
        else:
            rest.extend(argv[idx:])
            break
    if words:
        words[0] = PARENT_ALIASES.get(words[0], words[0])
    for cmd in COMMANDS:
        if (
            len(words) >= len(cmd.path)
            and words[0] == cmd.path[0]
            and (len(cmd.path) == 1 or words[1] == cmd.path[1] or words[1] in cmd.aliases)
        ):
            extra = words[len(cmd.path) :]
            return cmd, [*extra, *rest]
    # spf13/cobra args.go legacyArgs
    if not words:
        raise FlyError("fly simulator: no command given")
    parent = " ".join(["fly", *words[:1]]) if len(words) > 1 else "fly"
    name = words[-1] if len(words) > 1 else words[0]
    raise FlyError(f'unknown command "{name}" for "{parent}"')


def _is_complete(words: list[str]) -> bool:
    return words == ["deploy"]


def _redacted_env(env: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    secretish = re.compile(
        r"TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|PRIVATE|_KEY|AUTH", re.IGNORECASE
    )
    kept = {k: v for k, v in env.items() if not secretish.search(k)}
    return kept, sorted(k for k in env if secretish.search(k))


def _injected_failure(state: dict, env: dict[str, str], argv: list[str]) -> str | None:
    """Fail the Nth call whose argv (shell-joined) matches a regex. Rules come from the
    state file (`inject_failure`) or $FLY_SIM_FAIL = "REGEX" with $FLY_SIM_FAIL_NTH."""
    joined = shlex.join(argv)
    rules = list(state["failures"])
    if env.get("FLY_SIM_FAIL"):
        key = "env:" + env["FLY_SIM_FAIL"]
        rule = next((r for r in rules if r.get("key") == key), None)
        if rule is None:
            rule = {
                "key": key,
                "pattern": env["FLY_SIM_FAIL"],
                "nth": int(env.get("FLY_SIM_FAIL_NTH", "1")),
                "seen": 0,
                "message": "simulated failure",
            }
            state["failures"].append(rule)
            rules.append(rule)
    for rule in rules:
        if re.search(rule["pattern"], joined):
            rule["seen"] += 1
            if rule["seen"] == rule["nth"]:
                return rule["message"]
    return None


def main(
    argv: list[str],
    *,
    stdin=None,
    stdout=None,
    stderr=None,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
) -> int:
    env = dict(os.environ if env is None else env)
    stdin, stdout, stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    state_path = env.get("FLY_SIM_STATE")
    if not state_path:
        stderr.write("fly simulator: set FLY_SIM_STATE to a state file path\n")
        return 2
    cwd = cwd or os.getcwd()
    lock_path = state_path + ".lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # Pulumi runs commands in parallel
        state = load_state(state_path)
        sim = Sim(state, env, cwd, stdout, stderr)
        kept_env, redacted = _redacted_env(env)
        call = {
            "argv": list(argv),
            "cwd": cwd,
            "env": kept_env,
            "env_redacted": redacted,
            "token_present": bool(env.get("FLY_API_TOKEN") or env.get("FLY_ACCESS_TOKEN")),
            "stdin_bytes": None,
            "exit_code": None,
        }
        state["calls"].append(call)
        code = 0
        cmd = None
        try:
            cmd, rest = find_command(argv)
            parsed = parse_flags(cmd, rest)
            validate_args(cmd, parsed.args)
            require_session(sim, parsed)
            message = _injected_failure(state, env, argv)
            if message:
                raise FlyError(message)
            if cmd.run is run_secrets_import:
                data = stdin.read()
                call["stdin_bytes"] = len(data.encode())
                cmd.run(sim, parsed, data)
            else:
                cmd.run(sim, parsed)
        except GoPanic as exc:
            stderr.write(f"panic: {exc}\n")
            code = 3  # main.go: a recovered panic exits 3
        except FlyError as exc:
            request = f" (Request ID: {exc.request_id})" if exc.request_id else ""
            stderr.write(f"Error: {exc.message}{request}\n")
            if exc.suggestion:
                stderr.write(f"{exc.suggestion}\n\n")
            if isinstance(exc, UsageError) and cmd is not None:
                stdout.write(cmd.usage() + "\n")
            code = exc.exit_code
        call["exit_code"] = code
        save_state(state_path, state)
    return code


# --------------------------------------------------------------------------------------
# Helpers for tests: read and seed the state file


def load_state(path: str | os.PathLike) -> dict:
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return empty_state()
    return json.loads(path.read_text())


def save_state(path: str | os.PathLike, state: dict) -> None:
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
    tmp.replace(path)


def _edit(path: str | os.PathLike):
    state = load_state(path)
    yield state
    save_state(path, state)


edit_state = contextlib.contextmanager(_edit)


def seed_org(path: str | os.PathLike, slug: str, *, member: bool, name: str | None = None) -> None:
    """Add an organization; member=False makes one the token cannot see."""
    with edit_state(path) as state:
        state["orgs"][slug] = {"name": name or slug, "type": "SHARED", "member": member}


def seed_app(path: str | os.PathLike, name: str, org: str) -> None:
    """Add an app owned by `org` (seed the org first if it is not `personal`)."""
    with edit_state(path) as state:
        state["apps"][name] = {
            "name": name,
            "org": org,
            "network": "",
            "created_at": EPOCH.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "secrets": {},
            "releases": [],
        }


def inject_failure(
    path: str | os.PathLike, pattern: str, *, nth: int = 1, message: str = "simulated failure"
) -> None:
    """Make the nth call whose shell-joined argv matches `pattern` fail before any effect."""
    with edit_state(path) as state:
        state["failures"].append({"pattern": pattern, "nth": nth, "seen": 0, "message": message})


def calls(path: str | os.PathLike) -> list[dict]:
    return load_state(path)["calls"]


def volumes(
    path: str | os.PathLike, app: str, *, name: str | None = None, region: str | None = None
) -> list[dict]:
    """Live (not destroyed) volumes of an app, oldest first."""
    state = load_state(path)
    found = [
        v
        for v in state["volumes"].values()
        if v["app"] == app
        and v["state"] not in DESTROYED_VOLUME_STATES
        and (name is None or v["name"] == name)
        and (region is None or v["region"] == region)
    ]
    return sorted(found, key=lambda v: v["seq"])


def machines(path: str | os.PathLike, app: str, *, region: str | None = None) -> list[dict]:
    state = load_state(path)
    found = [
        m
        for m in state["machines"].values()
        if m["app"] == app
        and m["state"] != "destroyed"
        and (region is None or m["region"] == region)
    ]
    return sorted(found, key=lambda m: m["seq"])


def app_record(path: str | os.PathLike, name: str) -> dict | None:
    return load_state(path)["apps"].get(name)


FLY_EXECUTABLE = Path(__file__).with_name("fly")


def sim_env(
    state_path: str | os.PathLike,
    *,
    token: str | None = "sim-token",
    base: dict[str, str] | None = None,
) -> dict[str, str]:
    """An environment whose `fly` is this simulator, with its state in `state_path`."""
    env = dict(os.environ if base is None else base)
    for key in ("FLY_API_TOKEN", "FLY_ACCESS_TOKEN", "FLY_APP", "FLY_ORG", "FLY_REGION"):
        env.pop(key, None)
    env["PATH"] = f"{FLY_EXECUTABLE.parent}{os.pathsep}{env.get('PATH', '')}"
    env["FLY_SIM_STATE"] = str(state_path)
    if token is not None:
        env["FLY_API_TOKEN"] = token
    return env


__all__ = [
    "FLY_EXECUTABLE",
    "app_record",
    "calls",
    "inject_failure",
    "load_state",
    "machines",
    "main",
    "parse_secrets",
    "seed_app",
    "seed_org",
    "sim_env",
    "volumes",
]
