"""A flyctl simulator: the subset of `fly` that infra/flyctl.py's scripts call.

Every flag, argument rule, output shape and error text below is taken from flyctl's
source (github.com/superfly/flyctl, read at commit ad0172f, Aug 2026) or the libraries it
uses (spf13/cobra, spf13/pflag, superfly/fly-go). The file each behaviour comes from is
named next to it. Where the text comes from the Fly API rather than flyctl (so the source
cannot show it), the comment says "API text (assumed)"; scripts must not depend on those.

Fly's state lives in one JSON file named by $FLY_SIM_STATE. Tests read and seed it with
the helper functions at the bottom of this module. $FLY_SIM_FAIL / $FLY_SIM_FAIL_NTH
inject a failure; $FLY_SIM_DETACH_AFTER_CALLS (default 2) is how many later calls against
an app still see the volume of a machine `scale count` destroyed as attached.
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
import time
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


def render_table(rows: list[list[str]], *cols: str) -> str:
    """internal/render/render.go Table: olekukonko/tablewriter v1.1.4 with the outer
    borders and the header line off, headers upper-cased (tw.Title), cells left aligned
    and padded by one space, columns split by "│", then an empty line. Read from
    tablewriter's own tests, not run: trust the words and their order, not the spaces."""
    header = [c.replace("_", " ").strip().upper() for c in cols]
    widths = [len(h) for h in header]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = [
        "│".join(f" {cell:<{w}} " for cell, w in zip(line, widths, strict=True))
        for line in [header, *rows]
    ]
    return "\n".join(lines) + "\n\n"


def go_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def humanize_time(then: datetime, now: datetime) -> str:
    """dustin/go-humanize v1.0.1 times.go Time (RelTime with "ago"/"from now"),
    against the simulator's clock rather than the wall clock."""
    label, diff = "ago", (now - then).total_seconds()
    if then > now:
        label, diff = "from now", (then - now).total_seconds()
    day, month = 86400, 30 * 86400
    magnitudes = [
        (1, "now", 1),
        (2, "1 second %s", 1),
        (60, "%d seconds %s", 1),
        (120, "1 minute %s", 1),
        (3600, "%d minutes %s", 60),
        (7200, "1 hour %s", 1),
        (day, "%d hours %s", 3600),
        (2 * day, "1 day %s", 1),
        (7 * day, "%d days %s", day),
        (14 * day, "1 week %s", 1),
        (month, "%d weeks %s", 7 * day),
        (2 * month, "1 month %s", 1),
        (12 * month, "%d months %s", month),
        (18 * month, "1 year %s", 1),
        (24 * month, "2 years %s", 1),
        (37 * 12 * month, "%d years %s", 12 * month),
    ]
    # sort.Search for the first magnitude above diff; past the table, "a long while".
    fmt, div = next(((f, d) for limit, f, d in magnitudes if limit > diff), ("a long while %s", 1))
    args = []
    escaped = False
    for ch in fmt:
        if escaped:
            if ch == "s":
                args.append(label)
            elif ch == "d":
                args.append(int(diff // div))
        escaped = not escaped and ch == "%"
    return fmt % tuple(args)


def relative_time(t: datetime, now: datetime) -> str:
    """internal/format/format.go RelativeTime, against the simulator's clock."""
    if t < now:
        dur = (now - t).total_seconds()
        if dur < 1:
            return "just now"
        if dur < 60:
            return f"{int(dur)}s ago"
        if dur < 3600:
            return f"{int(dur // 60)}m{int(dur % 60)}s ago"
        if dur < 86400:
            return f"{int(dur // 3600)}h{int(dur // 60 % 60)}m ago"
    else:
        dur = (t - now).total_seconds()
        if dur < 60:
            return f"{int(dur)}s"
        if dur < 3600:
            return f"{int(dur // 60)}m{int(dur % 60)}s"
        if dur < 86400:
            return f"{int(dur // 3600)}h{int(dur // 60 % 60)}m"
    return f"{t:%b} {t.day} {t.year:04d} {t:%H:%M}"  # Go layout "Jan 2 2006 15:04"


_GO_DURATION_UNITS = {
    "ns": 1,
    "us": 10**3,
    "µs": 10**3,  # U+00B5
    "μs": 10**3,  # U+03BC
    "ms": 10**6,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
}
_GO_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)([^0-9.]*)")


def parse_go_duration(text: str) -> int:
    """Go time.ParseDuration, in nanoseconds; ValueError carries Go's message."""
    quoted = json.dumps(text, ensure_ascii=False)
    rest, sign = text, 1
    if rest[:1] in "+-" and rest:
        sign, rest = (-1 if rest[0] == "-" else 1), rest[1:]
    if rest == "0":
        return 0
    if not rest:
        raise ValueError(f"time: invalid duration {quoted}")
    total = 0.0
    while rest:
        match = _GO_DURATION_PART.match(rest)
        number, unit = match.group(1), match.group(2)
        if number in ("", "."):
            raise ValueError(f"time: invalid duration {quoted}")
        if not unit:
            raise ValueError(f"time: missing unit in duration {quoted}")
        if unit not in _GO_DURATION_UNITS:
            raise ValueError(
                f"time: unknown unit {json.dumps(unit, ensure_ascii=False)} in duration {quoted}"
            )
        total += float(number) * _GO_DURATION_UNITS[unit]
        rest = rest[len(number) + len(unit) :]
    return sign * int(round(total))


def _go_frac(value: int, prec: int) -> str:
    whole, frac = divmod(value, 10**prec)
    digits = f"{frac:0{prec}d}".rstrip("0")
    return f"{whole}.{digits}" if digits else str(whole)


def go_duration_string(ns: int) -> str:
    """Go time.Duration.String: "1m30s", "5s", "1h0m0s", "250ms", "0s"."""
    if ns == 0:
        return "0s"
    sign, u = ("-", -ns) if ns < 0 else ("", ns)
    if u < 10**3:
        return f"{sign}{u}ns"
    if u < 10**6:
        return f"{sign}{_go_frac(u, 3)}µs"
    if u < 10**9:
        return f"{sign}{_go_frac(u, 6)}ms"
    minutes, secs = divmod(u, 60 * 10**9)
    text = _go_frac(secs, 9) + "s"
    if minutes:
        hours, minutes = divmod(minutes, 60)
        text = f"{minutes}m{text}"
        if hours:
            text = f"{hours}h{text}"
    return sign + text


# --------------------------------------------------------------------------------------
# Flags (spf13/pflag semantics, flyctl's internal/flag/flag.go definitions)


@dataclass
class Flag:
    name: str
    kind: str  # bool | string | int | float | duration | stringArray | stringSlice
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
                "duration": 0,
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
    args: tuple  # ("exact", n) | ("max", n) | ("min", n) | ("range", a, b) | ("any",) | ("none",)
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
    elif f.kind == "duration":
        # pflag duration.go: time.ParseDuration; the value kept is nanoseconds.
        try:
            parsed.values[f.name] = parse_go_duration(value)
        except ValueError as exc:
            raise invalid(str(exc)) from None
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
    if rule == "none" and n:
        # cobra.NoArgs
        raise UsageError(f'unknown command "{args[0]}" for "fly {" ".join(cmd.path)}"')
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
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
# How many later flyctl calls against an app still see a destroyed machine's volume
# attached (see Sim.touch_app); $FLY_SIM_DETACH_AFTER_CALLS overrides it.
DEFAULT_DETACH_AFTER_CALLS = 2


# --------------------------------------------------------------------------------------
# Machine sizes (fly-go machine_types.go MachinePresets, MachineGuest.SetSize/ToSize;
# internal/flag/machines.go GetMachineGuest; internal/appconfig/machines.go
# computeToGuest). A guest is a dict with fly-go MachineGuest json tags.

MIN_MEMORY_MB_PER_SHARED_CPU = 256
MIN_MEMORY_MB_PER_CPU = 2048
MACHINE_PRESETS: dict[str, dict] = {
    **{
        f"shared-cpu-{n}x": {
            "cpu_kind": "shared",
            "cpus": n,
            "memory_mb": n * MIN_MEMORY_MB_PER_SHARED_CPU,
        }
        for n in (1, 2, 4, 6, 8)
    },
    **{
        f"performance-{n}x": {
            "cpu_kind": "performance",
            "cpus": n,
            "memory_mb": n * MIN_MEMORY_MB_PER_CPU,
        }
        for n in (1, 2, 4, 6, 8, 10, 12, 14, 16)
    },
    **{
        name: {
            "cpu_kind": "performance",
            "cpus": 8,
            "memory_mb": 16 * MIN_MEMORY_MB_PER_CPU,
            "gpus": 1,
            "gpu_kind": kind,
        }
        for name, kind in (
            ("a100-40gb", "a100-pcie-40gb"),
            ("a100-80gb", "a100-sxm4-80gb"),
            ("l40s", "l40s"),
            ("a10", "a10"),
        )
    },
}
DEFAULT_VM_SIZE = "shared-cpu-1x"  # fly-go machine_types.go DefaultVMSize
DEFAULT_GPU_VM_SIZE = "performance-8x"  # fly-go machine_types.go DefaultGPUVMSize
DEFAULT_GUEST = dict(MACHINE_PRESETS[DEFAULT_VM_SIZE])


def set_size(guest: dict, size: str) -> dict:
    """fly-go machine_types.go MachineGuest.SetSize: a preset's cpus, kind, memory, GPUs."""
    preset = MACHINE_PRESETS.get(size)
    if preset is None:
        if size.startswith("shared"):
            kind = "shared"
        elif size.startswith("performance"):
            kind = "performance"
        else:
            raise FlyError(
                f"invalid machine preset requested, '{size}', expected to start with "
                "'shared' or 'performance'"
            )
        valid = sorted(n for n in MACHINE_PRESETS if n.startswith(kind))
        raise FlyError(f"'{size}' is an invalid machine size, choose one of: [{' '.join(valid)}]")
    for key in ("cpu_kind", "cpus", "memory_mb", "gpu_kind", "gpus"):
        guest.pop(key, None)
    guest.update(preset)
    return guest


def guest_size(guest: dict | None) -> str:
    """fly-go machine_types.go MachineGuest.ToSize."""
    if not guest:
        return ""
    named = {
        "a100-pcie-40gb": "a100-40gb",
        "a100-sxm4-80gb": "a100-80gb",
        "l40s": "l40s",
        "a10": "a10",
    }
    if guest.get("gpu_kind") in named:
        return named[guest["gpu_kind"]]
    if guest.get("cpu_kind") == "shared":
        return f"shared-cpu-{guest.get('cpus', 0)}x"
    if guest.get("cpu_kind") == "performance":
        return f"performance-{guest.get('cpus', 0)}x"
    return "unknown"


def guest_from_flags(p: Parsed) -> dict:
    """internal/flag/machines.go GetMachineGuest(ctx, nil): the default size
    (shared-cpu-1x), overridden by the --vm-* flags given. Every command with
    VMSizeFlags (volumes create, deploy, scale count) starts from this."""
    guest = set_size({}, DEFAULT_VM_SIZE)
    if "vm-size" in p.changed:
        set_size(guest, p.get("vm-size"))
    if "vm-cpus" in p.changed:
        guest["cpus"] = p.get("vm-cpus")
        if guest["cpus"] <= 0:
            raise FlyError(f"--vm-cpus must be greater than zero, got: {guest['cpus']}")
    if "vm-memory" in p.changed:
        mb = parse_size(p.get("vm-memory"), binary=True, quotient=2**20)
        if mb == 0:
            raise FlyError("--vm-memory cannot be zero")
        guest["memory_mb"] = mb
    if "vm-max-memory" in p.changed:
        mb = parse_size(p.get("vm-max-memory"), binary=True, quotient=2**20)
        if mb == 0:
            raise FlyError("--vm-max-memory cannot be zero")
        guest["max_memory_mb"] = mb
    if "vm-cpu-kind" in p.changed:
        guest["cpu_kind"] = p.get("vm-cpu-kind")
        if guest["cpu_kind"] not in ("shared", "performance"):
            raise FlyError("--vm-cpu-kind must be set to 'shared' or 'performance'")
    if "vm-gpu-kind" in p.changed or "vm-gpus" in p.changed:
        raise FlyError(
            "GPU machines are no longer supported: --vm-gpu-kind and --vm-gpus are no "
            "longer accepted"
        )
    if "host-dedication-id" in p.changed:
        guest["host_dedication_id"] = p.get("host-dedication-id")
    return guest


# fly-go MachineGuest fields that [[vm]] sets inline (toml tags); copier copies the
# non-empty ones over the preset.
_COMPUTE_GUEST_KEYS = (
    "cpu_kind",
    "cpus",
    "memory_mb",
    "max_memory_mb",
    "gpus",
    "gpu_kind",
    "host_dedication_id",
    "persist_rootfs",
    "kernel_args",
)


def guest_from_config(config: dict, group: str = "app") -> dict | None:
    """The guest fly.toml asks for, or None without a [[vm]] section.

    internal/appconfig/patches.go patchCompute ([vm], [[vm]], [compute], [[computes]] all
    become [[vm]]; an integer memory becomes a string), processgroups.go ComputeForGroup
    (sections without processes or naming the group; the last naming it wins, else the
    first: lo.MaxBy), machines.go toMachineGuest/computeToGuest (preset from size,
    shared-cpu-1x by default, then memory, then the inline MachineGuest fields)."""
    computes: list[dict] = []
    for key in ("compute", "computes", "vm"):
        raw = config.get(key)
        if isinstance(raw, dict):
            computes.append(raw)
        elif isinstance(raw, list):
            computes.extend(c for c in raw if isinstance(c, dict))
    matching = [c for c in computes if not c.get("processes") or group in c["processes"]]
    if not matching:
        return None
    compute = matching[0]
    for c in matching[1:]:
        if group in (c.get("processes") or []):
            compute = c
    if compute.get("size"):
        size = compute["size"]
    elif compute.get("gpu_kind"):
        size = DEFAULT_GPU_VM_SIZE
    else:
        size = DEFAULT_VM_SIZE
    guest = set_size({}, size)
    if compute.get("memory") not in (None, ""):
        mb = parse_size(str(compute["memory"]), binary=True, quotient=2**20)
        if mb == 0:
            raise FlyError("memory cannot be zero")
        guest["memory_mb"] = mb
    for key in _COMPUTE_GUEST_KEYS:
        if compute.get(key):
            guest[key] = compute[key]
    return guest


_CPU_KIND_RANK = {"shared": 0, "performance": 1}


def guest_fits(guest: dict, placed_for: dict | None) -> bool:
    """Whether a machine of `guest` fits the host a volume was placed on. The API places
    a volume on a host with room for its CreateVolumeRequest.compute (fly-go
    volume_types.go: "make the placement logic aware of it"); the simulator's rule:
    a machine fits when it needs no more cpus, no more memory and no better cpu kind
    than that guest. A volume without a recorded guest (seeded state) fits anything."""
    if not placed_for:
        return True
    return (
        guest.get("cpus", 0) <= placed_for.get("cpus", 0)
        and guest.get("memory_mb", 0) <= placed_for.get("memory_mb", 0)
        and _CPU_KIND_RANK.get(guest.get("cpu_kind", "shared"), 1)
        <= _CPU_KIND_RANK.get(placed_for.get("cpu_kind", "shared"), 1)
    )


def insufficient_resources_on_launch(vol: dict) -> FlyError:
    # fly-go flaps/flaps_machines.go Launch wraps "failed to launch VM: %w". API text
    # (assumed; seen in superfly/docs#2208): scripts must not depend on it.
    return FlyError(
        "failed to launch VM: insufficient resources to create new machine with existing "
        f"volume '{vol['id']}'"
    )


def insufficient_resources_on_update(mid: str, vol: dict) -> FlyError:
    # internal/command/deploy/plan.go updateMachines wraps "failed to update machine %s",
    # fly-go flaps_machines.go Update "failed to update VM %s". API text (assumed).
    return FlyError(
        f"failed to update machine {mid}: failed to update VM {mid}: insufficient "
        f"resources to update machine with existing volume '{vol['id']}'"
    )


def empty_state() -> dict:
    return {
        # Organizations the token can see ("member"), and others that only own apps.
        "orgs": {"personal": {"name": "Personal", "type": "PERSONAL", "member": True}},
        "apps": {},
        "volumes": {},
        "machines": {},
        # Tigris buckets by name: {name, org, app (None when not attached), status,
        # options, environment, created_at, seq}
        "buckets": {},
        # Add-on providers whose terms the token's user has agreed to (see
        # agree_to_provider_tos); a deploy token is never a user, so none by default.
        "tos_agreed": [],
        "seq": 0,
        "failures": [],
        "calls": [],
    }


class Sim:
    def __init__(self, state: dict, env: dict[str, str], cwd: str, out, err) -> None:
        self.state, self.env, self.cwd, self.out, self.err = state, env, cwd, out, err
        self.touched: set[str] = set()
        self.debug_lines: list[str] = []  # what this call's logger writes at Debug

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
        self.touch_app(name)
        app = self.state["apps"].get(name)
        if app is None or app["org"] not in self.member_orgs():
            raise app_not_found(name)
        return app

    # --- volumes of machines destroyed without waiting
    def touch_app(self, name: str) -> None:
        """Count this call against the app, once per call, before it reads any state.

        internal/command/scale/count_machines.go destroyMachine calls flaps Destroy
        (fly-go flaps/flaps_machines.go: DELETE ?kill=true) and never waits for the
        machine to be gone, so its volume stays attached for a while. The simulator makes
        that window deterministic: a volume freed this way stays attached for the next N
        calls against the app (N from $FLY_SIM_DETACH_AFTER_CALLS) and is detached when
        call N+1 starts."""
        if name in self.touched:
            return
        self.touched.add(name)
        for vol in self.state["volumes"].values():
            if vol["app"] != name or vol.get("detach_after_calls") is None:
                continue
            if vol["detach_after_calls"] <= 0:
                vol["attached_machine_id"] = None
                del vol["detach_after_calls"]
            else:
                vol["detach_after_calls"] -= 1

    def destroy_machine_without_wait(self, m: dict) -> None:
        m["state"] = "destroyed"
        vol = self.state["volumes"].get(m["volume"]) if m["volume"] else None
        if vol is not None and vol["attached_machine_id"] == m["id"]:
            n = self.env.get("FLY_SIM_DETACH_AFTER_CALLS", "")
            vol["detach_after_calls"] = int(n) if n.strip() else DEFAULT_DETACH_AFTER_CALLS

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
        "ips": [],
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
        # destroy.go deletes only the app's *statics* bucket: statics.FindBucket matches
        # an add-on whose metadata carries the app's id, which only deploy's statics
        # code writes. A bucket from `storage create -a` has none, so flyctl leaves it;
        # what the API does with it is not in the source. The simulator keeps the bucket
        # and drops the link, since it was to this app and not to its name.
        for bk in sim.state.setdefault("buckets", {}).values():
            if bk["app"] == name:
                bk["app"], bk["former_app"] = None, name
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


_GO_ATOI = re.compile(r"[+-]?[0-9]+")
_GO_PARSE_FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_DECIMAL_UNITS = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}
_BINARY_UNITS = {"k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40, "p": 2**50}


def _go_units_parse_size(text: str, units: dict[str, int]) -> int:
    """docker/go-units v0.5.0 size.go parseSize (FromHumanSize: decimal units;
    RAMInBytes: binary units). Raises ValueError with go-units' message."""
    sep = max(text.rfind(c) for c in "01234567890. ")
    if sep == -1:
        raise ValueError(f"invalid size: '{text}'")
    if text[sep] != " ":
        num, sfx = text[: sep + 1], text[sep + 1 :]
    else:
        num, sfx = text[:sep], text[sep + 1 :]
    if not _GO_PARSE_FLOAT.fullmatch(num):
        raise ValueError(f'strconv.ParseFloat: parsing "{num}": invalid syntax')
    size = float(num)
    if size < 0:
        raise ValueError(f"invalid size: '{text}'")
    if not sfx:
        return int(size)
    if len(sfx) > 3:
        raise ValueError(f"invalid suffix: '{sfx}'")
    sfx = sfx.lower()
    if sfx[0] == "b":
        if len(sfx) > 1:
            raise ValueError(f"invalid suffix: '{sfx}'")
        return int(size)
    if sfx[0] not in units:
        raise ValueError(f"invalid suffix: '{sfx}'")
    size *= units[sfx[0]]
    if (len(sfx) == 2 and sfx[1] != "b") or (len(sfx) == 3 and sfx[1:] != "ib"):
        raise ValueError(f"invalid suffix: '{sfx}'")
    return int(size)


def parse_size(text: str, *, binary: bool, quotient: int) -> int:
    """helpers/units.go ParseSize: strconv.Atoi (a sign allowed, nothing else), else the
    go-units parser's bytes divided by `quotient`, its error wrapped as "invalid size"."""
    if _GO_ATOI.fullmatch(text):
        return int(text)
    try:
        size_bytes = _go_units_parse_size(text, _BINARY_UNITS if binary else _DECIMAL_UNITS)
    except ValueError as exc:
        raise FlyError(f"invalid size: {exc}") from None
    return size_bytes // quotient


def parse_size_gb(text: str) -> int:
    """ParseSize(s, units.FromHumanSize, units.GB), as volumes extend and [mounts]
    initial_size use it."""
    return parse_size(text, binary=False, quotient=10**9)


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


# What the Machines API does with a CreateVolumeRequest field left nil. API behaviour
# (assumed: Fly's docs give 5 days as the default retention and daily snapshots as on).
API_DEFAULT_SNAPSHOT_RETENTION = 5
API_DEFAULT_AUTO_BACKUP = True


def check_snapshot_retention(days: int | None, wrap: str) -> None:
    # Fly's docs: retention "from 1 to 60 days". API text (assumed).
    if days is not None and not 1 <= days <= 60:
        raise FlyError(f"{wrap}snapshot_retention must be between 1 and 60 days, got {days}")


def create_volume(
    sim: Sim,
    app: str,
    *,
    name: str,
    region: str,
    size_gb: int,
    compute: dict | None,
    snapshot_retention: int | None = None,
    auto_backup: bool | None = None,
    encrypted: bool = True,
    unique_zone: bool = True,
    app_wide: bool = False,
) -> dict:
    """flaps CreateVolume (fly-go flaps/flaps_volumes.go). `compute` is the request's
    ComputeRequirements: the API places the volume on a host with room for that guest,
    recorded as "placed_for" (not part of the API's volume JSON)."""
    check_snapshot_retention(snapshot_retention, "failed to create volume: ")
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
        "snapshot_retention": (
            API_DEFAULT_SNAPSHOT_RETENTION if snapshot_retention is None else snapshot_retention
        ),
        "auto_backup_enabled": API_DEFAULT_AUTO_BACKUP if auto_backup is None else auto_backup,
        "placed_for": dict(compute) if compute else None,
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
    # ComputeRequirements: flag.GetMachineGuest(ctx, nil), so shared-cpu-1x unless the
    # --vm-* flags say otherwise; a bigger machine may not fit on this volume's host.
    compute = guest_from_flags(p)
    for _ in range(p.get("count")):
        vol = create_volume(
            sim,
            app_name,
            name=vol_name,
            region=region,
            size_gb=p.get("size"),
            compute=compute,
            # SnapshotRetention is always sent (flag default 5); AutoBackupEnabled only
            # when --scheduled-snapshots is given.
            snapshot_retention=p.get("snapshot-retention"),
            auto_backup=(
                p.get("scheduled-snapshots") if "scheduled-snapshots" in p.changed else None
            ),
            encrypted=not p.get("no-encryption"),
            unique_zone=p.get("require-unique-zone"),
            app_wide=p.get("unique-zone-app-wide"),
        )
        if p.get("json"):
            sim.out.write(go_json(volume_json(vol)))
        else:
            print_volume(sim, vol, app_name)


def run_volumes_update(sim: Sim, p: Parsed) -> None:
    """internal/command/volumes/update.go runUpdate: RequireAppName has already named the
    app (so its "volume ID or app required" cannot happen). --snapshot-retention 0 (the
    flag's default) is not sent; --scheduled-snapshots only when given. flaps
    UpdateVolume (PUT) wraps "failed to update volume: %w", runUpdate "failed updating
    volume: %w". No app lookup before the PUT."""
    require_session(sim, p)
    app_name = require_app_name(sim, p)
    vid = p.args[0]
    sim.touch_app(app_name)
    retention = p.get("snapshot-retention") or None
    auto_backup = p.get("scheduled-snapshots") if "scheduled-snapshots" in p.changed else None
    wrap = "failed updating volume: failed to update volume: "
    if app_name not in sim.state["apps"] or sim.state["apps"][app_name]["org"] not in (
        sim.member_orgs()
    ):
        raise FlyError(f"{wrap}app not found")  # flaps 404 for the app. API text (assumed).
    vol = find_volume(sim, app_name, vid)
    if vol is None:
        raise FlyError(f"{wrap}volume not found")  # API text (assumed)
    check_snapshot_retention(retention, wrap)
    if retention is not None:
        vol["snapshot_retention"] = retention
    if auto_backup is not None:
        vol["auto_backup_enabled"] = auto_backup
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
    # volumes.go renderTable (showHostStatus: the simulator's hosts are all "ok").
    now = go_time(sim.now())
    rows = [
        [
            v["id"],
            v["state"],
            v["name"],
            f"{v['size_gb']}GB",
            v["region"],
            v["zone"],
            str(v["encrypted"]).lower(),
            v["attached_machine_id"] or "",
            humanize_time(go_time(v["created_at"]), now),
        ]
        for v in vols
    ]
    sim.out.write(
        render_table(
            rows,
            "ID",
            "State",
            "Name",
            "Size",
            "Region",
            "Zone",
            "Encrypted",
            "Attached VM",
            "Created At",
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
    sim.touch_app(app_name)
    if not p.args:
        sim.visible_app(app_name)  # GetAppBasic before selectVolume
        raise FlyError("volume ID must be specified when not running interactively")
    for vid in p.args:
        if not p.get("yes"):
            # confirmVolumeDelete: GetVolume, then countVolumesMatchingName picks the text.
            vol = find_volume(sim, app_name, vid)
            if vol is None:
                raise FlyError(f"failed to get volume {vid}: volume not found")
            matches = sum(1 for v in sim.app_volumes(app_name) if v["name"] == vol["name"])
            if matches <= 2:
                sim.eprint(
                    "Warning! Every volume is pinned to a specific physical host. You "
                    "should create two or more volumes per application. Deleting this "
                    f"volume will leave you with {matches - 1} volume(s) for this "
                    "application, and it is not reversible.  Learn more at "
                    "https://fly.io/docs/volumes/overview/"
                )
            else:
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
# IP addresses (internal/command/ips/*.go; fly-go resource_ip_addresses.go, types.go)


IP_TYPES = ("v4", "shared_v4", "v6", "private_v6")


def app_ips(app: dict) -> list[dict]:
    return app.setdefault("ips", [])


def allocate_ip(sim: Sim, app: dict, kind: str, region: str = "", network: str = "") -> dict:
    """The API's allocateIpAddress / flaps AssignIP. Addresses are the simulator's own,
    in Fly's ranges; region "global" when none is asked for, one shared v4 per app
    (allocating it again returns it). API behaviour (assumed)."""
    if kind == "shared_v4":
        existing = next((ip for ip in app_ips(app) if ip["type"] == "shared_v4"), None)
        if existing is not None:
            return existing
    ip_id = "ip_" + sim.new_id("ip")
    seq = sim.state["seq"]
    h = int(hashlib.sha256(app["name"].encode()).hexdigest()[:8], 16)
    address = {
        "v6": f"2a09:8280:1::{h % 0xFFFF:x}:{seq:x}",
        "v4": f"137.66.{(seq >> 8) & 255}.{seq & 255}",
        "shared_v4": f"66.241.{124 + h % 2}.{1 + h % 254}",
        "private_v6": f"fdaa:0:{h % 0xFFFF:x}:0:1::{seq:x}",
    }[kind]
    ip = {
        "id": ip_id,
        "address": address,
        "type": kind,
        "region": region or "global",
        "network": network,
        "created_at": sim.now(),
        "seq": seq,
    }
    app_ips(app).append(ip)
    return ip


def ip_addresses(app: dict) -> list[dict]:
    """fly-go GetIPAddresses: ipAddresses.nodes, then the app's sharedIpAddress appended
    as a shared_v4 with no ID, no region and Go's zero CreatedAt ("ugly hack")."""
    listed = [ip for ip in app_ips(app) if ip["type"] != "shared_v4"]
    shared = [
        {**ip, "id": "", "region": "", "created_at": "0001-01-01T00:00:00Z"}
        for ip in app_ips(app)
        if ip["type"] == "shared_v4"
    ]
    return listed + shared


def ip_json(ip: dict) -> dict:
    """fly-go types.go IPAddress has no json tags: Go field names, in struct order.
    Network is null for every address (API behaviour for non-custom networks, assumed)."""
    return {
        "ID": ip["id"],
        "Address": ip["address"],
        "Type": ip["type"],
        "Region": ip["region"],
        "CreatedAt": ip["created_at"],
        "ServiceName": "",
        "Network": None,
    }


def ip_list_table(sim: Sim, ips: list[dict]) -> str:
    """internal/command/ips/render.go renderListTable."""
    now = go_time(sim.now())
    labels = {
        "v4": ("v4", "public ingress (dedicated, $2/mo)"),
        "shared_v4": ("v4", "public ingress (shared)"),
        "v6": ("v6", "public ingress (dedicated)"),
        "private_v6": ("v6", "private ingress"),
        "egress_v4": ("v4", "egress"),
        "egress_v6": ("v6", "egress"),
    }
    rows = []
    for ip in ips:
        default = "private" if ip["address"].startswith("fdaa") else "public"
        version, kind = labels.get(ip["type"], (ip["type"], default))
        created = relative_time(go_time(ip["created_at"]), now)
        rows.append([version, ip["address"], kind, ip["region"], created])
    return render_table(rows, "Version", "IP", "Type", "Region", "Created At")


def run_ips_list(sim: Sim, p: Parsed) -> None:
    """internal/command/ips/list.go runIPAddressesList. The simulator has no egress IPs,
    so nothing is merged in and SanityCheckAppScopedEgressIps prints nothing."""
    require_session(sim, p)
    app_name = require_app_name(sim, p)
    app = sim.visible_app(app_name)  # GraphQL app(name:): "Could not find App"
    ips = ip_addresses(app)
    if p.get("json"):
        sim.out.write(go_json([ip_json(ip) for ip in ips]))
        return
    sim.out.write(ip_list_table(sim, ips))
    sim.print(
        "Learn more about Fly.io public, private, shared and dedicated IP addresses in our "
        "docs: https://fly.io/docs/networking/services/"
    )


def run_ips_allocate_v4(sim: Sim, p: Parsed) -> None:
    """internal/command/ips/allocate.go runAllocateIPAddressV4: --shared never asks; a
    dedicated v4 without --yes asks (confirmAlloc) before any API call, which fails when
    not interactive."""
    require_session(sim, p)
    app_name = require_app_name(sim, p)
    shared = p.get("shared")
    if not shared and not p.get("yes"):
        raise NonInteractiveError("yes flag must be specified when not running interactively")
    app = sim.visible_app(app_name)  # GraphQL allocateIpAddress. API text (assumed).
    if shared:
        # runAllocateIPAddress: AllocateSharedIPAddress, then renderSharedTable.
        ip = allocate_ip(sim, app, "shared_v4")
        sim.out.write(
            render_table(
                [["v4", ip["address"], "shared", "global"]], "Version", "IP", "Type", "Region"
            )
        )
        return
    ip = allocate_ip(sim, app, "v4", region=p.get("region"))
    sim.out.write(ip_list_table(sim, [ip]))


def run_ips_allocate_v6(sim: Sim, p: Parsed) -> None:
    """internal/command/ips/allocate.go runAllocateIPAddressV6: --private makes a
    private_v6 (Flycast), resolving --org first (orgs.OrgFromSlug)."""
    require_session(sim, p)
    app_name = require_app_name(sim, p)
    kind = "v6"
    if p.get("private"):
        kind = "private_v6"
        slug = p.get("org")
        if slug and slug not in sim.member_orgs():
            # GraphQL error text (assumed), as in apps list.
            raise FlyError(
                f"failed retrieving organization with slug {slug}: Could not find "
                f"Organization {slug}"
            )
    app = sim.visible_app(app_name)
    network = p.get("network") if kind == "private_v6" else ""
    ip = allocate_ip(sim, app, kind, region=p.get("region"), network=network)
    sim.out.write(ip_list_table(sim, [ip]))


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
    # appsecrets.Update -> fly-go flaps_secrets.go UpdateAppSecrets: the values in the body.
    debug_http(sim, "-->", f"https://api.machines.dev/v1/apps/{app_name}/secrets",
               {"values": secrets})  # fmt: skip
    set_app_secrets(sim, app, secrets)
    deploy_secrets(sim, app_name, app, stage=p.get("stage"))


def set_app_secrets(sim: Sim, app: dict, secrets: dict[str, str]) -> None:
    """Store secrets on the app (the API's SetSecrets / flaps secrets update)."""
    sim.next_seq()
    for name, value in secrets.items():
        app["secrets"][name] = {
            "value": value,
            "digest": secret_digest(value),
            "updated_seq": sim.state["seq"],
        }


def deploy_secrets(sim: Sim, app_name: str, app: dict, *, stage: bool) -> None:
    """internal/command/secrets/secrets.go DeploySecrets."""
    if stage:
        sim.print(
            "Secrets have been staged, but not set on VMs. Deploy or update machines in "
            "this app for the secrets to take effect."
        )
        return
    machines = sim.app_machines(app_name)
    if not app["releases"] and not machines:
        sim.print("Secrets are staged for the first deployment")
        return
    # A restart-only deployment (deploy.NewMachineDeployment with RestartOnly): the config
    # is the deployed one (appconfig.FromRemoteApp: the current release's, else one built
    # from the machines, from_machine_set.go, PRIMARY_REGION read from their env), never
    # fly.toml. createReleaseInBackend makes a new release of the latest image (setImg);
    # restartMachinesApp gives every machine its current config with that release's
    # version (launchInputForRestart, setMachineReleaseData) and the current secrets.
    if app["releases"]:
        base = app["releases"][-1]
        config, vm_guest, primary = base["config"], base.get("vm_guest"), base["primary_region"]
        strategy, image, build_digest = base["strategy"], base["image"], base["build_digest"]
    else:
        config = machines[0]["config"]
        vm_guest, primary = None, config.get("env", {}).get("PRIMARY_REGION", "")
        strategy, image, build_digest = "rolling", config.get("image", ""), ""
    release = new_release(sim, app, strategy, image, build_digest)
    release.update(
        config=json.loads(json.dumps(config)), vm_guest=vm_guest, primary_region=primary,
        restart_only=True,
    )  # fmt: skip
    release["config"]["metadata"]["fly_release_version"] = str(release["version"])
    # updateExistingMachines prints nothing for an app with no machines left.
    if machines:
        sim.print(f"Updating existing machines in '{app_name}' with {strategy} strategy")
    for m in machines:
        m["config"]["metadata"]["fly_release_version"] = str(release["version"])
        m["release_version"] = release["version"]
        m["secrets_digest"] = release["secrets_digest"]
        m["updated_at"] = sim.now()
        # machines_launchinput.go shouldSkipLaunch: a stopped machine is updated but not
        # started; only a started one restarts.
        if m["state"] == "started":
            m["restarts"] = m.get("restarts", 0) + 1
    app["releases"].append(release)


def run_secrets_unset(sim: Sim, p: Parsed) -> None:
    """internal/command/secrets/unset.go runUnset: GetAppCompact (GraphQL: "Could not
    find App"), then appsecrets.Update with every name set to nil ("It is not an error to
    unset a secret that does not exist": unknown names are ignored, and the deployment
    still runs), then DeploySecrets: --stage only says so, an app never deployed and
    without machines has them "staged for the first deployment", otherwise every machine
    is restarted."""
    require_session(sim, p)
    app_name = require_app_name(sim, p)
    app = sim.visible_app(app_name)
    sim.next_seq()
    for name in p.args:
        app["secrets"].pop(name, None)
    deploy_secrets(sim, app_name, app, stage=p.get("stage"))


def new_release(sim: Sim, app: dict, strategy: str, image: str, build_digest: str) -> dict:
    """The app's next release, complete, with the secrets it deploys."""
    sim.next_seq()
    return {
        "version": len(app["releases"]) + 1,
        "status": "complete",
        "strategy": strategy,
        "image": image,
        "build_digest": build_digest,
        "secrets_digest": secrets_digest_of(app),
        "created_at": sim.now(),
        "seq": sim.state["seq"],
    }


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
# storage: Tigris buckets (internal/command/extensions/tigris/*.go on top of
# internal/command/extensions/core/core.go; queries in gql/genqlient.graphql)
#
# A bucket is a GraphQL "add-on" of type tigris. The state keeps them in
# state["buckets"], keyed by name (Tigris bucket names are global), each with its org,
# the app it is attached to (None for an org-level bucket), its options and the
# environment the API returned when it was created.


def gql_error(field: str, message: str) -> FlyError:
    """A GraphQL error as flyctl prints it for genqlient queries: genqlient v0.8.1
    graphql/client.go returns resp.Errors, a gqlerror.List; vektah/gqlparser v2.5.36
    gqlerror/error.go formats each as "input:LINE:COL: PATH MESSAGE" plus "\\n", so
    printError's own "\\n" leaves an empty line. Every genqlient operation starts with a
    newline, so the queried field sits at line 3, column 2 (seen in superfly/flyctl#4728:
    "input:3:2: createAddOn The specified bucket is not valid.")."""
    return FlyError(f"input:3:2: {field} {message}\n")


# The add-on provider's fields (ExtensionProviderData) come from the API, not flyctl.
# Observed in real output: DisplayName "Tigris" and ResourceName "project" (flyctl#4034
# "A Tigris project named ... already exists for app ...", flyctl#4564 "Your Tigris
# project (...) is ready. See details and next steps with:
# https://fly.io/docs/reference/tigris/"); no region in that message, so SelectRegion is
# false; the docs' transcript shows the name prompt, so SelectName is true. Assumed: no
# NameSuffix, not Internal, no AsyncProvisioning (its spinner would go to stderr only).
TIGRIS_DISPLAY_NAME = "Tigris"
TIGRIS_RESOURCE_NAME = "project"
TIGRIS_INSTRUCTIONS = "https://fly.io/docs/reference/tigris/"
# API text (assumed): the provider's tosAgreement; the simulator's own placeholder.
TIGRIS_TOS_AGREEMENT = (
    "[simulator placeholder for the Tigris terms of service text the API returns]"
)
# flyctl#4564 (a real `storage create --yes --name N --app N`, Sep 2025) printed exactly
# these keys, sorted as setSecretsFromExtension sorts them; the values come from the API.
TIGRIS_ENDPOINT = "https://fly.storage.tigris.dev"
TIGRIS_REGION = "auto"
# Tigris bucket naming rules (tigrisdata.com/docs/buckets/bucket-rules): 3-63 chars of
# a-z 0-9 . -, starting and ending with a letter or digit, no "..", no "xn--" prefix,
# no "-s3alias" suffix, not an IP address.
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IPV4 = re.compile(r"[0-9]{1,3}(\.[0-9]{1,3}){3}")


def bucket_name_valid(name: str) -> bool:
    return bool(
        _BUCKET_NAME.fullmatch(name)
        and ".." not in name
        and not name.startswith("xn--")
        and not name.endswith("-s3alias")
        and not _IPV4.fullmatch(name)
    )


def generated_bucket_name(sim: Sim) -> str:
    """The API names a bucket when flyctl sends an empty name (docs transcripts show
    "summer-grass-2004", "polished-thunder-5646"). Deterministic here."""
    n = sim.next_seq()
    adjectives = ("summer", "polished", "quiet", "bold", "misty")
    nouns = ("grass", "thunder", "river", "leaf", "stone")
    return f"{adjectives[n % 5]}-{nouns[n // 5 % 5]}-{1000 + n * 7919 % 9000}"


def visible_buckets(sim: Sim) -> list[dict]:
    orgs = sim.member_orgs()
    found = [bk for bk in sim.state.setdefault("buckets", {}).values() if bk["org"] in orgs]
    return sorted(found, key=lambda bk: bk["seq"])


def app_with_addons(sim: Sim, app_name: str) -> tuple[dict, list[dict]]:
    """gql GetAppWithAddons(name, tigris): the app and its tigris add-ons. An app the
    token cannot see fails in the query. API text (assumed): the GraphQL "Could not find
    App" message that fly-go's own queries surface, in genqlient's format."""
    sim.touch_app(app_name)
    app = sim.state["apps"].get(app_name)
    if app is None or app["org"] not in sim.member_orgs():
        raise gql_error("app", f'Could not find App "{app_name}"')
    return app, [bk for bk in visible_buckets(sim) if bk["app"] == app_name]


def get_addon(sim: Sim, name: str) -> dict:
    """gql GetAddOn(name, tigris). Text seen in superfly/flyctl#3902 ("addOn Could not
    find AddOn"); that a bucket of an org the token cannot see is not found is assumed."""
    bk = sim.state.setdefault("buckets", {}).get(name)
    if bk is None or bk["org"] not in sim.member_orgs():
        raise gql_error("addOn", "Could not find AddOn")
    return bk


def discover_bucket(sim: Sim, p: Parsed) -> tuple[dict, dict | None]:
    """extensions/core/core.go Discover: by the NAME argument (GetAddOn; no app then,
    even with -a), else by the app (GetAppWithAddons, its first add-on), else an error."""
    if len(p.args) == 1:
        return get_addon(sim, p.args[0]), None
    app_name = load_app_name_if_present(sim, p)
    if app_name:
        app, attached = app_with_addons(sim, app_name)
        if not attached:
            raise FlyError("No project found. Provision one with 'flyctl ext tigris create'.")
        return attached[0], app
    raise FlyError("Run this command in a Fly app directory or pass a name as the first argument.")


def agree_to_provider_tos(sim: Sim, p: Parsed) -> None:
    """extensions/core/core.go AgreeToProviderTos. AgreedToProviderTos asks the API for
    viewer { ... on User { agreedToProviderTos } }; a viewer that is not a User (an org
    or deploy token) counts as not agreed. When not agreed the ToS text goes to stdout;
    --yes then counts as agreement, but CreateTosAgreement is never called on that path,
    so the next run shows the text again."""
    if "tigris" in sim.state.setdefault("tos_agreed", []):
        return
    sim.out.write("\n" + TIGRIS_TOS_AGREEMENT + "\n\n")
    if not p.get("yes"):
        raise NonInteractiveError(
            "To agree, the --yes flag must be specified when not running interactively"
        )
    sim.print("By specifying the --yes flag, you have agreed to the terms displayed above.")


SHADOW_FLAGS = (
    "shadow-access-key",
    "shadow-secret-key",
    "shadow-region",
    "shadow-name",
    "shadow-endpoint",
)


def debug_graphql(sim: Sim, direction: str, body: dict) -> None:
    """A GraphQL call's body, as flyctl's logger writes it (debug_http)."""
    debug_http(sim, direction, "https://api.fly.io/graphql", body)


def debug_http(sim: Sim, direction: str, url: str, body: dict) -> None:
    """What flyctl's logger writes about an API call: internal/cli/cli.go gives the context
    logger.FromEnv(io.ErrOut).AndLogToFile(); flyutil.go and flapsutil.go pass it to fly-go,
    whose v0.9.6 http.go LoggingTransport (also under flaps: flaps.go NewWithOptions ->
    fly.NewHTTPClient) logs each request body (logRequest) and each response body as it is
    read (loggingReadCloser, "  <-- URL: ..."), at Debug ("DEBUG " without a terminal). The
    terminal sink writes it to stderr only with LOG_LEVEL=debug (logger.go levelFromEnv,
    writer_logger.go); the file sink has no level (file_logger.go), so every call writes it
    to flyctl's log file (write_log_file). Only the bodies that carry secret values are
    modelled, each as one line (the real log splits a response at read boundaries and
    pretty-prints a request)."""
    text = json.dumps(body, separators=(",", ":"))
    line = f"DEBUG   <-- {url}: {text}" if direction == "<--" else f"DEBUG {text}"
    sim.debug_lines.append(line)
    if sim.env.get("LOG_LEVEL", "").lower() == "debug":
        sim.eprint(line)


LOG_FILES_KEPT = 10  # internal/logger/logfile/name.go keepLogs


def write_log_file(sim: Sim) -> str | None:
    """internal/logger/logfile/fs.go CreateLogFile, at every start (cli.go Run): the logs
    folder under the config directory ($FLY_CONFIG_DIR, else ~/.fly: helpers/config.go
    GetConfigDirectory), made 0700; the file named flyctl-<RFC3339 to the second>.log
    (name.go, so two calls in one second share a file, the later truncating it); all but
    the 10 newest removed (retainLogs). Returns the file's path."""
    config_dir = sim.env.get("FLY_CONFIG_DIR")
    if config_dir is None:
        home = sim.env.get("HOME")
        if not home:
            return None  # os.UserHomeDir fails: InitLogFile's error is only a debug line
        config_dir = os.path.join(home, ".fly")
    logs = Path(config_dir) / "logs"
    try:
        logs.mkdir(mode=0o700, parents=True, exist_ok=True)
        stamp = datetime.now().astimezone().isoformat(timespec="seconds")
        stamp = stamp.replace("+00:00", "Z")  # Go's RFC3339 writes UTC as Z
        path = logs / f"flyctl-{stamp}.log"
        path.write_text("".join(line + "\n" for line in sim.debug_lines))
        found = sorted(logs.glob("flyctl-*.log"), key=lambda f: f.name, reverse=True)
        for old in found[LOG_FILES_KEPT:]:
            old.unlink()
    except OSError:
        return None
    return str(path)


def run_storage_create(sim: Sim, p: Parsed) -> None:
    """extensions/tigris/create.go runCreate -> core.go ProvisionExtension ->
    setSecretsFromExtension -> secrets.go DeploySecrets."""
    require_session(sim, p)
    app_name = load_app_name_if_present(sim, p)  # LoadAppNameIfPresent: -a, $FLY_APP, fly.toml
    org_slug = ""
    if not app_name:
        # orgs.go OrgFromFlagOrSelect -> slugFromArgOrSelect: --org (flag.GetOrg: then
        # $FLY_ORG), else the first positional argument, else a prompt.
        slug = p.get("org") or sim.env.get("FLY_ORG", "") or (p.args[0] if p.args else "")
        if not slug:
            raise NonInteractiveError(
                "slug argument must be specified when not running interactively"
            )
        if slug not in sim.member_orgs():
            # orgs.go OrgFromSlug wraps GetOrganizationBySlug. API text (assumed).
            raise FlyError(
                f"failed retrieving organization with slug {slug}: Could not find "
                f"Organization {slug}"
            )
        org_slug = slug
    # create.go isShadowBucketSpecified: all five or none.
    given = [f for f in SHADOW_FLAGS if p.get(f)]
    if given and len(given) < len(SHADOW_FLAGS):
        raise FlyError(
            "You must set all required shadow bucket values: shadow-access-key, "
            "shadow-secret-key, shadow-region, shadow-name, shadow-endpoint"
        )
    options: dict[str, Any] = {"public": p.get("public"), "accelerate": p.get("accelerate")}
    if given:
        options["shadow_bucket"] = {
            "access_key": p.get("shadow-access-key"),
            "secret_key": p.get("shadow-secret-key"),
            "region": p.get("shadow-region"),
            "name": p.get("shadow-name"),
            "endpoint": p.get("shadow-endpoint"),
            "write_through": p.get("shadow-write-through"),
        }
    options["website"] = {"domain_name": ""}  # always sent; --website-domain-name unused

    # ProvisionExtension: GetAddOnProvider, then the terms, then the target.
    agree_to_provider_tos(sim, p)
    app = None
    if app_name:
        app, attached = app_with_addons(sim, app_name)
        if attached:
            raise FlyError(
                f"A {TIGRIS_DISPLAY_NAME} {TIGRIS_RESOURCE_NAME} named {attached[0]['name']} "
                f"already exists for app {app_name}"
            )
        org_slug = app["org"]
    name = p.get("name")
    if not name and not p.get("yes"):
        # prompt.String on a non-TTY: newSurveyIO returns ErrNonInteractive as is.
        raise NonInteractiveError("prompt: non interactive")

    # CreateExtension (createAddOn); the API checks the name. The invalid-name text is
    # seen in superfly/flyctl#4728. API text (assumed) for a name already in use:
    # flyctl's own callers look for "unavailable for creation" (deploy/statics/addon.go)
    # and "unavailable" (flypg/tigris.go) in it.
    if not name:
        name = generated_bucket_name(sim)
    elif not bucket_name_valid(name):
        raise gql_error("createAddOn", "The specified bucket is not valid.")
    buckets = sim.state.setdefault("buckets", {})
    if name in buckets:
        raise gql_error("createAddOn", f"{name} is unavailable for creation")
    seq = sim.next_seq()
    digest = hashlib.sha256(f"tigris-{name}-{seq}".encode()).hexdigest()
    environment = {
        "AWS_ACCESS_KEY_ID": "tid_" + digest[:24],
        "AWS_ENDPOINT_URL_S3": TIGRIS_ENDPOINT,
        "AWS_REGION": TIGRIS_REGION,
        "AWS_SECRET_ACCESS_KEY": "tsec_" + digest[24:],
        "BUCKET_NAME": name,
    }
    buckets[name] = {
        "name": name,
        "org": org_slug,
        "app": app_name or None,
        "status": "ready",  # API text (assumed): the status WaitForProvision waits for
        "options": options,
        "environment": environment,
        "created_at": sim.now(),
        "seq": seq,
    }
    # createAddOn's response body, as fly-go's LoggingTransport logs it when LOG_LEVEL=debug.
    debug_graphql(sim, "<--", {"data": {"createAddOn": {"addOn": {
        "name": name, "ssoLink": "", "environment": environment, "primaryRegion": "",
    }}}})  # fmt: skip
    sim.print(
        f"Your {TIGRIS_DISPLAY_NAME} {TIGRIS_RESOURCE_NAME} ({name}) is ready. See details "
        f"and next steps with: {TIGRIS_INSTRUCTIONS}\n"
    )

    # setSecretsFromExtension: prints every value, the secret key included. Its error is
    # discarded by ProvisionExtension.
    keys = sorted(environment)
    sets_secrets = False
    if app is not None:
        existing = [k for k in sorted(app["secrets"]) if k in environment]
        if existing:
            sim.print(
                f"Secrets [{' '.join(existing)}] already exist on app {app_name}. "
                "They won't be set automatically.\n"
            )
        else:
            sets_secrets = True
    if sets_secrets:
        sim.print(f"Setting the following secrets on {app_name}:")
        for k in keys:
            sim.print(f"{k}: {environment[k]}")
        sim.print()
        debug_graphql(sim, "-->", {"operationName": "SetSecrets", "variables": {"input": {
            "appId": app_name,
            "secrets": [{"key": k, "value": environment[k]} for k in keys],
        }}})  # fmt: skip
        set_app_secrets(sim, app, environment)
    else:
        sim.print("Set the following secrets on your target app.")
        for k in keys:
            sim.print(f"{k}: {environment[k]}")
    # create.go: DeploySecrets(Stage: false, Detach: false, CheckDNS: true).
    if sets_secrets:
        deploy_secrets(sim, app_name, app, stage=False)


def run_storage_list(sim: Sim, p: Parsed) -> None:
    """extensions/tigris/list.go runList: a NAME/ORG table, no --json, no app."""
    require_session(sim, p)
    slug = p.get("org") or sim.env.get("FLY_ORG", "")  # flag.GetOrg
    if slug:
        if slug not in sim.member_orgs():
            # GetOrganizationBySlug's error, returned as is. API text (assumed).
            raise FlyError(f"Could not find Organization {slug}")
        rows = [[bk["name"], slug] for bk in visible_buckets(sim) if bk["org"] == slug]
    else:
        rows = [[bk["name"], bk["org"]] for bk in visible_buckets(sim)]
    sim.out.write(render_table(rows, "Name", "Org"))


def render_vertical_table(title: str, pairs: list[tuple[str, str]]) -> str:
    """internal/render/render.go VerticalTable: the title in aurora v2 Bold (always
    escaped, whatever the terminal), then one "column │ value" row per field, no header,
    then an empty line. Same caveat on spaces as render_table."""
    width_k = max(len(k) for k, _ in pairs)
    width_v = max(len(v) for _, v in pairs)
    rows = [f" {k:<{width_k}} │ {v:<{width_v}} " for k, v in pairs]
    return f"\x1b[1m{title}\x1b[0m\n" + "\n".join(rows) + "\n\n"


def run_storage_status(sim: Sim, p: Parsed) -> None:
    """extensions/tigris/status.go runStatus."""
    require_session(sim, p)
    bk, app = discover_bucket(sim, p)
    pairs = [("Name", bk["name"]), ("Status", bk["status"])]
    options = bk["options"]
    for key in (
        "public",
        "shadow_bucket.write_through",
        "shadow_bucket.name",
        "shadow_bucket.endpoint",
    ):
        parts = key.split(".")
        if len(parts) > 1:
            nested = options.get(parts[0])
            if not isinstance(nested, dict):
                break  # status.go: a missing nested map ends the loop
            opt, ok = nested.get(parts[1]), parts[1] in nested
        else:
            opt, ok = options.get(key), key in options
        value = "False"
        if ok and isinstance(opt, bool):
            value = "True" if opt else "False"
        elif ok and isinstance(opt, str):
            value = opt
        pairs.append((" ".join(parts).replace("_", " ").title(), value))
    if app is not None:
        pairs.append(("App", app["name"]))
    sim.out.write(render_vertical_table("Status", pairs))


def run_storage_destroy(sim: Sim, p: Parsed) -> None:
    """extensions/tigris/destroy.go runDestroy: Discover first, then the question, then
    DeleteAddOn. Nothing here touches the app's secrets."""
    require_session(sim, p)
    bk, _ = discover_bucket(sim, p)
    if not p.get("yes"):
        sim.eprint("Destroying a Tigris storage bucket is not reversible.")
        raise NonInteractiveError("yes flag must be specified when not running interactively")
    del sim.state["buckets"][bk["name"]]
    sim.print(f"Your Tigris object storage bucket {bk['name']} was destroyed")


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


def _tables(config: dict, key: str) -> list[dict]:
    raw = config.get(key) or []
    return [raw] if isinstance(raw, dict) else [x for x in raw if isinstance(x, dict)]


def all_services(config: dict) -> list[dict]:
    """internal/appconfig/service.go AllServices: [http_service] as HTTPService.ToService
    (tcp, 80 ["http"], 443 ["http", "tls"]), then the [[services]]."""
    services = []
    if isinstance(config.get("http_service"), dict):
        services.append(
            {
                "protocol": "tcp",
                "ports": [
                    {"port": 80, "handlers": ["http"]},
                    {"port": 443, "handlers": ["http", "tls"]},
                ],
            }
        )
    return services + _tables(config, "services")


def _port_range(port: dict) -> tuple[int, int]:
    return port.get("start_port", 0), port.get("end_port", 65535)


def port_contains(port: dict, n: int) -> bool:
    """fly-go machine_types.go MachinePort.ContainsPort."""
    if port.get("port") is not None and port["port"] == n:
        return True
    if port.get("start_port") is None and port.get("end_port") is None:
        return False
    start, end = _port_range(port)
    return start <= n <= end


def port_has_non_http_ports(port: dict) -> bool:
    """fly-go machine_types.go MachinePort.HasNonHttpPorts."""
    if port.get("port") is not None and port["port"] not in (443, 80):
        return True
    if port.get("start_port") is None and port.get("end_port") is None:
        return False
    start, end = _port_range(port)
    count = end - start + 1
    if count > 2:
        return True
    http_in, https_in = start <= 80 <= end, start <= 443 <= end
    if count == 2:
        return not http_in or not https_in
    if count == 1:
        return not http_in and not https_in
    return False


def determine_ip_type(config: dict, ip_type: str) -> str:
    """internal/appconfig/config.go DetermineIPType. It reads c.Services (the
    [[services]] only); [http_service] would map to 80 ["http"] and 443 ["http","tls"],
    which are shared-IP ports anyway, so AllServices gives the same answer."""
    if ip_type == "private":
        return "private"
    for service in _tables(config, "services"):
        protocol = service.get("protocol")
        if protocol == "udp":
            return "dedicated"
        if protocol == "tcp":
            for port in _tables(service, "ports"):
                handlers = port.get("handlers")
                if port_has_non_http_ports(port):
                    return "dedicated"
                if port_contains(port, 80) and handlers != ["http"]:
                    return "dedicated"
                if port_contains(port, 443) and handlers not in (
                    ["http", "tls"],
                    ["tls", "http"],
                ):
                    return "dedicated"
    return "shared"


def provision_ips_on_first_deploy(sim: Sim, app: dict, config: dict, ip_type: str) -> None:
    """internal/command/deploy/deploy_first.go provisionFirstDeploy ->
    provisionIpsOnFirstDeploy: only with services, not with --no-public-ips, and only if
    the app has no IP yet (flaps GetIPAssignments)."""
    if not all_services(config) or ip_type == "none":
        return
    if app_ips(app):
        return
    name = app["name"]
    kind = determine_ip_type(config, ip_type)
    if kind == "dedicated":
        # prompt.Confirmf("Would you like to allocate %s now?") returns
        # prompt.ErrNonInteractive (internal/prompt/prompt.go newSurveyIO): the simulator
        # is never interactive. The code only allocates on `confirmDedicatedIp && err ==
        # nil`, and that err is declared inside the case (`:=`), so it is dropped: nothing
        # is allocated, nothing is printed to stderr, and provisionIpsOnFirstDeploy
        # returns nil. provisionFirstDeploy's "Failed to provision IP addresses" line is
        # never reached on this path; the deploy goes on and exits 0 with no IPs.
        pass
    elif kind == "shared":
        sim.print(f"Provisioning ips for {name}")
        v6 = allocate_ip(sim, app, "v6")
        sim.print(f"  Dedicated ipv6: {v6['address']}")
        v4 = allocate_ip(sim, app, "shared_v4")
        sim.print(f"  Shared ipv4: {v4['address']}")
        sim.print("  Add a dedicated ipv4 with: fly ips allocate-v4")
    elif kind == "private":
        sim.print(f"Provisioning ip address for {name}")
        v6 = allocate_ip(sim, app, "private_v6")
        sim.print(f"  Private ipv6: {v6['address']}")
    sim.print()


def app_url(config: dict, app_name: str) -> str | None:
    """internal/appconfig/config.go URL."""
    host = f"{app_name}.fly.dev"
    http_service = config.get("http_service")
    if isinstance(http_service, dict) and (http_service.get("internal_port") or 0) > 0:
        return f"https://{host}/"
    https_ports, http_ports = [], []
    for service in _tables(config, "services"):
        for port in _tables(service, "ports"):
            handlers = port.get("handlers") or []
            if port.get("port") is None or "http" not in handlers:
                continue
            (https_ports if "tls" in handlers else http_ports).append(port["port"])
    if 443 in https_ports:
        return f"https://{host}/"
    if 80 in http_ports:
        return f"http://{host}/"
    if https_ports:
        return f"https://{host}:{min(https_ports)}/"
    if http_ports:
        return f"http://{host}:{min(http_ports)}/"
    return None


def machine_env(config: dict, primary_region: str) -> dict:
    """internal/appconfig/machines.go updateMachineConfig: the machine's env is fly.toml's
    [env] (patches.go _patchEnv makes every value a string), then FLY_PROCESS_GROUP, then
    PRIMARY_REGION when fly.toml (or --primary-region) has one. flyctl sets no FLY_REGION:
    the platform gives every machine that one at runtime (API behaviour, assumed)."""
    env = {}
    for key, value in (config.get("env") or {}).items():
        env[key] = str(value).lower() if isinstance(value, bool) else str(value)
    env["FLY_PROCESS_GROUP"] = "app"
    if primary_region:
        env["PRIMARY_REGION"] = primary_region
    return env


def machine_stop_config(config: dict) -> dict | None:
    """internal/appconfig/machines.go tomachineSetStopConfig: fly-go StopConfig from
    kill_signal and kill_timeout (none when fly.toml has neither). patches.go
    patchTopFields turns an integer kill_timeout into seconds; fly-go Duration marshals
    as Go's Duration.String ("30s", "1m30s")."""
    signal, timeout = config.get("kill_signal"), config.get("kill_timeout")
    if signal is None and timeout is None:
        return None
    stop: dict = {}
    if timeout is not None:
        try:
            ns = (
                int(timeout * 10**9)
                if isinstance(timeout, (int, float)) and not isinstance(timeout, bool)
                else parse_go_duration(str(timeout))
            )
        except ValueError as exc:
            # fly.toml fails to load; flyctl's wrapping of this is not modelled.
            raise FlyError(f"kill_timeout: {exc}") from None
        stop["timeout"] = go_duration_string(ns)
    if signal is not None:
        stop["signal"] = signal
    return stop


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

    sim.touch_app(app_name)
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
        # deploy_build.go determineImage: a render.NewTextBlock, which writes to ErrOut
        # (internal/render/render.go), carries the heading and the image lines.
        sim.eprint("==> Building image")
        sim.eprint(f"--> Building image done\nimage: {image}\nimage size: 42 MB")
    else:
        digest = hashlib.sha256(image.encode()).hexdigest()
    if p.get("build-only"):
        return
    sim.print(f"\nWatch your deployment at https://fly.io/apps/{app_name}/monitoring\n")
    for name in ("release-command-timeout", "wait-timeout", "lease-timeout"):
        parse_duration_flag(p, name)
    # deploy.go deployToMachines: md.machineGuest, the guest for new machines when
    # fly.toml has no [[vm]]; and where IPs go (--flycast / --no-public-ips).
    flags_guest = guest_from_flags(p)
    ip_type = "private" if p.get("flycast") else "none" if p.get("no-public-ips") else "public"

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
    # appconfig ToMachineConfig's guest: [[vm]] or None. A bad [[vm]] passes validation
    # (validation.go validateMachineConversion tests the outer err, never vErr) and
    # fails where the config is first converted.
    try:
        vm_guest, guest_error = guest_from_config(config), None
    except FlyError as exc:
        vm_guest, guest_error = None, exc.message

    # machines.go setVolumes: unattached volumes, grouped by name.
    unattached = [v for v in sim.app_volumes(app_name) if not v["attached_machine_id"]]
    if first_deploy:
        # deploy_first.go provisionFirstDeploy: IPs first (errors printed, ignored), then
        # the seed volumes (errors fatal).
        try:
            provision_ips_on_first_deploy(sim, app, config, ip_type)
        except FlyError as exc:
            sim.err.write(
                "Failed to provision IP addresses. Use `fly ips` commands to remediate it. "
                f"ERROR: {exc.message}"
            )
    if first_deploy and mount:
        # deploy_first.go provisionVolumesOnFirstDeploy: counts unattached volumes of the
        # mount's name in any region; creates one in primary_region only if none.
        if guest_error:
            raise FlyError(f"failed to provision seed volumes: {guest_error}")
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
                    # ComputeRequirements: the [[vm]] guest, else md.machineGuest.
                    compute=vm_guest or flags_guest,
                    # m.SnapshotRetention / m.ScheduledSnapshots: nil when fly.toml
                    # leaves them out, so the API default.
                    snapshot_retention=mount.get("snapshot_retention"),
                    auto_backup=mount.get("scheduled_snapshots"),
                )
            )

    # machines.go validateVolumeConfig, after provisionFirstDeploy and before the release:
    # machines with a volume that fly.toml no longer mounts ask to go on (prompt.Confirm
    # ignores --yes); a group with no machine needs an unattached volume of its mount's
    # name in some region (which region is checked only at launch, below).
    for m in machines:
        if m["config"]["mounts"] and not mount:
            sim.eprint(
                f"Warning! machine {m['id']} [app] has a volume mounted but app "
                "config does not specify a volume.\nThis usually indicates a "
                "misconfiguration."
            )
            raise NonInteractiveError("yes flag must be specified when not running interactively")
    if not machines and mount and not any(v["name"] == mount["source"] for v in unattached):
        raise FlyError(
            f"creating a new machine in group 'app' requires an unattached '{mount['source']}' "
            f"volume. Create it with `fly volume create {mount['source']}`"
        )

    release = new_release(sim, app, strategy, image, digest)
    machine_config = {
        "image": image,
        "env": machine_env(config, primary_region),
        # machines_launchinput.go launchInputForLaunch: the [[vm]] guest, else
        # md.machineGuest (the --vm-* flags over shared-cpu-1x).
        "guest": dict(vm_guest or flags_guest),
        "services": bool(all_services(config)),
        "mounts": (
            [{"name": mount["source"], "path": mount.get("destination", "")}] if mount else []
        ),
        # updateMachineConfig's metadata, then setMachineReleaseData's release version.
        "metadata": {
            "fly_platform_version": "v2",
            "fly_process_group": "app",
            "fly_release_version": str(release["version"]),
        },
    }
    stop_config = machine_stop_config(config)
    if stop_config:
        machine_config["stop_config"] = stop_config
    release["config"] = machine_config
    release["vm_guest"] = vm_guest  # what appconfig.FromRemoteApp gives scale count
    release["primary_region"] = primary_region
    # machines_deploymachinesapp.go deployMachinesApp: machines are per process group, not
    # per region. A group with no machine at all gets one (resolveProcessGroupChanges,
    # deployCreateMachinesForGroups) in primary_region (launchInputForLaunch); every
    # existing machine is updated where it is (launchInputForUpdate keeps its Region),
    # whatever primary_region says now. No prompt or refusal for a changed primary_region.
    if not machines:
        # warnAboutProcessGroupChanges
        ha, services = p.get("ha"), bool(all_services(config))
        if not ha or mount:
            description = '1 "app" machine'
        elif services:
            description = '2 "app" machines'
        else:
            description = '1 "app" machine and 1 standby machine for it'
        sim.print(
            "This deployment will:" if first_deploy else "Process groups have changed. This will:"
        )
        sim.print(f" * create {description}\n")
    if not machines and not p.get("update-only"):
        sim.print("No machines in group app, launching a new machine")
        # machines_deploymachinesapp.go spawnMachineInGroup wraps launchInputForLaunch's
        # error as "error creating machine configuration: %w" and flaps Launch's as
        # "error creating a new machine: %w".
        if guest_error:
            raise FlyError(f"error creating machine configuration: {guest_error}")
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
                    "error creating machine configuration: New machine in group 'app' "
                    f"needs an unattached volume named '{mount['source']}' in region "
                    f"'{primary_region}'"
                )
        try:
            m = launch_machine(sim, app, primary_region, machine_config, vol, release)
        except FlyError as exc:
            raise FlyError(f"error creating a new machine: {exc.message}") from None
        # deployCreateMachinesForGroups: --ha adds a second machine (or a standby) only
        # for groups without mounts.
        if ha and not mount:
            spare = json.loads(json.dumps(machine_config))
            if services:
                sim.print(
                    "Creating a second machine for high availability and zero downtime "
                    'deployments.\nTo disable this, set "min_machines_running = 0" in your '
                    "fly.toml."
                )
            else:
                sim.print(f"Creating a standby machine for {m['id']}")
                spare["standbys"] = [m["id"]]
                spare["env"]["FLY_STANDBY_FOR"] = m["id"]
            launch_machine(sim, app, primary_region, spare, None, release)
        sim.eprint("Finished launching new machines")
    if machines:
        if guest_error:
            # machines_deploymachinesapp.go deployMachinesApp: launchInputForUpdate fails.
            raise FlyError(
                f"failed to update machine configuration for {machines[0]['id']}: {guest_error}"
            )
        # updateExistingMachines; the per-machine status lines (statuslogger) are the
        # simulator's approximation: scripts must not depend on them.
        sim.print(f"Updating existing machines in '{app_name}' with {strategy} strategy")
        for m in machines:
            mounts_now = m["config"]["mounts"]
            new_config = json.loads(json.dumps(machine_config))
            new_config["mounts"] = mounts_now  # the attached volume stays
            # launchInputForUpdate: a standby that now has services stops being one.
            standbys = m["config"].get("standbys")
            if standbys and not new_config["services"]:
                new_config["standbys"] = standbys
                new_config["env"]["FLY_STANDBY_FOR"] = ",".join(standbys)
            # appconfig machines.go updateMachineConfig: [[vm]] replaces the guest, else
            # the machine keeps its own (what scale or --vm-* gave it).
            new_config["guest"] = dict(vm_guest or m["config"]["guest"])
            vol = sim.state["volumes"].get(m["volume"]) if m["volume"] else None
            if vol is not None and not guest_fits(new_config["guest"], vol.get("placed_for")):
                raise insufficient_resources_on_update(m["id"], vol)
            m["config"] = new_config
            m["release_version"] = release["version"]
            m["secrets_digest"] = release["secrets_digest"]
            m["updates"] = m.get("updates", 0) + 1
            m["updated_at"] = sim.now()
            # machines_launchinput.go shouldSkipLaunch: only a started (or starting,
            # failed) machine is started again; a stopped one takes the new config and
            # stays stopped.
            sim.print(f"  Machine {m['id']} [app] update succeeded")
    app["releases"].append(release)
    sim.print("✓ DNS configuration verified")
    # deploy.go DeployWithConfig, after deployToMachines.
    url = app_url(config, app_name)
    if url and ip_type == "public":
        sim.print(f"\nVisit your newly deployed app at {url}\n")
    elif ip_type == "private":
        sim.print(
            "\nYour your newly deployed app is available in the organizations' private "
            f"network under http://{app_name}.flycast"
        )
    elif ip_type == "none":
        sim.print("\nYour app is deployed but does not have a public or private IP address")


def launch_machine(
    sim: Sim, app: dict, region: str, config: dict, vol: dict | None, release: dict
) -> dict:
    if vol is not None and not guest_fits(config["guest"], vol.get("placed_for")):
        raise insufficient_resources_on_launch(vol)
    mid = sim.new_id("machine")
    config = json.loads(json.dumps(config))
    if vol is not None:
        vol["attached_machine_id"] = mid
        # The API reports the attached volume's size in the mount (superfly/flyctl#2721:
        # scaling up from machines takes the size from their mount).
        config["mounts"][0].update(
            volume=vol["id"], size_gb=vol["size_gb"], encrypted=vol["encrypted"]
        )
    m = {
        "id": mid,
        "app": app["name"],
        "region": region,
        "state": "started",
        "config": config,
        "volume": vol["id"] if vol else None,
        "release_version": release["version"],
        "secrets_digest": secrets_digest_of(app),
        "created_at": sim.now(),
        "updated_at": sim.now(),
        "seq": sim.state["seq"],
    }
    sim.state["machines"][mid] = m
    return m


# --------------------------------------------------------------------------------------
# machine (internal/command/machine/*.go)

# fly-go machine_types.go: MachineGuest and MachineMount field order (all omitempty); the
# guest's are the fields [[vm]] sets, in the same order.
_GUEST_JSON_KEYS = _COMPUTE_GUEST_KEYS
_MOUNT_JSON_KEYS = ("encrypted", "path", "size_gb", "volume", "name")


def _omit_empty(d: dict, keys: tuple[str, ...]) -> dict:
    return {k: d[k] for k in keys if d.get(k) not in (None, "", 0, False, [], {})}


def image_ref(image: str) -> dict:
    """fly-go MachineImageRef, as the API reports it for a "registry/repository:tag"
    image (the digest and labels the API adds are not modelled)."""
    registry, _, rest = image.partition("/")
    repository, _, tag = rest.rpartition(":") if ":" in rest else (rest, "", "")
    return _omit_empty(
        {"registry": registry, "repository": repository, "tag": tag},
        ("registry", "repository", "tag"),
    )


def machine_json(m: dict) -> dict:
    """fly-go machine_types.go Machine as encoding/json writes it: struct field order,
    omitempty honoured, `image_ref` and `cordoned` always present, `config.init` always
    present (MachineInit's fields are all omitempty, so {}). Only what the simulator
    keeps: no name, instance_id, private_ip, events or checks (all omitempty, so a real
    listing has more keys, never other ones). `config.services` is left out: the
    simulator keeps only whether the app has services, not fly-go MachineService."""
    c = m["config"]
    config: dict = {}
    if c.get("env"):
        config["env"] = dict(c["env"])
    config["init"] = {}
    if c.get("guest"):
        config["guest"] = _omit_empty(c["guest"], _GUEST_JSON_KEYS)
    if c.get("metadata"):
        config["metadata"] = dict(c["metadata"])
    if c.get("mounts"):
        config["mounts"] = [_omit_empty(mt, _MOUNT_JSON_KEYS) for mt in c["mounts"]]
    if c.get("image"):
        config["image"] = c["image"]
    if c.get("standbys"):
        config["standbys"] = list(c["standbys"])
    if c.get("stop_config"):
        config["stop_config"] = {
            k: c["stop_config"][k] for k in ("timeout", "signal") if k in c["stop_config"]
        }
    out: dict = {"id": m["id"], "state": m["state"], "region": m["region"]}
    out["image_ref"] = image_ref(c.get("image", ""))
    for key in ("created_at", "updated_at"):
        if m.get(key):
            out[key] = m[key]
    out["config"] = config
    out["host_status"] = "ok"
    out["cordoned"] = False
    return out


def flaps_app(sim: Sim, app_name: str, wrap: str) -> dict:
    """A Machines API call on /apps/APP/...: no GraphQL lookup first, so an app the token
    cannot see fails in the call itself. API text (assumed), as in volumes update."""
    sim.touch_app(app_name)
    app = sim.state["apps"].get(app_name)
    if app is None or app["org"] not in sim.member_orgs():
        raise FlyError(f"{wrap}app not found")
    return app


def run_machine_list(sim: Sim, p: Parsed) -> None:
    """internal/command/machine/list.go runMachineList: flaps List (state "": the API
    leaves destroyed machines out, assumed), rendered as fly-go Machines with --json."""
    require_session(sim, p)
    app_name = require_app_name(sim, p)
    flaps_app(sim, app_name, "failed to list VMs: ")
    machines = sim.app_machines(app_name)
    if p.get("json"):
        sim.out.write(go_json([machine_json(m) for m in machines]))
        return
    quiet = p.get("quiet")
    if not machines:
        if not quiet:
            sim.print(f"No machines are available on this app {app_name}")
        return
    if quiet:
        # render.Table with no title and no header: one row per machine.
        width = max(len(m["id"]) for m in machines)
        sim.out.write("".join(f" {m['id']:<{width}} \n" for m in machines) + "\n")
        return
    # iostreams.go CreateLink: an OSC 8 link when isTextClickable (by environment),
    # else the text, a space and the URL after a zero-width space in parentheses.
    url = f"https://fly.io/apps/{app_name}/machines/"
    env = sim.env
    clickable = (
        env.get("FORCE_HYPERLINK")
        or env.get("DOMTERM")
        or env.get("TERM_PROGRAM") in ("Hyper", "iTerm.app", "terminology", "WezTerm")
        or env.get("WT_SESSION")
        or env.get("KONSOLE_VERSION")
    )
    text = "View them in the UI here"
    link = f"\x1b]8;;{url}\x07{text}\x1b]8;;\x07" if clickable else f"{text} (\u200b{url})"
    sim.print(f"{len(machines)} machines have been retrieved from app {app_name}.\n{link}\n")
    rows = []
    for m in machines:
        c = m["config"]
        ref = image_ref(c.get("image", ""))
        guest = c.get("guest") or {}
        rows.append(
            [
                m["id"],
                "",
                m["state"],
                "",
                m["region"],
                "",
                f"{ref.get('repository', '')}:{ref.get('tag', '')}",
                "",
                c["mounts"][0].get("volume", "") if c.get("mounts") else "",
                m.get("created_at", ""),
                m.get("updated_at", ""),
                (c.get("metadata") or {}).get("fly_process_group", ""),
                f"{guest_size(guest)}:{guest.get('memory_mb', 0)}MB" if guest else "",
            ]
        )
    sim.out.write(f"\x1b[1m{app_name}\x1b[0m\n")  # render.NewTable: aurora.Bold(title)
    sim.out.write(
        render_table(
            rows,
            "ID",
            "Name",
            "State",
            "Checks",
            "Region",
            "Role",
            "Image",
            "IP Address",
            "Volume",
            "Created",
            "Last Updated",
            "Process Group",
            "Size",
        )
    )


# fly-go machine_types.go StopMachineInput/StopConfig `enums` tag.
MACHINE_SIGNALS = ("SIGHUP", "SIGINT", "SIGQUIT", "SIGKILL", "SIGUSR1", "SIGUSR2", "SIGTERM")
# What the API uses when neither the stop request nor the machine's stop_config says:
# Fly's docs give SIGINT and 5 seconds (flyctl's --signal help says "default: SIGINT").
# API behaviour (assumed).
API_DEFAULT_STOP_SIGNAL = "SIGINT"
API_DEFAULT_STOP_TIMEOUT = "5s"


def select_many_machines(sim: Sim, p: Parsed) -> tuple[str, list[dict]]:
    """internal/command/machine/select.go checkSelectConditions + selectManyMachines."""
    app_name = load_app_name_if_present(sim, p)
    ids = p.args
    if p.get("select") and ids:
        raise FlyError("machine IDs can't be used with --select")
    if p.get("select") and not app_name:
        raise FlyError("an app name must be specified to use --select")
    if not ids and not app_name:
        raise FlyError("a machine ID or an app name is required")
    if p.get("select") or not ids:
        # Not a prompt.NonInteractiveError: a plain errors.New.
        raise FlyError("a machine ID must be specified when not running interactively")
    if not app_name:
        # buildContextFromAppNameOrMachineID: GraphQL machine(id:) for the first ID.
        # API text (assumed) for a machine the token cannot see.
        found = sim.state["machines"].get(ids[0])
        if (
            found is None
            or found["app"] not in sim.state["apps"]
            or sim.state["apps"][found["app"]]["org"] not in sim.member_orgs()
        ):
            raise FlyError(
                "could not get machine from GraphQL to determine app name: Could not "
                f"find Machine {ids[0]}"
            )
        app_name = found["app"]
    selected = []
    for mid in ids:
        # flaps Get wraps "failed to get VM %s: %w"; rewriteMachineNotFoundErrors
        # replaces an error containing "machine not found" (the API's text, which flyctl
        # relies on) with its own. A destroyed machine counts as not found (assumed).
        flaps_app(sim, app_name, f"could not get machine {mid}: failed to get VM {mid}: ")
        m = sim.state["machines"].get(mid)
        if m is None or m["app"] != app_name or m["state"] == "destroyed":
            raise FlyError(f"machine {mid} was not found in app '{app_name}'")
        selected.append(m)
    return app_name, selected


def run_machine_stop(sim: Sim, p: Parsed) -> None:
    """internal/command/machine/stop.go runMachineStop: every machine is looked up
    before any is stopped (selectManyMachines), then leased (not modelled), then each is
    stopped in turn. Stop sends the upper-cased --signal (empty when not given) and
    --timeout only when > 0; the API then falls back on the machine's stop_config
    (fly.toml kill_signal / kill_timeout, tomachineSetStopConfig), then its own
    defaults. With --wait-timeout the command waits for "stopped" in one flaps Wait whose
    timeout fly-go clamps to [1s, 60s] (flaps_machines_wait.go WithWaitTimeout,
    proxyTimeoutThreshold). A machine stops at once unless a test seeds `stop_takes_s`,
    how long its own shutdown takes; the API kills it when the stop timeout runs out."""
    require_session(sim, p)
    app_name, selected = select_many_machines(sim, p)
    signal = p.get("signal").upper()
    timeout = p.get("timeout")
    for m in selected:
        sim.print(f"Sending kill signal to machine {m['id']}...")
        if signal and signal not in MACHINE_SIGNALS:
            # API text (assumed): the Machines API validates the signal.
            raise FlyError(
                f"could not stop machine {m['id']}: failed to stop VM {m['id']}: invalid "
                f"signal {signal}"
            )
        stop_config = m["config"].get("stop_config") or {}
        m["state"] = "stopped"
        m["updated_at"] = sim.now()
        m.pop("stopping_until", None)
        m["stops"] = m.get("stops", 0) + 1
        # What flyctl sent, and what the machine got (the API's fallbacks, assumed).
        m["last_stop"] = {
            "requested_signal": signal,
            "requested_timeout": go_duration_string(timeout * 10**9) if timeout > 0 else "",
            "signal": signal or stop_config.get("signal") or API_DEFAULT_STOP_SIGNAL,
            "timeout": (
                go_duration_string(timeout * 10**9)
                if timeout > 0
                else stop_config.get("timeout") or API_DEFAULT_STOP_TIMEOUT
            ),
        }
        m.pop("last_stop_wait", None)
        wait_ns = p.get("wait-timeout")
        if wait_ns:
            # WithWaitTimeout: max(1s, min(timeout, 60s)); the query sends whole seconds.
            sent = int(max(10**9, min(wait_ns, 60 * 10**9)) // 10**9)
            stopped_after = min(
                m.get("stop_takes_s", 0), parse_go_duration(m["last_stop"]["timeout"]) // 10**9
            )
            m["last_stop_wait"] = {
                "requested": go_duration_string(wait_ns),
                "sent_seconds": sent,
                "stopped_after_s": stopped_after,
            }
            if stopped_after > sent:
                m["state"] = "stopping"
                m["stopping_until"] = time.time() + stopped_after - sent
                # stop.go Stop: "machine %s did not stop within the wait timeout: %w" around
                # flaps Wait's "failed to wait for VM %s in %v state: %w". The API answers
                # 408 (internal/machine/ephemeral.go checks for it); its text is assumed.
                raise FlyError(
                    f"machine {m['id']} did not stop within the wait timeout: failed to wait "
                    f"for VM {m['id']} in [stopped] state: deadline_exceeded"
                )
        elif m.get("stop_takes_s"):
            # No wait: the call returns once the API took the stop; the machine is
            # "stopping" for its own shutdown, at most its stop timeout (wall clock).
            took = min(m["stop_takes_s"], parse_go_duration(m["last_stop"]["timeout"]) // 10**9)
            m["state"] = "stopping"
            m["stopping_until"] = time.time() + took
        sim.print(f"{m['id']} has been successfully stopped")


def settle_stopping_machines(state: dict) -> None:
    """A machine seeded to take a while to stop is "stopping" until its time is up."""
    for m in state.get("machines", {}).values():
        if m.get("state") == "stopping" and time.time() >= m.get("stopping_until", 0):
            m["state"] = "stopped"
            m.pop("stopping_until", None)


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


def run_scale_count(sim: Sim, p: Parsed) -> None:
    """count.go runScaleCount -> count_machines.go runMachinesScaleCount."""
    require_session(sim, p)
    app_name = require_app_name(sim, p)
    app = sim.visible_app(app_name)
    if not app["releases"] and not sim.app_machines(app_name):
        # appconfig/remote.go FromRemoteApp: no release config, so it synthesizes one from the
        # machines (getAppV2ConfigFromMachines), and from_machine_set.go finds none.
        raise FlyError(
            "failed to grab app config from existing machines, error: could not create a "
            "fly.toml from any machines :-(\n"
        )
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
    # count_machines.go: defaultGuest = flag.GetMachineGuest(ctx, nil), used only when the
    # group has no machine to clone and fly.toml has no [[vm]].
    fallback_guest = guest_from_flags(p)
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
        template.get("env", {}).pop("FLY_STANDBY_FOR", None)
    else:
        # computeActions for a group without machines: defaults.ToMachineConfig, the
        # deployed config with each mount sized like the largest volume of its name
        # (1 GB if none), regions defaulting to primary_region.
        template = json.loads(json.dumps(latest["config"]))
        # ToMachineConfig: the [[vm]] guest of the deployed config, else (no machines, so
        # no guestPerGroup) the fallback guest.
        template["guest"] = dict(latest.get("vm_guest") or fallback_guest)
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
            # machine_defaults.go CreateVolumeRequest: the template mount's size and
            # encryption, unique zone when the region will hold more than one machine,
            # ComputeRequirements = the template's guest. SnapshotRetention and
            # AutoBackupEnabled are left nil: the API defaults, not fly.toml's [mounts].
            create = {
                "name": name,
                "size_gb": template["mounts"][0].get("size_gb", 0),
                "encrypted": template["mounts"][0].get("encrypted", False),
                "unique_zone": len(existing) + delta > 1,
                "compute": template["guest"],
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
                        compute=create["compute"],
                        encrypted=create["encrypted"],
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
            # count_machines.go destroyMachine: flaps Destroy with kill=true, not waited
            # for; the volume outlives the machine (flyctl#2547) but detaches later.
            sim.destroy_machine_without_wait(m)
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
        ("volumes", "update"),
        "update <volume id>",
        [APP, CONFIG, i("snapshot-retention"), b("scheduled-snapshots"), JSON],
        ("exact", 1),
        run_volumes_update,
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
        ("secrets", "unset"),
        "unset [flags] NAME NAME ...",
        [APP, CONFIG, b("detach"), b("stage"), b("dns-checks", default=True)],
        ("min", 1),
        run_secrets_unset,
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
    # internal/command/machine/machine.go (aliases machines, m), list.go (NoArgs, alias
    # ls), stop.go (ArbitraryArgs; --select is hidden but accepted).
    Command(
        ("machine", "list"),
        "list",
        [APP, CONFIG, JSON, b("quiet", "q")],
        ("none",),
        run_machine_list,
        ("ls",),
    ),
    Command(
        ("machine", "stop"),
        "stop [<id>...]",
        [
            APP,
            CONFIG,
            b("select"),
            s("signal", "s"),
            i("timeout"),
            Flag("wait-timeout", "duration", "w"),
        ],
        ("any",),
        run_machine_stop,
    ),
    # internal/command/ips/list.go, allocate.go (no Args set: cobra accepts any).
    Command(("ips", "list"), "list", [APP, CONFIG, JSON], ("any",), run_ips_list, ("ls",)),
    Command(
        ("ips", "allocate-v4"),
        "allocate-v4",
        [b("shared"), YES, APP, CONFIG, REGION],
        ("any",),
        run_ips_allocate_v4,
    ),
    Command(
        ("ips", "allocate-v6"),
        "allocate-v6",
        [APP, CONFIG, REGION, b("private"), ORG, s("network")],
        ("any",),
        run_ips_allocate_v6,
    ),
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
    # internal/command/extensions/tigris/*.go: `storage` (alias `tigris`). create and
    # list set no Args (cobra accepts any); status and destroy take at most one.
    Command(
        ("storage", "create"),
        "create",
        [
            APP,
            CONFIG,
            ORG,
            YES,
            s("shadow-access-key"),
            s("shadow-secret-key"),
            s("shadow-region"),
            s("shadow-endpoint"),
            s("shadow-name"),
            b("shadow-write-through"),
            b("accelerate"),
            s("website-domain-name"),
            b("public", "p"),
            s("name", "n"),
        ],
        ("any",),
        run_storage_create,
    ),
    Command(("storage", "list"), "list", [ORG, YES], ("any",), run_storage_list, ("ls",)),
    Command(
        ("storage", "status"),
        "status [name]",
        [APP, CONFIG, YES],
        ("max", 1),
        run_storage_status,
    ),
    Command(
        ("storage", "destroy"),
        "destroy [storage-bucket-name]",
        [APP, CONFIG, YES],
        ("max", 1),
        run_storage_destroy,
    ),
]
# Parent command aliases (apps.go, volumes.go, ips.go, extensions/tigris/tigris.go,
# machine/machine.go);
# `secrets`, `deploy`, `scale` have none.
PARENT_ALIASES = {
    "app": "apps",
    "volume": "volumes",
    "vol": "volumes",
    "v": "volumes",
    "ip": "ips",
    "tigris": "storage",
    "machines": "machine",
    "m": "machine",
}
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
        settle_stopping_machines(state)
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
        call["log_file"] = write_log_file(sim)
        call["log_file_has_secrets"] = bool(sim.debug_lines)
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
            "ips": [],
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


def ips(path: str | os.PathLike, app: str) -> list[dict]:
    """The app's IP addresses, oldest first: {id, address, type (v4 | shared_v4 | v6 |
    private_v6), region, network, created_at}. Empty for an app that does not exist."""
    record = load_state(path)["apps"].get(app) or {}
    return sorted(record.get("ips", []), key=lambda ip: ip["seq"])


def buckets(
    path: str | os.PathLike, *, org: str | None = None, app: str | None = None
) -> list[dict]:
    """Tigris buckets, oldest first: {name, org, app (None when attached to no app),
    status, options, environment (the credentials flyctl printed), created_at, seq};
    a bucket whose app was destroyed also has former_app."""
    found = [
        bk
        for bk in load_state(path).get("buckets", {}).values()
        if (org is None or bk["org"] == org) and (app is None or bk["app"] == app)
    ]
    return sorted(found, key=lambda bk: bk["seq"])


def agree_to_tos(path: str | os.PathLike, provider: str = "tigris") -> None:
    """Record that the token's user agreed to a provider's terms (an interactive
    `fly ext ... create` would have called CreateTosAgreement)."""
    with edit_state(path) as state:
        agreed = state.setdefault("tos_agreed", [])
        if provider not in agreed:
            agreed.append(provider)


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
    # flyctl keeps its config and log files under ~/.fly: a home of the simulated account's
    # own, so no test writes to the real one.
    env["HOME"] = str(Path(state_path).with_name(Path(state_path).stem + "-home"))
    env.pop("FLY_CONFIG_DIR", None)
    if token is not None:
        env["FLY_API_TOKEN"] = token
    return env


__all__ = [
    "FLY_EXECUTABLE",
    "agree_to_tos",
    "app_record",
    "buckets",
    "calls",
    "inject_failure",
    "ips",
    "load_state",
    "machines",
    "main",
    "parse_secrets",
    "seed_app",
    "seed_org",
    "sim_env",
    "volumes",
]
