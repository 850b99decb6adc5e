"""The flyctl simulator behaves like flyctl where our scripts depend on it.

Each expectation names the flyctl (or cobra/pflag) source it comes from, so a simulator
that drifts from real flyctl fails here rather than letting a broken script pass."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.fakes import flysim

FLY = str(flysim.FLY_EXECUTABLE)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "fly-state.json"


def fly(
    state: Path,
    *args: str,
    token: str | None = "sim-token",
    stdin: str = "",
    cwd: Path | None = None,
    extra_env: dict[str, str] | None = None,
):
    env = flysim.sim_env(state, token=token)
    env.update(extra_env or {})
    return subprocess.run(
        [FLY, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd or state.parent,
        check=False,
    )


def build_context(root: Path, *, mounts: bool = True, strategy: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    toml = 'app = "my-app"\nprimary_region = "yyz"\n'
    if strategy:
        toml += f'\n[deploy]\n  strategy = "{strategy}"\n'
    if mounts:
        toml += '\n[mounts]\n  source = "data"\n  destination = "/data"\n'
    (root / "fly.toml").write_text(toml)
    (root / "Dockerfile").write_text("FROM scratch\n")
    return root


# --- parser port: the cases of flyctl's internal/command/secrets/parser_test.go


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "\n# A comment plus a new line with spaces\n  \nFOO=BAR\n# Another comment\nQUX=NAH\n",
            {"FOO": "BAR", "QUX": "NAH"},
        ),
        ("FOO=BAR\r\nQUX=NAH\r\n", {"FOO": "BAR", "QUX": "NAH"}),
        (
            '\nFOO=BAR\nMULTILINE="""SOMETHING\nANOTHER LINE\n\nENDSHERE"""\nTRAILERENV=what\n'
            'FIN="""Here is the end,\nmy only friend"""\n',
            {
                "FOO": "BAR",
                "MULTILINE": "SOMETHING\nANOTHER LINE\n\nENDSHERE",
                "TRAILERENV": "what",
                "FIN": "Here is the end,\nmy only friend",
            },
        ),
        ("FOO=BAR,BAZ", {"FOO": "BAR,BAZ"}),
        ('FOO="BAR BAZ"', {"FOO": "BAR BAZ"}),
        ("FOO = BAR", {"FOO": "BAR"}),
        ('FOO="BAR BAZ" # comment', {"FOO": "BAR BAZ"}),
        ("FOO='BAR BAZ'\nKEY='value'", {"FOO": "BAR BAZ", "KEY": "value"}),
        (
            'EMPTY=""""""\nSINGLE="""x"""\nWITHSPACES="""  spaces  """\nNORMAL=regular',
            {"EMPTY": "", "SINGLE": "x", "WITHSPACES": "  spaces  ", "NORMAL": "regular"},
        ),
        (
            'VARIABLE = """my-single-line-multiline-string"""',
            {"VARIABLE": "my-single-line-multiline-string"},
        ),
        # parser.go cuts an unquoted value at '#': a real pitfall for secrets.
        ("PASS=ab#cd", {"PASS": "ab"}),
    ],
)
def test_secrets_parser_matches_flyctls_own_test_cases(text: str, expected: dict) -> None:
    assert flysim.parse_secrets(text) == expected


def test_secrets_parser_rejects_a_line_without_equals_like_flyctl() -> None:
    with pytest.raises(flysim.FlyError, match=r"NAME=VALUE pairs \(oops is invalid\)"):
        flysim.parse_secrets("oops\n")


# --- cobra / pflag behaviour


def test_unknown_flag_is_refused_with_cobras_text_and_usage_on_stdout(state: Path) -> None:
    result = fly(state, "volumes", "create", "data", "-a", "my-app", "--sise", "3")
    assert result.returncode == 1
    assert result.stderr == "Error: unknown flag: --sise\n"
    assert result.stdout.startswith("Usage:\n  fly volumes create <volume name> [flags]")


def test_flags_of_one_command_are_not_accepted_by_another(state: Path) -> None:
    # internal/command/apps/destroy.go takes the app as an argument and has no --app.
    result = fly(state, "apps", "destroy", "-a", "my-app", "--yes")
    assert result.returncode == 1
    assert "Error: unknown shorthand flag: 'a' in -a" in result.stderr


def test_bool_flag_takes_its_value_only_after_equals(state: Path, tmp_path: Path) -> None:
    # pflag: `--ha false` leaves "false" as a second positional argument.
    ctx = build_context(tmp_path / "ctx")
    result = fly(state, "deploy", str(ctx), "--ha", "false")
    assert "Error: accepts at most 1 arg(s), received 2" in result.stderr


def test_argument_counts_follow_cobra(state: Path) -> None:
    assert "accepts 1 arg(s), received 0" in fly(state, "volumes", "create").stderr
    assert "requires at least 1 arg(s), only received 0" in fly(state, "scale", "count").stderr


def test_int_flag_value_errors_use_pflag_text(state: Path) -> None:
    result = fly(state, "volumes", "create", "data", "-a", "x", "--size", "big")
    assert (
        'invalid argument "big" for "-s, --size" flag: strconv.ParseInt: parsing "big": '
        "invalid syntax"
    ) in result.stderr


# --- authentication (internal/command/command.go RequireSession, fly-go api.go)


def test_missing_token_is_refused(state: Path) -> None:
    result = fly(state, "apps", "list", token=None)
    assert result.returncode == 1
    assert result.stderr == (
        "Error: no access token available. Please login with 'flyctl auth login'\n"
    )


def test_token_from_access_token_env_or_flag_is_accepted(state: Path) -> None:
    assert (
        fly(state, "apps", "list", token=None, extra_env={"FLY_ACCESS_TOKEN": "x"}).returncode == 0
    )
    assert fly(state, "apps", "list", "-t", "x", token=None).returncode == 0


# --- prompts that fail without --yes when not interactive


def test_volume_create_needs_yes_for_the_first_volume_of_a_name(state: Path) -> None:
    fly(state, "apps", "create", "my-app", "--org", "personal")
    first = fly(state, "volumes", "create", "data", "-a", "my-app", "-r", "yyz")
    assert first.returncode == 1
    assert "Error: yes flag must be specified when not running interactively" in first.stderr
    assert flysim.volumes(state, "my-app") == []
    assert (
        fly(state, "volumes", "create", "data", "-a", "my-app", "-r", "yyz", "--yes").returncode
        == 0
    )
    # create.go confirmVolumeCreate: no prompt once a volume of that name exists.
    again = fly(state, "volumes", "create", "data", "-a", "my-app", "-r", "yyz")
    assert again.returncode == 0, again.stderr


def test_apps_destroy_and_scale_count_need_yes(state: Path, tmp_path: Path) -> None:
    fly(state, "apps", "create", "my-app", "--org", "personal")
    result = fly(state, "apps", "destroy", "my-app")
    assert "yes flag must be specified when not running interactively" in result.stderr
    assert flysim.app_record(state, "my-app") is not None

    ctx = build_context(tmp_path / "ctx")
    assert fly(state, "deploy", str(ctx), "--ha=false").returncode == 0
    result = fly(state, "scale", "count", "2", "--region", "ams", "-a", "my-app")
    assert "Error: --yes flag must be specified when not running interactively" in result.stderr
    assert flysim.machines(state, "my-app", region="ams") == []
    # count_machines.go: nothing to change returns before the prompt.
    same = fly(state, "scale", "count", "1", "--region", "yyz", "-a", "my-app")
    assert same.returncode == 0
    assert "App already scaled to desired state" in same.stdout


# --- apps


def test_taken_app_name_gives_flyctls_error_and_suggestion(state: Path) -> None:
    flysim.seed_org(state, "other", member=False)
    flysim.seed_app(state, "my-app", "other")
    result = fly(state, "apps", "create", "my-app", "--org", "personal")
    assert result.returncode == 1
    assert result.stderr.startswith("Error: Validation failed: Name has already been taken")
    assert "App names are unique across all of Fly.io" in result.stderr


def test_app_of_an_org_the_token_cannot_see_is_not_found(state: Path) -> None:
    flysim.seed_org(state, "other", member=False)
    flysim.seed_app(state, "their-app", "other")
    result = fly(state, "volumes", "list", "-a", "their-app")
    assert result.stderr == 'Error: Could not find App "their-app"\n'


# --- volumes


def test_volumes_list_json_has_flyctls_shape(state: Path) -> None:
    fly(state, "apps", "create", "my-app", "--org", "personal")
    fly(state, "volumes", "create", "data", "-a", "my-app", "-r", "yyz", "-s", "2", "--yes")
    result = fly(state, "volumes", "list", "-a", "my-app", "--json")
    volumes = json.loads(result.stdout)
    assert list(volumes[0]) == [
        "id",
        "name",
        "state",
        "size_gb",
        "region",
        "zone",
        "encrypted",
        "attached_machine_id",
        "attached_alloc_id",
        "created_at",
        "host_dedication_id",
        "snapshot_retention",
        "auto_backup_enabled",
        "host_status",
    ]
    assert volumes[0]["size_gb"] == 2
    # internal/render/render.go: 4-space indent
    assert result.stdout.splitlines()[2].startswith('        "id": "vol_')


def test_require_unique_zone_spreads_volumes_over_zones(state: Path) -> None:
    fly(state, "apps", "create", "my-app", "--org", "personal")
    fly(state, "volumes", "create", "data", "-a", "my-app", "-r", "ams", "--yes", "-n", "2")
    zones = {v["zone"] for v in flysim.volumes(state, "my-app")}
    assert len(zones) == 2


def test_extend_without_size_fails_like_flyctl(state: Path) -> None:
    # extend.go: ParseSize("") fails before the "must be specified" check.
    fly(state, "apps", "create", "my-app", "--org", "personal")
    result = fly(state, "volumes", "extend", "vol_x", "-a", "my-app")
    assert result.stderr == "Error: invalid size: invalid size: ''\n"


def test_destroying_an_attached_volume_fails(state: Path, tmp_path: Path) -> None:
    fly(state, "apps", "create", "my-app", "--org", "personal")
    fly(state, "deploy", str(build_context(tmp_path / "ctx")), "--ha=false")
    [volume] = flysim.volumes(state, "my-app")
    result = fly(state, "volumes", "destroy", volume["id"], "-a", "my-app", "--yes")
    assert "volume is currently bound to machine" in result.stderr
    assert flysim.volumes(state, "my-app") != []


# --- deploy


def test_deploy_resolves_relative_config_against_the_positional_directory(
    state: Path, tmp_path: Path
) -> None:
    # command.go ChangeWorkingDirectoryToFirstArgIfPresent runs before the config loads.
    fly(state, "apps", "create", "my-app", "--org", "personal")
    build_context(tmp_path / "ctx")
    result = fly(state, "deploy", "ctx", "--config", "ctx/fly.toml", cwd=tmp_path)
    assert result.returncode == 1
    assert "Error: config file not found at specified path: ctx/fly.toml" in result.stderr


def test_canary_is_refused_with_mounts(state: Path, tmp_path: Path) -> None:
    fly(state, "apps", "create", "my-app", "--org", "personal")
    result = fly(state, "deploy", str(build_context(tmp_path / "ctx")), "--strategy", "canary")
    assert result.returncode == 1
    assert "canary deployment strategy is not supported when using mounted volumes" in (
        result.stderr
    )
    assert "Error: App configuration is not valid" in result.stderr
    assert flysim.machines(state, "my-app") == []


def test_first_deploy_needs_the_unattached_volume_in_the_primary_region(
    state: Path, tmp_path: Path
) -> None:
    # deploy_first.go counts unattached volumes of the mount's name in any region, and
    # machines_launchinput.go then wants one in primary_region.
    fly(state, "apps", "create", "my-app", "--org", "personal")
    fly(state, "volumes", "create", "data", "-a", "my-app", "-r", "ams", "--yes")
    result = fly(state, "deploy", str(build_context(tmp_path / "ctx")), "--ha=false")
    assert result.returncode == 1
    assert (
        "Error: New machine in group 'app' needs an unattached volume named 'data' in region 'yyz'"
    ) in result.stderr


def test_first_deploy_creates_the_volume_when_none_exists(state: Path, tmp_path: Path) -> None:
    fly(state, "apps", "create", "my-app", "--org", "personal")
    result = fly(state, "deploy", str(build_context(tmp_path / "ctx")), "--ha=false")
    assert result.returncode == 0, result.stderr
    assert "Creating a 1 GB volume named 'data' for process group 'app'" in result.stdout
    [machine] = flysim.machines(state, "my-app")
    [volume] = flysim.volumes(state, "my-app")
    assert (machine["region"], machine["volume"]) == ("yyz", volume["id"])


def test_deploy_of_a_missing_app_fails(state: Path, tmp_path: Path) -> None:
    result = fly(state, "deploy", str(build_context(tmp_path / "ctx")))
    assert "the app name my-app could not be found" in result.stderr


# --- records and failure injection


def test_calls_are_recorded_without_the_token(state: Path) -> None:
    fly(state, "apps", "create", "my-app", "--org", "personal")
    fly(state, "secrets", "import", "-a", "my-app", "--stage", stdin="A=secret-value\n")
    calls = flysim.calls(state)
    assert [c["argv"][:2] for c in calls] == [["apps", "create"], ["secrets", "import"]]
    assert all(c["token_present"] for c in calls)
    assert all("FLY_API_TOKEN" not in c["env"] for c in calls)
    assert calls[1]["stdin_bytes"] == len("A=secret-value\n")
    assert "secret-value" not in json.dumps(calls)


def test_injected_failure_hits_only_the_nth_matching_call(state: Path) -> None:
    flysim.inject_failure(state, r"^apps create", nth=2, message="boom")
    assert fly(state, "apps", "create", "one", "--org", "personal").returncode == 0
    second = fly(state, "apps", "create", "two", "--org", "personal")
    assert (second.returncode, second.stderr) == (1, "Error: boom\n")
    assert flysim.app_record(state, "two") is None
    assert fly(state, "apps", "create", "two", "--org", "personal").returncode == 0


def test_failure_injection_by_environment(state: Path) -> None:
    env = {"FLY_SIM_FAIL": "^apps create", "FLY_SIM_FAIL_NTH": "1"}
    assert fly(state, "apps", "create", "one", "--org", "personal", extra_env=env).returncode == 1
    assert fly(state, "apps", "create", "one", "--org", "personal", extra_env=env).returncode == 0


# --- scale count


def test_scale_up_clones_the_first_machine_and_sizes_volumes_like_its_mount(
    state: Path, tmp_path: Path
) -> None:
    # machine_defaults.go CreateVolumeRequest: size from the cloned machine's mount.
    fly(state, "apps", "create", "my-app", "--org", "personal")
    fly(state, "volumes", "create", "data", "-a", "my-app", "-r", "yyz", "-s", "3", "--yes")
    fly(state, "volumes", "create", "data", "-a", "my-app", "-r", "lhr", "-s", "9", "--yes")
    fly(state, "deploy", str(build_context(tmp_path / "ctx")), "--ha=false")
    result = fly(state, "scale", "count", "1", "--region", "ams", "-a", "my-app", "--yes")
    assert result.returncode == 0, result.stderr
    assert "  +1 volumes  for group 'app' in region 'ams'" in result.stdout
    [ams] = flysim.volumes(state, "my-app", region="ams")
    assert ams["size_gb"] == 3


def test_scale_up_from_no_machines_sizes_volumes_like_the_largest(
    state: Path, tmp_path: Path
) -> None:
    # machine_defaults.go ToMachineConfig: volsizeByName is the largest of that name.
    fly(state, "apps", "create", "my-app", "--org", "personal")
    fly(state, "volumes", "create", "data", "-a", "my-app", "-r", "yyz", "-s", "3", "--yes")
    fly(state, "volumes", "create", "data", "-a", "my-app", "-r", "lhr", "-s", "9", "--yes")
    fly(state, "deploy", str(build_context(tmp_path / "ctx")), "--ha=false")
    fly(state, "scale", "count", "0", "--region", "yyz", "-a", "my-app", "--yes")
    assert flysim.machines(state, "my-app") == []
    result = fly(state, "scale", "count", "1", "--region", "ams", "-a", "my-app", "--yes")
    assert result.returncode == 0, result.stderr
    [ams] = flysim.volumes(state, "my-app", region="ams")
    assert ams["size_gb"] == 9
