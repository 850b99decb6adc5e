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

__all__ = [
    "app_create",
    "app_destroy",
    "deploy",
    "region_volumes_destroy",
    "scale_count",
    "secrets_import",
    "secrets_stdin",
    "volume_create",
    "volume_destroy_by_id",
    "volumes_resize",
]

# Fly app names: lowercase letters, digits and dashes. Org slugs look the same.
_APP_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_ORG_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_REGION = re.compile(r"[a-z]{3}")
# Fly volume names: lowercase letters, digits and underscores, at most 30 characters.
_VOLUME_NAME = re.compile(r"[a-z0-9_]{1,30}")
_SECRET_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
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


# Prints "ID SIZE_GB" for each volume named $1 in region $2, from `volumes list --json`
# on stdin. The array holds flat objects (fly-go volume_types.go Volume), so a closing
# brace ends one volume.
_MATCHING_VOLUMES_AWK = r"""
function str(s) { sub(/^[^:]*: "/, "", s); sub(/",?[ \t\r]*$/, "", s); return s }
function num(s) { sub(/^[^:]*: /, "", s); sub(/,?[ \t\r]*$/, "", s); return s + 0 }
/^[ \t]*"id": "/ { id = str($0) }
/^[ \t]*"name": "/ { nm = str($0) }
/^[ \t]*"region": "/ { rg = str($0) }
/^[ \t]*"size_gb": / { sz = num($0) }
/^[ \t]*}/ {
  if (id != "" && nm == want_name && rg == want_region) print id, sz
  id = ""; nm = ""; rg = ""; sz = 0
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


def volume_create(
    flyctl: str, app: str, name: str, region: str, size_gb: int, snapshot_retention_days: int
) -> str:
    """Create one volume and print only its id on stdout.

    `volumes create NAME -a APP --region R --size N --snapshot-retention D --yes --json`
    (internal/command/volumes/create.go: --yes skips the "pinned to a host" prompt, which
    fails when not interactive; --require-unique-zone defaults to true; --count defaults
    to 1; the JSON is fly-go's Volume). Pulumi keeps stdout, so the delete script can read
    the id back from $PULUMI_COMMAND_STDOUT.
    """
    _check(app, _APP_NAME, "app name")
    _check(name, _VOLUME_NAME, "volume name")
    _check(region, _REGION, "region")
    if size_gb < 1 or snapshot_retention_days < 1:
        raise ValueError("volume size and snapshot retention must be at least 1")
    fly = q(flyctl)
    create = (
        f"{fly} volumes create {q(name)} -a {q(app)} --region {q(region)} "
        f"--size {int(size_gb)} --snapshot-retention {int(snapshot_retention_days)} "
        "--yes --json"
    )
    return _script(
        "set -u",
        f"out=$({create}) || exit $?",
        'ids=$(printf \'%s\\n\' "$out" | sed -n \'s/^    "id": "\\(vol_[a-z0-9]*\\)",$/\\1/p\')',
        "case $ids in",
        "  vol_*[!a-z0-9_]*|'') ;;",
        "  vol_*)",
        f'    echo "created volume $ids ({name} in {region}, {int(size_gb)} GB)" >&2',
        "    printf '%s\\n' \"$ids\"",
        "    exit 0",
        "    ;;",
        "esac",
        "echo 'expected exactly one volume id from flyctl volumes create, got:' >&2",
        "printf '%s\\n' \"$out\" >&2",
        "exit 1",
    )


def _volume_id_from_previous_stdout() -> tuple[str, ...]:
    return (
        "vol_id=${PULUMI_COMMAND_STDOUT:-}",
        "case $vol_id in",
        "  vol_*[!a-z0-9_]*|vol_|'') ;;",
        "  vol_*) vol_id_ok=1 ;;",
        "esac",
        'if [ -z "${vol_id_ok:-}" ]; then',
        "  echo \"no volume id in PULUMI_COMMAND_STDOUT (got '$vol_id')\" >&2",
        "  exit 1",
        "fi",
    )


def volume_destroy_by_id(flyctl: str, app: str) -> str:
    """Destroy the volume whose id is in $PULUMI_COMMAND_STDOUT; gone counts as done.

    `volumes destroy ID -a APP --yes` (internal/command/volumes/destroy.go). The app is
    required: without -a, flyctl looks the volume up over GraphQL first, which fails with
    "Could not find Volume with id" (superfly/flyctl#4663). When destroy fails, the script
    lists the app's volumes (`volumes list` hides destroyed ones, fly-go
    flaps_volumes.go): an id no longer listed, or an app that no longer exists, is
    success; a volume still attached to a machine is an error.
    """
    _check(app, _APP_NAME, "app name")
    fly, a = q(flyctl), q(app)
    return _script(
        "set -u",
        "exec 3>&1",
        *_volume_id_from_previous_stdout(),
        _if_succeeds(f'{fly} volumes destroy "$vol_id" -a {a} --yes'),
        "  exit 0",
        "fi",
        f"if vols=$({fly} volumes list -a {a} --json 2>&1); then",
        "  case $vols in",
        '    *"\\"id\\": \\"$vol_id\\""*) ;;',
        '    *) echo "volume $vol_id is already gone"; exit 0 ;;',
        "  esac",
        "else",
        "  case $vols in",
        f"    *'Could not find App'*) echo {q(f'app {app} is gone')}; exit 0 ;;",
        "  esac",
        "  printf '%s\\n' \"$vols\" >&2",
        "fi",
        "printf '%s\\n' \"$err\" >&2",
        "exit 1",
    )


def volumes_resize(
    flyctl: str, app: str, name: str, region: str, size_gb: int, *, print_id: bool = False
) -> str:
    """Grow every volume named NAME in REGION to SIZE_GB; refuse to shrink any.

    Lists `volumes list -a APP --json`, then `volumes extend ID -a APP --size N` for each
    smaller volume (internal/command/volumes/extend.go: --size is a string in GB, extend
    never prompts; its report goes to stderr here). If any volume is larger than N the
    script fails before changing anything: "volumes cannot shrink: vol_x is A GB, asked
    for N GB".

    print_id=True is for the update script of a Command whose stdout is a volume id (the
    primary volume, made by volume_create): the script checks that the id in
    $PULUMI_COMMAND_STDOUT is one of the volumes it resizes, and prints it again at the
    end, so the Command's stdout, and thus its delete script, still name that volume.
    """
    _check(app, _APP_NAME, "app name")
    _check(name, _VOLUME_NAME, "volume name")
    _check(region, _REGION, "region")
    if size_gb < 1:
        raise ValueError("volume size must be at least 1")
    fly, a, n = q(flyctl), q(app), int(size_gb)
    lines = [
        "set -u",
        _MATCHING_VOLUMES_FN,
        *(_volume_id_from_previous_stdout() if print_id else ()),
        f"vols=$({fly} volumes list -a {a} --json) || exit $?",
        f"matches=$(printf '%s\\n' \"$vols\" | matching_volumes {q(name)} {q(region)})",
        'if [ -z "$matches" ]; then',
        f"  echo {q(f'no volume named {name} in region {region} of app {app}')} >&2",
        "  exit 1",
        "fi",
    ]
    if print_id:
        lines += [
            "if ! printf '%s\\n' \"$matches\" | cut -d' ' -f1 | grep -qxF \"$vol_id\"; then",
            f'  echo "volume $vol_id is not among the {name} volumes in {region}" >&2',
            "  exit 1",
            "fi",
        ]
    lines += [
        "shrink=$(printf '%s\\n' \"$matches\" | awk -v n="
        + str(n)
        + ' \'$2 > n { printf "volumes cannot shrink: %s is %s GB, asked for %s GB\\n",'
        " $1, $2, n; exit }')",
        'if [ -n "$shrink" ]; then',
        "  printf '%s\\n' \"$shrink\" >&2",
        "  exit 1",
        "fi",
        f"for id in $(printf '%s\\n' \"$matches\" | awk -v n={n} '$2 < n {{ print $1 }}'); do",
        f'  {fly} volumes extend "$id" -a {a} --size {n} >&2 || exit $?',
        "done",
    ]
    if print_id:
        lines.append("printf '%s\\n' \"$vol_id\"")
    return _script(*lines)


def region_volumes_destroy(flyctl: str, app: str, name: str, region: str) -> str:
    """Destroy every volume named NAME in REGION (volumes already gone count as done).

    In replica regions `scale count` reuses and creates volumes of the mount's name
    (internal/command/scale/count_machines.go, machine_defaults.go), so the set is larger
    than the one volume volume_create made. Each goes with `volumes destroy ID -a APP
    --yes` (internal/command/volumes/destroy.go); one still attached to a machine fails
    ("volume is currently bound to machine"), so scale the region to 0 first. A missing
    app means its volumes are gone too.
    """
    _check(app, _APP_NAME, "app name")
    _check(name, _VOLUME_NAME, "volume name")
    _check(region, _REGION, "region")
    fly, a = q(flyctl), q(app)
    return _script(
        "set -u",
        "exec 3>&1",
        _MATCHING_VOLUMES_FN,
        f"if ! vols=$({fly} volumes list -a {a} --json 2>&1); then",
        "  case $vols in",
        f"    *'Could not find App'*) echo {q(f'app {app} is gone')}; exit 0 ;;",
        "  esac",
        "  printf '%s\\n' \"$vols\" >&2",
        "  exit 1",
        "fi",
        f"ids=$(printf '%s\\n' \"$vols\" | matching_volumes {q(name)} {q(region)} | cut -d' ' -f1)",
        "for id in $ids; do",
        "  " + _if_succeeds(f'{fly} volumes destroy "$id" -a {a} --yes'),
        "    continue",
        "  fi",
        f"  if now=$({fly} volumes list -a {a} --json 2>&1); then",
        "    case $now in",
        '      *"\\"id\\": \\"$id\\""*) ;;',
        '      *) echo "volume $id is already gone"; continue ;;',
        "    esac",
        "  fi",
        "  printf '%s\\n' \"$err\" >&2",
        "  exit 1",
        "done",
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


def scale_count(flyctl: str, app: str, region: str, count: int) -> str:
    """Set the number of machines in REGION to COUNT.

    `scale count N --region R -a APP --yes` (internal/command/scale/count.go,
    count_machines.go: N is the total across the listed regions; new machines clone the
    deployed config and reuse unattached volumes in R before creating new ones; machines
    removed leave their volumes). Without --yes a non-interactive run fails. Scaling to 0
    is the delete script, so there an app that is gone, or one never deployed
    ("this app has no complete releases"), already has no machines and counts as done.
    """
    _check(app, _APP_NAME, "app name")
    _check(region, _REGION, "region")
    if count < 0:
        raise ValueError("machine count cannot be negative")
    command = f"{q(flyctl)} scale count {int(count)} --region {q(region)} -a {q(app)} --yes"
    if count > 0:
        return _script(command)
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
