"""Which flyctl script runs with which values: one function per Fly operation.

The scripts are files, one per operation, in infra/flyctl/ (`app-create.sh`, `volumes-ensure.sh`,
...): POSIX sh (dash), no jq, each citing the flyctl source that decides what it does. They read
their values from environment variables, which the Command passes in `environment`, so state
holds the script and its values apart. A Command's create/delete is the script's full text, not
a path: pulumi-command runs the delete stored in state, whatever the checkout holds then.

Values are validated here before any script exists. No secret ever reaches argv: flyctl reads
its token from FLY_API_TOKEN in the inherited environment and secret values travel on stdin.
Every script names the app with `-a` (or as the positional name where flyctl takes one), so
neither a fly.toml in the working directory nor $FLY_APP can redirect it (internal/command/
command.go RequireAppName reads both when `-a` is absent); no value is named FLY_*, which
flyctl would read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "FlyScript",
    "VolumeSpec",
    "app_create",
    "app_destroy",
    "command",
    "deploy",
    "public_ips",
    "scale_count",
    "scale_to_zero",
    "secrets_import",
    "secrets_stdin",
    "storage_destroy",
    "storage_ensure",
    "volumes_destroy",
    "volumes_ensure",
]

SCRIPTS = Path(__file__).with_name("flyctl")
# Shell functions some scripts share; they are put before the script's own text.
LIBRARIES = {
    "secrets-import.sh": ("private.sh",),
    "storage-ensure.sh": ("private.sh", "tigris.sh"),
    "storage-destroy.sh": ("tigris.sh",),
    "volumes-ensure.sh": ("volumes.sh",),
    "volumes-destroy.sh": ("volumes.sh",),
    "scale-count.sh": ("volumes.sh",),
}
# How long a script waits for machines that `scale count` removed to let go of their volumes.
DETACH_TIMEOUT_S = 120

# Fly app names: lowercase letters, digits and dashes. Org slugs look the same.
_APP_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_ORG_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_REGION = re.compile(r"[a-z]{3}")
# Fly volume names: lowercase letters, digits and underscores, at most 30 characters.
_VOLUME_NAME = re.compile(r"[a-z0-9_]{1,30}")
_SECRET_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Tigris bucket names: 3-63 lowercase letters, digits, dots and dashes.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
# fly-go machine_types.go MachinePresets names, e.g. shared-cpu-1x, performance-2x.
_VM_SIZE = re.compile(r"(shared-cpu|performance)-\d+x")
# internal/command/deploy/deploy.go parseDurationFlag: Go duration or whole seconds.
_DURATION = re.compile(r"\d+|(\d+(\.\d+)?(ns|us|ms|s|m|h))+")
# internal/appconfig/validation.go: canary is refused when [mounts] is set, and the
# database always mounts a volume.
DEPLOY_STRATEGIES = ("rolling", "immediate", "bluegreen")


def _check(value: str, pattern: re.Pattern[str], what: str) -> str:
    if not pattern.fullmatch(value):
        raise ValueError(f"invalid {what}: {value!r}")
    return value


@dataclass(frozen=True)
class FlyScript:
    """One operation's script (a file in infra/flyctl/) and the values it runs with."""

    name: str
    env: Mapping[str, str]

    @property
    def text(self) -> str:
        parts = [*LIBRARIES.get(self.name, ()), self.name]
        return "\n".join((SCRIPTS / part).read_text() for part in parts)


def _script(name: str, flyctl: str, app: str, **values: Any) -> FlyScript:
    _check(app, _APP_NAME, "app name")
    if not flyctl:
        raise ValueError("the flyctl executable is empty")
    env = {"FLYCTL": flyctl, "APP_NAME": app}
    env.update({key.upper(): str(value) for key, value in values.items()})
    return FlyScript(name, env)


def command(
    create: FlyScript, delete: FlyScript | None = None, **environment: Any
) -> dict[str, Any]:
    """`local.Command` arguments: both scripts' text, and one environment for both (delete
    runs with the environment stored at create), plus any more values."""
    env: dict[str, Any] = dict(create.env)
    for key, value in (delete.env if delete else {}).items():
        if env.setdefault(key, value) != value:
            raise ValueError(f"{create.name} and {delete.name} need different {key}")
    env.update(environment)
    return {"create": create.text, "delete": delete.text if delete else None, "environment": env}


def app_create(flyctl: str, app: str, org: str) -> FlyScript:
    """Create APP in ORG, or adopt it when it is already ours (app-create.sh)."""
    return _script("app-create.sh", flyctl, app, org=_check(org, _ORG_SLUG, "org slug"))


def app_destroy(flyctl: str, app: str) -> FlyScript:
    """Destroy APP; gone counts as destroyed (app-destroy.sh)."""
    return _script("app-destroy.sh", flyctl, app)


def public_ips(flyctl: str, app: str) -> FlyScript:
    """A public IPv6 and a shared IPv4 unless the app has them (public-ips.sh)."""
    return _script("public-ips.sh", flyctl, app)


def storage_ensure(flyctl: str, app: str, bucket: str) -> FlyScript:
    """Make the app's Tigris bucket, or adopt the one it has (storage-ensure.sh)."""
    bucket = _check(bucket, _BUCKET, "bucket name")
    return _script("storage-ensure.sh", flyctl, app, tigris_bucket=bucket)


def storage_destroy(flyctl: str, app: str, bucket: str) -> FlyScript:
    """Destroy the app's Tigris bucket and unset its secrets (storage-destroy.sh)."""
    bucket = _check(bucket, _BUCKET, "bucket name")
    return _script("storage-destroy.sh", flyctl, app, tigris_bucket=bucket)


@dataclass(frozen=True)
class VolumeSpec:
    """What every volume of the database is, in every region: its name, size, how long Fly
    keeps its daily snapshots, and the machine it must be placed for."""

    name: str
    size_gb: int
    snapshot_retention_days: int
    vm_size: str
    vm_memory_mb: int

    def __post_init__(self) -> None:
        _check(self.name, _VOLUME_NAME, "volume name")
        _check(self.vm_size, _VM_SIZE, "machine size")
        if self.size_gb < 1 or self.snapshot_retention_days < 1 or self.vm_memory_mb < 1:
            raise ValueError("volume size, snapshot retention and memory must be at least 1")


def volumes_ensure(flyctl: str, app: str, spec: VolumeSpec, region: str, count: int) -> FlyScript:
    """At least COUNT volumes in REGION as SPEC says: made, grown or re-tagged
    (volumes-ensure.sh); a bigger one is refused before anything changes."""
    if count < 1:
        raise ValueError("a region holds at least one volume")
    return _script(
        "volumes-ensure.sh", flyctl, app,
        region=_check(region, _REGION, "region"), machine_count=int(count),
        volume_name=spec.name, volume_size_gb=int(spec.size_gb),
        snapshot_retention_days=int(spec.snapshot_retention_days),
        vm_size=spec.vm_size, vm_memory_mb=int(spec.vm_memory_mb),
        detach_timeout_s=DETACH_TIMEOUT_S,
    )  # fmt: skip


def volumes_destroy(
    flyctl: str, app: str, name: str, region: str, *, detach_timeout_s: int = DETACH_TIMEOUT_S
) -> FlyScript:
    """Every volume NAME in REGION, once no machine holds it (volumes-destroy.sh)."""
    return _script(
        "volumes-destroy.sh", flyctl, app,
        volume_name=_check(name, _VOLUME_NAME, "volume name"),
        region=_check(region, _REGION, "region"), detach_timeout_s=int(detach_timeout_s),
    )  # fmt: skip


def scale_count(
    flyctl: str, app: str, region: str, count: int, volume_name: str,
    *, detach_timeout_s: int = DETACH_TIMEOUT_S,
) -> FlyScript:  # fmt: skip
    """COUNT machines in REGION, one volume each (scale-count.sh)."""
    if count < 1:
        raise ValueError("a scaled region runs at least one machine (scale_to_zero stops it)")
    return _script(
        "scale-count.sh", flyctl, app,
        region=_check(region, _REGION, "region"), machine_count=int(count),
        volume_name=_check(volume_name, _VOLUME_NAME, "volume name"),
        detach_timeout_s=int(detach_timeout_s),
    )  # fmt: skip


def scale_to_zero(flyctl: str, app: str, region: str) -> FlyScript:
    """No machine in REGION; an app gone or never deployed has none (scale-to-zero.sh)."""
    return _script("scale-to-zero.sh", flyctl, app, region=_check(region, _REGION, "region"))


def secrets_import(flyctl: str, app: str) -> FlyScript:
    """Stage the secrets on stdin, NAME=VALUE lines from secrets_stdin (secrets-import.sh)."""
    return _script("secrets-import.sh", flyctl, app)


def _parse_like_flyctl(text: str) -> dict[str, str] | None:
    """internal/command/secrets/parser.go parseSecrets, to prove a round trip.

    Returns None where flyctl would fail, panic, or silently stop reading (bufio.Scanner
    gives up on a line of 64 KiB or more and the parser never checks scanner.Err())."""
    secrets: dict[str, str] = {}
    multiline, key, buf = False, "", []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for raw in lines:
        if len(raw.encode()) >= 64 * 1024:
            return None
        line = raw[:-1] if raw.endswith("\r") else raw
        if multiline:
            if line.endswith('"""'):
                secrets[key] = "".join(buf) + line[:-3]
                multiline = False
            else:
                buf.append(line + "\n")
            continue
        if line.startswith("#") or not line.strip():
            continue
        name, sep, value = line.partition("=")
        if not sep:
            return None
        name, value = name.strip(), value.lstrip(" ")
        before, hashed, _ = value.partition("#")
        if hashed and before.count('"') % 2 == 0:
            value = before.rstrip(" ")
        if value.startswith('"""') and value.endswith('"""') and len(value) >= 6:
            secrets[name] = value[3:-3]
        elif value.startswith('"""'):
            multiline, key, buf = True, name, [value[3:] + "\n"]
        else:
            if value[:1] in ('"', "'") and value.endswith(value[:1]):
                if len(value) < 2:
                    return None
                value = value[1:-1]
            secrets[name] = value
    return None if multiline else secrets


def secrets_stdin(secrets: dict[str, str]) -> str:
    r'''Format secrets as the stdin of `flyctl secrets import`.

    One `NAME="""VALUE"""` entry per secret, sorted by name; a value with newlines spans
    lines between the triple quotes (PEM keys). The result is parsed back with a port of
    flyctl's parser (internal/command/secrets/parser.go); if a value cannot survive it
    (for example a line ending in three quotes, or a carriage return before a newline),
    the next quoting is tried, and failing all, ValueError names the secret, never its
    value.
    '''
    if not secrets:
        raise ValueError("flyctl secrets import needs at least one secret")
    entries = []
    for name in sorted(secrets):
        value = secrets[name]
        if not _SECRET_NAME.fullmatch(name):
            raise ValueError(f"invalid secret name: {name!r}")
        for form in (f'"""{value}"""', f'"{value}"', f"'{value}'", value):
            entry = f"{name}={form}"
            if _parse_like_flyctl(entry + "\n") == {name: value}:
                entries.append(entry)
                break
        else:
            raise ValueError(f"secret {name} cannot be written in flyctl's import format")
    text = "\n".join(entries) + "\n"
    if _parse_like_flyctl(text) != dict(secrets):
        raise ValueError("secrets do not survive flyctl's import format together")
    return text


def deploy(
    flyctl: str, app: str, build_dir: str, strategy: str, wait_timeout: str,
    primary_region: str, kill_timeout_s: int,
) -> FlyScript:  # fmt: skip
    """Build BUILD_DIR remotely and deploy it, moving the primary to primary_region first when
    it runs elsewhere (deploy.sh). canary is refused with mounts
    (internal/appconfig/validation.go), so only rolling, immediate and bluegreen are taken."""
    _check(primary_region, _REGION, "region")
    if kill_timeout_s < 1:
        raise ValueError("kill timeout must be at least 1 second")
    if strategy not in DEPLOY_STRATEGIES:
        raise ValueError(
            f"deploy strategy {strategy!r} is not one of {', '.join(DEPLOY_STRATEGIES)} "
            "(canary is refused when the app mounts a volume)"
        )
    wait_timeout = str(wait_timeout)
    _check(wait_timeout, _DURATION, "wait timeout (Go duration such as 5m, or seconds)")
    if not build_dir:
        raise ValueError("build_dir is empty")
    if build_dir.startswith("-"):
        build_dir = "./" + build_dir  # so cd cannot read it as an option
    return _script(
        "deploy.sh", flyctl, app,
        build_dir=build_dir, deploy_strategy=strategy, deploy_wait_timeout=wait_timeout,
        primary_region=primary_region, kill_timeout_s=kill_timeout_s,
    )  # fmt: skip
