"""Shell scripts that drive flyctl, one pure function per Fly operation.

Each function returns `/bin/sh -c` text for a pulumi_command `local.Command`
(create/update/delete). The scripts are POSIX sh (dash), need no jq, and never put a
secret in argv: flyctl reads its token from FLY_API_TOKEN in the inherited environment,
and secret values travel on stdin. Every script names the app with `-a` (or as the
positional app name where flyctl takes one) so that neither a fly.toml in the working
directory nor $FLY_APP can redirect it (internal/command/command.go RequireAppName reads
both when `-a` is absent).

Behaviour is taken from flyctl's source (github.com/superfly/flyctl, internal/command/...);
each docstring names the file. JSON from flyctl comes from internal/render/render.go JSON:
Go's encoder with a 4-space indent, one field per line, which is what the line-based
parsing below relies on.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

__all__ = [
    "VolumeSpec",
    "app_create",
    "app_destroy",
    "deploy",
    "public_ips",
    "region_volumes_destroy",
    "scale_count",
    "secrets_import",
    "secrets_stdin",
    "volumes_ensure",
]

# Fly app names: lowercase letters, digits and dashes. Org slugs look the same.
_APP_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_ORG_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_REGION = re.compile(r"[a-z]{3}")
# Fly volume names: lowercase letters, digits and underscores, at most 30 characters.
_VOLUME_NAME = re.compile(r"[a-z0-9_]{1,30}")
_SECRET_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# fly-go machine_types.go MachinePresets names, e.g. shared-cpu-1x, performance-2x.
_VM_SIZE = re.compile(r"(shared-cpu|performance)-\d+x")
# internal/command/deploy/deploy.go parseDurationFlag: Go duration or whole seconds.
_DURATION = re.compile(r"\d+|(\d+(\.\d+)?(ns|us|ms|s|m|h))+")
# internal/appconfig/validation.go: canary is refused when [mounts] is set, and the
# database always mounts a volume.
DEPLOY_STRATEGIES = ("rolling", "immediate", "bluegreen")

q = shlex.quote


def _check(value: str, pattern: re.Pattern[str], what: str) -> str:
    if not pattern.fullmatch(value):
        raise ValueError(f"invalid {what}: {value!r}")
    return value


def _script(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def _if_succeeds(command: str) -> str:
    """`if` line that runs COMMAND with stdout passed through and stderr kept in $err, so the
    script can decide whether a failure is one that counts as done (needs `exec 3>&1`)."""
    return f"if err=$({command} 2>&1 1>&3 3>&-); then"


# Prints "ID SIZE_GB RETENTION_DAYS ATTACHED_MACHINE" (machine "-" when detached) for each
# volume named $1 in region $2, from `volumes list --json` on stdin. The array holds flat
# objects (fly-go volume_types.go Volume), so a closing brace ends one volume.
_MATCHING_VOLUMES_AWK = r"""
function str(s) { sub(/^[^:]*: "/, "", s); sub(/",?[ \t\r]*$/, "", s); return s }
function num(s) { sub(/^[^:]*: /, "", s); sub(/,?[ \t\r]*$/, "", s); return s + 0 }
/^[ \t]*"id": "/ { id = str($0) }
/^[ \t]*"name": "/ { nm = str($0) }
/^[ \t]*"region": "/ { rg = str($0) }
/^[ \t]*"size_gb": / { sz = num($0) }
/^[ \t]*"snapshot_retention": / { keep = num($0) }
/^[ \t]*"attached_machine_id": "/ { on = str($0) }
/^[ \t]*}/ {
  if (id != "" && nm == want_name && rg == want_region) print id, sz, keep, (on == "" ? "-" : on)
  id = ""; nm = ""; rg = ""; sz = 0; keep = 0; on = ""
}
""".strip()

_MATCHING_VOLUMES_FN = (
    "matching_volumes() {\n"
    '  awk -v want_name="$1" -v want_region="$2" \'\n'
    f"{_MATCHING_VOLUMES_AWK}\n"
    "'\n"
    "}"
)


def app_create(flyctl: str, app: str, org: str) -> str:
    """Create APP in ORG, or adopt it when it already exists in ORG.

    `apps create APP --org ORG` (internal/command/apps/create.go). App names are global:
    a taken name fails with "Validation failed: Name has already been taken" and fly-go's
    name_taken suggestion (fly-go flaps/flaps_error.go). On any failure the script looks
    the name up in `apps list --org ORG --json` (internal/command/apps/list.go; fly.App has
    no json tags, so the app's own `"Name"` sits at 8 spaces, its organization's at 12):
    found means the app is ours (taken earlier, or created before a later step failed), so
    it is adopted; otherwise a taken name belongs to another organization and the script
    fails saying so; any other error is passed on.
    """
    _check(app, _APP_NAME, "app name")
    _check(org, _ORG_SLUG, "org slug")
    fly, a, o = q(flyctl), q(app), q(org)
    listed_line = q(f'        "Name": "{app}",')
    return _script(
        "set -u",
        "exec 3>&1",
        _if_succeeds(f"{fly} apps create {a} --org {o}"),
        '  [ -z "$err" ] || printf \'%s\\n\' "$err" >&2',
        "  exit 0",
        "fi",
        f"if ! apps=$({fly} apps list --org {o} --json); then",
        "  printf '%s\\n' \"$err\" >&2",
        "  exit 1",
        "fi",
        f"if printf '%s\\n' \"$apps\" | grep -qxF {listed_line}; then",
        f"  echo {q(f'adopting existing app {app} in org {org}')}",
        "  exit 0",
        "fi",
        "printf '%s\\n' \"$err\" >&2",
        "case $err in",
        "  *'already been taken'*|*'App names are unique'*)",
        "    echo "
        + q(f"app name {app} belongs to another organization, not {org}: choose another app name")
        + " >&2",
        "    ;;",
        "esac",
        "exit 1",
    )


def app_destroy(flyctl: str, app: str) -> str:
    """Destroy APP; an app that is already gone counts as destroyed.

    `apps destroy APP --yes` (internal/command/apps/destroy.go: the app is positional,
    there is no -a; without --yes a non-interactive run fails). A missing app fails in
    GetApp with `Could not find App "APP"`, which is the only error treated as success.
    """
    _check(app, _APP_NAME, "app name")
    fly, a = q(flyctl), q(app)
    return _script(
        "set -u",
        "exec 3>&1",
        _if_succeeds(f"{fly} apps destroy {a} --yes"),
        '  [ -z "$err" ] || printf \'%s\\n\' "$err" >&2',
        "  exit 0",
        "fi",
        "case $err in",
        f"  *'Could not find App'*) echo {q(f'app {app} is already gone')}; exit 0 ;;",
        "esac",
        "printf '%s\\n' \"$err\" >&2",
        "exit 1",
    )


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


def _wait_while(condition: str, what: str, timeout_s: int) -> tuple[str, ...]:
    """Lines that poll `volumes list` (into $vols and $matches) once a second while the
    shell CONDITION holds, for at most TIMEOUT_S seconds, then fail naming WHAT."""
    return (
        "tries=0",
        "while :; do",
        "  list_volumes || exit 1",
        f"  {condition} || break",
        f'  if [ "$tries" -ge {int(timeout_s)} ]; then',
        f'    echo "{what} after {int(timeout_s)}s; run the step again once they have:" >&2',
        '    printf \'%s\\n\' "$matches" | awk \'NF && $4 != "-" '
        '{ print "  " $1 " attached to machine " $4 }\' >&2',
        "    exit 1",
        "  fi",
        '  [ "$tries" -gt 0 ] || echo "waiting for machines to let go of their volumes" >&2',
        "  tries=$((tries + 1))",
        "  sleep 1",
        "done",
    )


def _list_volumes_fn(fly: str, app: str, name: str, region: str) -> str:
    """`list_volumes`: sets $matches to this name's volumes in this region (see
    _MATCHING_VOLUMES_AWK); an app that is gone has none (sets $app_gone)."""
    a = q(app)
    return "\n".join(
        (
            _MATCHING_VOLUMES_FN,
            "# shellcheck disable=SC2034 # app_gone: not every script asks",
            "list_volumes() {",
            f"  if ! vols=$({fly} volumes list -a {a} --json 2>&1); then",
            "    case $vols in",
            "      *'Could not find App'*) app_gone=1; matches=''; return 0 ;;",
            "    esac",
            "    printf '%s\\n' \"$vols\" >&2",
            "    return 1",
            "  fi",
            f"  matches=$(printf '%s\\n' \"$vols\" | matching_volumes {q(name)} {q(region)})",
            "}",
        )
    )


def _destroy_volumes(fly: str, app: str, ids: str) -> tuple[str, ...]:
    """Destroy each volume id in the shell word list IDS; one that is already gone is done.

    `volumes destroy ID -a APP --yes` (internal/command/volumes/destroy.go). The app is
    required: without -a, flyctl looks the volume up over GraphQL first, which fails with
    "Could not find Volume with id" (superfly/flyctl#4663). `volumes list` hides destroyed
    volumes (fly-go flaps_volumes.go), so an id no longer listed is gone."""
    a = q(app)
    return (
        f"for id in {ids}; do",
        "  " + _if_succeeds(f'{fly} volumes destroy "$id" -a {a} --yes'),
        "    continue",
        "  fi",
        "  if list_volumes &&",
        "    ! printf '%s\\n' \"$matches\" | cut -d' ' -f1 | grep -qxF \"$id\"; then",
        '    echo "volume $id is already gone"',
        "    continue",
        "  fi",
        "  printf '%s\\n' \"$err\" >&2",
        "  exit 1",
        "done",
    )


def volumes_ensure(flyctl: str, app: str, spec: VolumeSpec, region: str, count: int) -> str:
    """Make REGION hold at least COUNT volumes as SPEC says; converges when re-run.

    Lists `volumes list -a APP --json`; refuses before changing anything if a volume is
    bigger than SPEC ("volumes cannot shrink"); creates the missing ones with `volumes
    create NAME -a APP --region R --size N --snapshot-retention D --vm-size S --vm-memory M
    --count K --yes --json` (internal/command/volumes/create.go: --yes skips the "pinned to
    a host" prompt, which fails when not interactive; the vm flags become the request's
    ComputeRequirements via flag.GetMachineGuest, so the volume lands on a host that fits
    the machine, where without them it is placed for the default shared-cpu-1x); grows
    smaller ones with `volumes extend ID -a APP --size N` (extend.go; never prompts) and
    sets a different retention with `volumes update ID -a APP --snapshot-retention D`
    (update.go). Every volume is ours to make: `scale count` would size new ones from the
    cloned machine's mount and leave their retention to the API (scale/machine_defaults.go),
    so replica regions get theirs here first and `scale count` only reuses them.
    """
    _check(app, _APP_NAME, "app name")
    _check(region, _REGION, "region")
    if count < 1:
        raise ValueError("a region holds at least one volume")
    fly, a, s = q(flyctl), q(app), spec
    n, keep = int(s.size_gb), int(s.snapshot_retention_days)
    create = (
        f"{fly} volumes create {q(s.name)} -a {a} --region {q(region)} --size {n} "
        f"--snapshot-retention {keep} --vm-size {q(s.vm_size)} --vm-memory {int(s.vm_memory_mb)}"
        ' --count "$missing" --yes --json'
    )
    return _script(
        "set -u",
        _list_volumes_fn(fly, app, s.name, region),
        "list_volumes || exit 1",
        'if [ -n "${app_gone:-}" ]; then',
        f"  echo {q(f'app {app} does not exist')} >&2",
        "  exit 1",
        "fi",
        "shrink=$(printf '%s\\n' \"$matches\" | awk -v n="
        + str(n)
        + ' \'$2 > n { printf "volumes cannot shrink: %s is %s GB, asked for %s GB\\n",'
        " $1, $2, n; exit }')",
        'if [ -n "$shrink" ]; then',
        "  printf '%s\\n' \"$shrink\" >&2",
        "  exit 1",
        "fi",
        f"missing=$(printf '%s\\n' \"$matches\" | awk -v want={int(count)} "
        "'NF { have++ } END { print want - have }')",
        'if [ "$missing" -gt 0 ]; then',
        f"  {create} >/dev/null || exit $?",
        f'  echo "created $missing volume(s) {s.name} in {region}" >&2',
        "fi",
        f"smaller=$(printf '%s\\n' \"$matches\" | awk -v n={n} 'NF && $2 < n {{ print $1 }}')",
        "for id in $smaller; do",
        f'  {fly} volumes extend "$id" -a {a} --size {n} >&2 || exit $?',
        "done",
        f"other=$(printf '%s\\n' \"$matches\" | awk -v d={keep} 'NF && $3 != d {{ print $1 }}')",
        "for id in $other; do",
        f'  {fly} volumes update "$id" -a {a} --snapshot-retention {keep} >/dev/null || exit $?',
        f'  echo "volume $id keeps snapshots {keep} days" >&2',
        "done",
        "echo "
        + q(
            f"{s.name} in {region}: {count} x {n} GB, snapshots kept {keep} days, "
            f"placed for {s.vm_size} with {s.vm_memory_mb} MB"
        ),
    )


def region_volumes_destroy(
    flyctl: str, app: str, name: str, region: str, *, detach_timeout_s: int = 120
) -> str:
    """Destroy every volume named NAME in REGION once no machine holds it.

    Run after the region is scaled to 0: `scale count` destroys machines without waiting
    (internal/command/scale/count_machines.go destroyMachine), and a volume stays "bound to
    machine" until its machine is gone, so the script waits (bounded) for every volume to
    detach, then destroys them (see _destroy_volumes). A missing app means its volumes are
    gone too. In replica regions the set is larger than one volume: volumes_ensure makes one
    per machine.
    """
    _check(app, _APP_NAME, "app name")
    _check(name, _VOLUME_NAME, "volume name")
    _check(region, _REGION, "region")
    fly = q(flyctl)
    return _script(
        "set -u",
        "exec 3>&1",
        _list_volumes_fn(fly, app, name, region),
        *_wait_while(
            '[ -n "$(printf \'%s\\n\' "$matches" | awk \'NF && $4 != "-"\')" ]',
            f"volumes {name} in {region} are still attached to machines",
            detach_timeout_s,
        ),
        'if [ -n "${app_gone:-}" ]; then',
        f"  echo {q(f'app {app} is gone')}",
        "  exit 0",
        "fi",
        *_destroy_volumes(fly, app, "$(printf '%s\\n' \"$matches\" | cut -d' ' -f1)"),
    )


def secrets_import(flyctl: str, app: str) -> str:
    """Stage secrets read from stdin (NAME=VALUE lines, see secrets_stdin).

    `secrets import -a APP --stage` (internal/command/secrets/import.go, secrets.go):
    --stage sets the secrets without restarting machines; the next deploy applies them.
    """
    _check(app, _APP_NAME, "app name")
    return _script(f"{q(flyctl)} secrets import -a {q(app)} --stage")


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


def deploy(flyctl: str, app: str, build_dir: str, strategy: str, wait_timeout: str) -> str:
    """Build BUILD_DIR remotely and deploy it to APP.

    `deploy DIR -a APP --config DIR/fly.toml --dockerfile DIR/Dockerfile --remote-only
    --ha=false --strategy S --wait-timeout T --yes` (internal/command/deploy/deploy.go).
    flyctl first changes into the positional directory
    (command.go ChangeWorkingDirectoryToFirstArgIfPresent) and only then resolves relative
    --config and --dockerfile paths (deploy_build.go resolveDockerfilePath), so the script
    makes BUILD_DIR absolute first. --ha is a bool flag: it takes its value only as
    `--ha=false` (spf13/pflag). --ha=false keeps one machine for the group; with [mounts]
    flyctl creates one anyway. canary is refused with mounts
    (internal/appconfig/validation.go), so only rolling, immediate and bluegreen are
    accepted. --yes answers confirmations; deploy's remaining prompts (detaching a volume)
    fail when not interactive whatever the flag says.
    """
    _check(app, _APP_NAME, "app name")
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
    fly = q(flyctl)
    return _script(
        "set -u",
        f"build_dir=$(CDPATH='' cd {q(build_dir)} && pwd -P) || exit 1",
        f'exec {fly} deploy "$build_dir" -a {q(app)} --config "$build_dir/fly.toml"'
        ' --dockerfile "$build_dir/Dockerfile" --remote-only --ha=false'
        f" --strategy {q(strategy)} --wait-timeout {q(wait_timeout)} --yes",
    )


def scale_count(
    flyctl: str,
    app: str,
    region: str,
    count: int,
    *,
    volume_name: str | None = None,
    detach_timeout_s: int = 120,
) -> str:
    """Set the number of machines in REGION to COUNT.

    `scale count N --region R -a APP --yes` (internal/command/scale/count.go,
    count_machines.go: N is the total across the listed regions; new machines clone the
    deployed config and reuse unattached volumes in R before creating new ones). Without
    --yes a non-interactive run fails.

    Machines removed leave their volumes, and `scale count` does not wait for them to go
    (count_machines.go destroyMachine). With VOLUME_NAME, once at most COUNT volumes of that
    name in R are still attached (bounded wait), the unattached ones are destroyed, so the
    region keeps one volume per machine.

    COUNT 0 is a delete script: there an app that is gone, or one never deployed ("this app
    has no complete releases"), already has no machines and counts as done.
    """
    _check(app, _APP_NAME, "app name")
    _check(region, _REGION, "region")
    if count < 0:
        raise ValueError("machine count cannot be negative")
    fly = q(flyctl)
    command = f"{fly} scale count {int(count)} --region {q(region)} -a {q(app)} --yes"
    if count > 0 and volume_name is None:
        return _script(command)
    if count > 0:
        _check(volume_name, _VOLUME_NAME, "volume name")
        attached = "awk 'NF && $4 != \"-\" { n++ } END { print n + 0 }'"
        return _script(
            "set -u",
            "exec 3>&1",
            f"{command} || exit $?",
            _list_volumes_fn(fly, app, volume_name, region),
            *_wait_while(
                f'[ "$(printf \'%s\\n\' "$matches" | {attached})" -gt {int(count)} ]',
                f"more than {int(count)} volumes {volume_name} in {region} are still attached",
                detach_timeout_s,
            ),
            *_destroy_volumes(
                fly, app, "$(printf '%s\\n' \"$matches\" | awk 'NF && $4 == \"-\" { print $1 }')"
            ),
        )
    return _script(
        "set -u",
        "exec 3>&1",
        _if_succeeds(command),
        '  [ -z "$err" ] || printf \'%s\\n\' "$err" >&2',
        "  exit 0",
        "fi",
        "case $err in",
        "  *'Could not find App'*|*'has no complete releases'*)",
        f"    echo {q(f'app {app} has no machines in {region}')}",
        "    exit 0",
        "    ;;",
        "esac",
        "printf '%s\\n' \"$err\" >&2",
        "exit 1",
    )


def public_ips(flyctl: str, app: str) -> str:
    """Give APP a public IPv6 and a shared IPv4 unless it has them; converges when re-run.

    `fly deploy` allocates them itself only when every service is HTTP on 80 or TLS+HTTP on
    443 (internal/appconfig/config.go DetermineIPType). Our TLS port (5000) makes it
    "dedicated": deploy_first.go provisionIpsOnFirstDeploy then asks a question, which fails
    when not interactive, prints the error, carries on, and the app is left with no address
    at all. Fly's docs (networking/services, "Shared IPv4") say a shared IPv4 serves TCP
    ports other than 80 and 443 through the TLS handler, which ours uses, so v6 plus shared
    v4 serve both https://APP.fly.dev and libsql://APP.fly.dev:5000. Run before the first
    deploy, which then leaves IPs alone ("Do not touch IPs if there are already allocated").

    `ips list -a APP --json` (internal/command/ips/list.go) renders fly-go's IPAddress with
    Go field names (`"Type": "v6"`; the shared address is listed as "shared_v4"); then
    `ips allocate-v6 -a APP` and `ips allocate-v4 --shared -a APP` (ips/allocate.go: only
    a dedicated v4 asks for confirmation).
    """
    _check(app, _APP_NAME, "app name")
    fly, a = q(flyctl), q(app)
    return _script(
        "set -u",
        f"ips=$({fly} ips list -a {a} --json) || exit $?",
        "case $ips in",
        '  *\'"Type": "v6"\'*) ;;',
        f"  *) {fly} ips allocate-v6 -a {a} >&2 || exit $? ;;",
        "esac",
        "case $ips in",
        '  *\'"Type": "v4"\'*|*\'"Type": "shared_v4"\'*) ;;',
        f"  *) {fly} ips allocate-v4 --shared -a {a} >&2 || exit $? ;;",
        "esac",
        f"echo {q(f'{app} has a public IPv6 and an IPv4')}",
    )
