"""The flyctl simulator behaves like flyctl where our scripts depend on it.

Each expectation names the flyctl (or cobra/pflag) source it comes from, so a simulator
that drifts from real flyctl fails here rather than letting a broken script pass."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from tests.fakes import flysim

FLY = str(flysim.FLY_EXECUTABLE)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "fly-state.json"


def after_build(stderr: str) -> str:
    """stderr past the build's text block: deploy_build.go writes "==> Building image" and
    the image lines to ErrOut (internal/render/render.go NewTextBlock)."""
    return re.sub(r"^==> Building image\n--> Building image done\nimage: .*\nimage size: .*\n",
                  "", stderr)  # fmt: skip



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


def build_context(root: Path, *, mounts: bool = True, strategy: str = "", extra: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    toml = 'app = "my-app"\nprimary_region = "yyz"\n'
    if strategy:
        toml += f'\n[deploy]\n  strategy = "{strategy}"\n'
    if mounts:
        toml += '\n[mounts]\n  source = "data"\n  destination = "/data"\n'
    toml += extra
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
    # machines_deploymachinesapp.go spawnMachineInGroup wraps launchInputForLaunch's error.
    assert after_build(result.stderr) == (
        "Error: error creating machine configuration: New machine in group 'app' needs an "
        "unattached volume named 'data' in region 'yyz'\n"
    )


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


# --- IP addresses (internal/command/ips/*.go, fly-go resource_ip_addresses.go)

HTTP_SERVICE = "\n[http_service]\n  internal_port = 8080\n"
# A TLS port other than 443: DetermineIPType says "dedicated".
TCP_5001 = (
    '\n[[services]]\n  protocol = "tcp"\n  internal_port = 8080\n'
    '  [[services.ports]]\n    port = 5001\n    handlers = ["tls", "http"]\n'
)


def new_app(state: Path, name: str = "my-app") -> None:
    assert fly(state, "apps", "create", name, "--org", "personal").returncode == 0


def test_ips_list_json_is_fly_go_ipaddress_with_the_shared_v4_last(state: Path) -> None:
    new_app(state)
    assert fly(state, "ips", "allocate-v4", "--shared", "-a", "my-app").returncode == 0
    assert fly(state, "ips", "allocate-v6", "-a", "my-app").returncode == 0
    result = fly(state, "ips", "list", "-a", "my-app", "--json")
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    # types.go IPAddress has no json tags: Go field names in struct order.
    assert [list(ip) for ip in listed] == [
        ["ID", "Address", "Type", "Region", "CreatedAt", "ServiceName", "Network"]
    ] * 2
    # GetIPAddresses appends sharedIpAddress after the nodes, with no ID or region and
    # the zero time, whatever order the addresses were allocated in.
    assert [ip["Type"] for ip in listed] == ["v6", "shared_v4"]
    assert listed[1]["ID"] == "" and listed[1]["Region"] == ""
    assert listed[1]["CreatedAt"] == "0001-01-01T00:00:00Z"
    assert listed[0]["ID"] and listed[0]["Address"].startswith("2a09:")
    assert result.stdout.splitlines()[2] == f'        "ID": "{listed[0]["ID"]}",'
    assert [ip["type"] for ip in flysim.ips(state, "my-app")] == ["shared_v4", "v6"]


def test_ips_list_of_an_app_without_ips_is_an_empty_array(state: Path) -> None:
    new_app(state)
    assert fly(state, "ips", "list", "-a", "my-app", "--json").stdout == "[]\n"
    missing = fly(state, "ips", "list", "-a", "nope", "--json")
    assert (missing.returncode, missing.stderr) == (1, 'Error: Could not find App "nope"\n')


def test_ips_list_table_uses_render_go_labels(state: Path) -> None:
    new_app(state)
    fly(state, "ips", "allocate-v4", "-a", "my-app", "--yes")
    fly(state, "ips", "allocate-v4", "-a", "my-app", "--shared")
    fly(state, "ips", "allocate-v6", "-a", "my-app")
    fly(state, "ips", "allocate-v6", "-a", "my-app", "--private")
    out = fly(state, "ip", "ls", "-a", "my-app").stdout  # ips.go alias "ip", list.go "ls"
    lines = out.splitlines()
    header = [c.strip() for c in lines[0].split("│")]
    assert header == ["VERSION", "IP", "TYPE", "REGION", "CREATED AT"]
    cells = [[c.strip() for c in line.split("│")] for line in lines[1:5]]
    assert [(c[0], c[2]) for c in cells] == [
        ("v4", "public ingress (dedicated, $2/mo)"),
        ("v6", "public ingress (dedicated)"),
        ("v6", "private ingress"),
        ("v4", "public ingress (shared)"),
    ]
    assert cells[3][4] == "Jan 1 0001 00:00"  # format.RelativeTime of the zero time
    assert lines[-1].startswith("Learn more about Fly.io public, private, shared and dedicated")


def test_dedicated_v4_without_yes_fails_before_any_api_call(state: Path) -> None:
    # allocate.go runAllocateIPAddressV4 -> confirmAlloc: prompt.Confirm is not possible.
    new_app(state)
    result = fly(state, "ips", "allocate-v4", "-a", "my-app")
    assert (result.returncode, result.stderr) == (
        1,
        "Error: yes flag must be specified when not running interactively\n",
    )
    assert flysim.ips(state, "my-app") == []
    # The question comes before the app is looked up.
    missing = fly(state, "ips", "allocate-v4", "-a", "nope")
    assert "yes flag must be specified" in missing.stderr
    allocated = fly(state, "ips", "allocate-v4", "-a", "my-app", "-y")
    assert allocated.returncode == 0, allocated.stderr
    assert [ip["type"] for ip in flysim.ips(state, "my-app")] == ["v4"]
    assert "public ingress (dedicated, $2/mo)" in allocated.stdout


def test_shared_v4_never_asks_and_prints_the_shared_table(state: Path) -> None:
    new_app(state)
    result = fly(state, "ips", "allocate-v4", "--shared", "-a", "my-app")
    assert result.returncode == 0, result.stderr
    [ip] = flysim.ips(state, "my-app")
    assert ip["type"] == "shared_v4"
    # render.go renderSharedTable
    header, row = result.stdout.splitlines()[:2]
    assert header.split() == ["VERSION", "│", "IP", "│", "TYPE", "│", "REGION"]
    assert row.split() == ["v4", "│", ip["address"], "│", "shared", "│", "global"]


def test_ips_flags_are_each_commands_own(state: Path) -> None:
    new_app(state)
    v6_shared = fly(state, "ips", "allocate-v6", "--shared", "-a", "my-app")
    assert v6_shared.stderr == "Error: unknown flag: --shared\n"
    assert v6_shared.stdout.startswith("Usage:\n  fly ips allocate-v6 [flags]")
    assert "unknown flag: --private" in fly(state, "ips", "allocate-v4", "--private").stderr
    assert (
        "unknown flag: --json" in fly(state, "ips", "allocate-v6", "-a", "my-app", "--json").stderr
    )
    private = fly(state, "ips", "allocate-v6", "--private", "-a", "my-app")
    assert private.returncode == 0, private.stderr
    [ip] = flysim.ips(state, "my-app")
    assert ip["type"] == "private_v6" and ip["address"].startswith("fdaa:")
    bad_org = fly(state, "ips", "allocate-v6", "--private", "--org", "nope", "-a", "my-app")
    assert "failed retrieving organization with slug nope" in bad_org.stderr


def test_apps_destroy_takes_the_ips_with_it(state: Path) -> None:
    new_app(state)
    fly(state, "ips", "allocate-v6", "-a", "my-app")
    assert fly(state, "apps", "destroy", "my-app", "--yes").returncode == 0
    new_app(state)
    assert flysim.ips(state, "my-app") == []


# --- first deploy IPs (deploy_first.go provisionIpsOnFirstDeploy, config.go DetermineIPType)


def tcp(**port) -> dict:
    return {"services": [{"protocol": "tcp", "ports": [port]}]}


@pytest.mark.parametrize(
    ("config", "ip_type", "expected"),
    [
        ({"http_service": {"internal_port": 8080}}, "public", "shared"),
        ({}, "public", "shared"),
        (tcp(port=80, handlers=["http"]), "public", "shared"),
        (tcp(port=443, handlers=["tls", "http"]), "public", "shared"),
        (tcp(port=443, handlers=["http", "tls"]), "public", "shared"),
        (tcp(port=443, handlers=["tls"]), "public", "dedicated"),
        (tcp(port=80), "public", "dedicated"),
        (tcp(port=5001, handlers=["tls", "http"]), "public", "dedicated"),
        ({"services": [{"protocol": "udp", "ports": [{"port": 443}]}]}, "public", "dedicated"),
        (tcp(start_port=80, end_port=81, handlers=["http"]), "public", "dedicated"),
        (tcp(start_port=80, end_port=80, handlers=["http"]), "public", "shared"),
        (tcp(port=5001), "private", "private"),
    ],
)
def test_ip_type_is_determined_like_appconfig(config: dict, ip_type: str, expected: str) -> None:
    assert flysim.determine_ip_type(config, ip_type) == expected


def test_first_deploy_with_http_service_gets_v6_and_shared_v4(state: Path, tmp_path: Path) -> None:
    new_app(state)
    ctx = build_context(tmp_path / "ctx", extra=HTTP_SERVICE)
    result = fly(state, "deploy", str(ctx), "--ha=false")
    assert result.returncode == 0, result.stderr
    v6, v4 = flysim.ips(state, "my-app")
    assert (v6["type"], v4["type"]) == ("v6", "shared_v4")
    assert (
        f"Provisioning ips for my-app\n  Dedicated ipv6: {v6['address']}\n"
        f"  Shared ipv4: {v4['address']}\n  Add a dedicated ipv4 with: fly ips allocate-v4\n\n"
    ) in result.stdout
    # IPs come before the seed volume (provisionFirstDeploy).
    assert result.stdout.index("Provisioning ips") < result.stdout.index("Creating a 1 GB volume")
    assert "Visit your newly deployed app at https://my-app.fly.dev/" in result.stdout


def test_first_deploy_needing_a_dedicated_ip_allocates_nothing_and_succeeds(
    state: Path, tmp_path: Path
) -> None:
    # The Confirmf error is dropped inside the "dedicated" case: no IP, no stderr line.
    new_app(state)
    ctx = build_context(tmp_path / "ctx", extra=HTTP_SERVICE + TCP_5001)
    result = fly(state, "deploy", str(ctx), "--ha=false")
    assert result.returncode == 0, result.stderr
    assert flysim.ips(state, "my-app") == []
    assert "Provisioning" not in result.stdout
    assert "Failed to provision IP addresses" not in result.stderr
    assert len(flysim.machines(state, "my-app")) == 1
    # deploy.go still prints the URL (config.go URL: [http_service] means https).
    assert "Visit your newly deployed app at https://my-app.fly.dev/" in result.stdout


def test_ips_are_provisioned_only_when_the_app_has_none_and_only_once(
    state: Path, tmp_path: Path
) -> None:
    new_app(state)
    fly(state, "ips", "allocate-v6", "-a", "my-app")
    ctx = build_context(tmp_path / "ctx", extra=HTTP_SERVICE)
    assert fly(state, "deploy", str(ctx), "--ha=false").returncode == 0
    assert [ip["type"] for ip in flysim.ips(state, "my-app")] == ["v6"]

    new_app(state, "other")
    plain = build_context(tmp_path / "plain")  # no services: no IPs
    assert fly(state, "deploy", str(plain), "-a", "other", "--ha=false").returncode == 0
    assert flysim.ips(state, "other") == []
    # Not the first deploy any more: a later deploy with services allocates nothing.
    assert fly(state, "deploy", str(ctx), "-a", "other", "--ha=false").returncode == 0
    assert flysim.ips(state, "other") == []


def test_no_public_ips_and_flycast_on_first_deploy(state: Path, tmp_path: Path) -> None:
    ctx = build_context(tmp_path / "ctx", extra=HTTP_SERVICE)
    new_app(state, "none-app")
    result = fly(state, "deploy", str(ctx), "-a", "none-app", "--no-public-ips", "--ha=false")
    assert result.returncode == 0, result.stderr
    assert flysim.ips(state, "none-app") == []
    assert "Your app is deployed but does not have a public or private IP address" in result.stdout
    new_app(state, "flycast-app")
    result = fly(state, "deploy", str(ctx), "-a", "flycast-app", "--flycast", "--ha=false")
    assert [ip["type"] for ip in flysim.ips(state, "flycast-app")] == ["private_v6"]
    assert "Provisioning ip address for flycast-app\n  Private ipv6: fdaa:" in result.stdout
    assert "under http://flycast-app.flycast" in result.stdout


# --- machine sizes and volume placement (flag/machines.go, appconfig/machines.go)


def preset(name: str) -> dict:
    return flysim.MACHINE_PRESETS[name]


def test_presets_match_fly_go() -> None:
    # fly-go machine_types.go MachinePresets: 256 MB per shared cpu, 2048 per performance.
    assert preset("shared-cpu-1x") == {"cpu_kind": "shared", "cpus": 1, "memory_mb": 256}
    assert preset("shared-cpu-8x") == {"cpu_kind": "shared", "cpus": 8, "memory_mb": 2048}
    assert preset("performance-2x") == {"cpu_kind": "performance", "cpus": 2, "memory_mb": 4096}
    assert preset("performance-16x")["memory_mb"] == 32768
    assert flysim.guest_size(preset("performance-2x")) == "performance-2x"
    assert flysim.guest_size(preset("shared-cpu-4x")) == "shared-cpu-4x"


def test_volume_create_places_for_the_default_guest_or_the_vm_flags(state: Path) -> None:
    new_app(state)
    base = ("volumes", "create", "data", "-a", "my-app", "-r", "yyz", "--yes")
    assert fly(state, *base).returncode == 0
    assert fly(state, *base, "--vm-size", "performance-2x").returncode == 0
    assert fly(state, *base, "--vm-size", "shared-cpu-2x", "--vm-memory", "1gb").returncode == 0
    assert fly(state, *base, "--cpus", "4", "--vm-cpukind", "performance").returncode == 0
    placed = [v["placed_for"] for v in flysim.volumes(state, "my-app")]
    assert placed == [
        preset("shared-cpu-1x"),
        preset("performance-2x"),
        {"cpu_kind": "shared", "cpus": 2, "memory_mb": 1024},  # RAMInBytes: binary units
        {"cpu_kind": "performance", "cpus": 4, "memory_mb": 256},
    ]
    bad = fly(state, *base, "--vm-size", "shared-cpu-3x")
    assert bad.stderr == (
        "Error: 'shared-cpu-3x' is an invalid machine size, choose one of: [shared-cpu-1x "
        "shared-cpu-2x shared-cpu-4x shared-cpu-6x shared-cpu-8x]\n"
    )
    odd = fly(state, *base, "--vm-size", "huge")
    assert "invalid machine preset requested, 'huge', expected to start with" in odd.stderr
    kind = fly(state, *base, "--vm-cpu-kind", "fast")
    assert "--vm-cpu-kind must be set to 'shared' or 'performance'" in kind.stderr
    assert len(flysim.volumes(state, "my-app")) == 4


@pytest.mark.parametrize(
    ("guest", "placed_for", "fits"),
    [
        ("shared-cpu-1x", "shared-cpu-1x", True),
        ("shared-cpu-1x", "performance-2x", True),
        ("shared-cpu-2x", "shared-cpu-1x", False),
        ("performance-1x", "shared-cpu-8x", False),  # cpu kind
        ("performance-2x", "performance-1x", False),
    ],
)
def test_guest_fits_a_volume_placed_for_at_least_as_much(
    guest: str, placed_for: str, fits: bool
) -> None:
    assert flysim.guest_fits(preset(guest), preset(placed_for)) is fits
    more_memory = {**preset("shared-cpu-1x"), "memory_mb": 512}
    assert not flysim.guest_fits(more_memory, preset("shared-cpu-1x"))


VM_SHARED_2X = '\n[[vm]]\n  size = "shared-cpu-2x"\n  memory = "1gb"\n'


def test_deploy_takes_the_machine_guest_from_the_vm_section(state: Path, tmp_path: Path) -> None:
    new_app(state)
    ctx = build_context(tmp_path / "ctx", extra=VM_SHARED_2X)
    result = fly(state, "deploy", str(ctx), "--ha=false")
    assert result.returncode == 0, result.stderr
    [machine] = flysim.machines(state, "my-app")
    [volume] = flysim.volumes(state, "my-app")
    want = {"cpu_kind": "shared", "cpus": 2, "memory_mb": 1024}
    assert machine["config"]["guest"] == want
    # deploy_first.go: the seed volume's ComputeRequirements is the group's guest.
    assert volume["placed_for"] == want


def test_deploy_vm_flags_size_new_machines_only(state: Path, tmp_path: Path) -> None:
    new_app(state)
    ctx = build_context(tmp_path / "ctx")
    assert (
        fly(state, "deploy", str(ctx), "--ha=false", "--vm-size", "shared-cpu-2x").returncode == 0
    )
    [machine] = flysim.machines(state, "my-app")
    assert machine["config"]["guest"] == preset("shared-cpu-2x")
    # An update keeps the machine's guest without [[vm]] (appconfig toMachineGuest nil).
    assert fly(state, "deploy", str(ctx), "--vm-size", "shared-cpu-4x").returncode == 0
    [machine] = flysim.machines(state, "my-app")
    assert machine["config"]["guest"] == preset("shared-cpu-2x")


def test_a_machine_bigger_than_its_volumes_placement_fails_to_launch(
    state: Path, tmp_path: Path
) -> None:
    new_app(state)
    fly(state, "volumes", "create", "data", "-a", "my-app", "-r", "yyz", "--yes")
    ctx = build_context(tmp_path / "ctx", extra='\n[[vm]]\n  size = "performance-1x"\n')
    result = fly(state, "deploy", str(ctx), "--ha=false")
    assert result.returncode == 1
    error = after_build(result.stderr)
    assert error.startswith("Error: error creating a new machine: failed to launch VM: ")
    assert "insufficient resources" in result.stderr  # API text (assumed)
    assert flysim.machines(state, "my-app") == []
    [volume] = flysim.volumes(state, "my-app")
    assert volume["attached_machine_id"] is None


def test_a_volume_placed_for_a_bigger_guest_takes_a_smaller_machine(
    state: Path, tmp_path: Path
) -> None:
    new_app(state)
    fly(state, "volumes", "create", "data", "-a", "my-app", "-r", "yyz", "--yes",
        "--vm-size", "performance-2x")  # fmt: skip
    result = fly(state, "deploy", str(build_context(tmp_path / "ctx")), "--ha=false")
    assert result.returncode == 0, result.stderr
    [machine] = flysim.machines(state, "my-app")
    assert machine["config"]["guest"] == preset("shared-cpu-1x")


def test_growing_a_machine_past_its_volumes_placement_fails_the_update(
    state: Path, tmp_path: Path
) -> None:
    new_app(state)
    assert fly(state, "deploy", str(build_context(tmp_path / "a")), "--ha=false").returncode == 0
    bigger = build_context(tmp_path / "b", extra='\n[[vm]]\n  size = "performance-1x"\n')
    result = fly(state, "deploy", str(bigger))
    assert result.returncode == 1
    [machine] = flysim.machines(state, "my-app")
    error = after_build(result.stderr)
    assert error.startswith(f"Error: failed to update machine {machine['id']}: ")
    assert "insufficient resources" in result.stderr
    assert machine["config"]["guest"] == preset("shared-cpu-1x")
    # Within the placement is fine: memory_mb inline overrides the preset.
    same = build_context(tmp_path / "c", extra='\n[[vm]]\n  size = "shared-cpu-1x"\n')
    assert fly(state, "deploy", str(same)).returncode == 0


def test_a_bad_vm_section_fails_when_first_converted(state: Path, tmp_path: Path) -> None:
    # validation.go validateMachineConversion never reports (it tests the outer err).
    new_app(state)
    ctx = build_context(tmp_path / "ctx", extra='\n[[vm]]\n  size = "tiny"\n')
    result = fly(state, "deploy", str(ctx), "--ha=false")
    assert result.returncode == 1
    assert "✓ Configuration is valid" in result.stdout
    assert after_build(result.stderr).startswith(
        "Error: failed to provision seed volumes: invalid machine preset requested, 'tiny'"
    )


# --- scale count (count_machines.go, machine_defaults.go)


def test_scale_up_clones_the_guest_and_places_new_volumes_for_it(
    state: Path, tmp_path: Path
) -> None:
    new_app(state)
    mounts = '\n[mounts]\n  source = "data"\n  destination = "/data"\n  snapshot_retention = 14\n'
    ctx = build_context(tmp_path / "ctx", mounts=False, extra=mounts + VM_SHARED_2X)
    assert fly(state, "deploy", str(ctx), "--ha=false").returncode == 0
    result = fly(state, "scale", "count", "2", "--region", "yyz", "-a", "my-app", "--yes")
    assert result.returncode == 0, result.stderr
    assert "of size 'shared-cpu-2x'" in result.stdout
    first, second = flysim.volumes(state, "my-app")
    want = {"cpu_kind": "shared", "cpus": 2, "memory_mb": 1024}
    assert [m["config"]["guest"] for m in flysim.machines(state, "my-app")] == [want, want]
    assert second["placed_for"] == want
    # CreateVolumeRequest leaves SnapshotRetention nil: the API default, not fly.toml's.
    assert (first["snapshot_retention"], second["snapshot_retention"]) == (14, 5)
    assert second["auto_backup_enabled"] is True


def test_scale_up_onto_a_volume_placed_for_a_smaller_guest_fails(
    state: Path, tmp_path: Path
) -> None:
    new_app(state)
    ctx = build_context(tmp_path / "ctx", extra=VM_SHARED_2X)
    assert fly(state, "deploy", str(ctx), "--ha=false").returncode == 0
    fly(state, "volumes", "create", "data", "-a", "my-app", "-r", "ams", "--yes")
    result = fly(state, "scale", "count", "1", "--region", "ams", "-a", "my-app", "--yes")
    assert "   1 unattached volumes to be assigned to group 'app' in region 'ams'" in result.stdout
    assert result.returncode == 1
    assert result.stderr.startswith("Error: failed to launch VM: insufficient resources")
    assert flysim.machines(state, "my-app", region="ams") == []


def test_scale_from_no_machines_uses_the_vm_flags(state: Path, tmp_path: Path) -> None:
    new_app(state)
    assert fly(state, "deploy", str(build_context(tmp_path / "ctx")), "--ha=false").returncode == 0
    fly(state, "scale", "count", "0", "-a", "my-app", "--yes")
    result = fly(
        state, "scale", "count", "1", "--region", "ams", "-a", "my-app", "--yes",
        "--vm-size", "performance-1x",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "+1 machines for group 'app' on region 'ams' of size 'performance-1x'" in result.stdout
    [machine] = flysim.machines(state, "my-app")
    [ams] = flysim.volumes(state, "my-app", region="ams")
    assert machine["config"]["guest"] == ams["placed_for"] == preset("performance-1x")


def test_scale_down_leaves_the_volume_attached_for_the_next_calls(
    state: Path, tmp_path: Path
) -> None:
    new_app(state)
    fly(state, "deploy", str(build_context(tmp_path / "ctx")), "--ha=false")
    [machine] = flysim.machines(state, "my-app")
    [volume] = flysim.volumes(state, "my-app")
    assert fly(state, "scale", "count", "0", "-a", "my-app", "--yes").returncode == 0
    assert flysim.machines(state, "my-app") == []

    def attached() -> str | None:
        listed = json.loads(fly(state, "volumes", "list", "-a", "my-app", "--json").stdout)
        return listed[0]["attached_machine_id"]

    # Default N = 2: two calls still see the destroyed machine's volume attached.
    assert attached() == machine["id"]
    busy = fly(state, "volumes", "destroy", volume["id"], "-a", "my-app", "--yes")
    assert busy.returncode == 1
    assert f"volume is currently bound to machine: {machine['id']}" in busy.stderr
    assert attached() is None
    gone = fly(state, "volumes", "destroy", volume["id"], "-a", "my-app", "--yes")
    assert gone.returncode == 0, gone.stderr


@pytest.mark.parametrize("n", [0, 3])
def test_detach_window_is_set_by_the_environment_and_counts_only_that_app(
    state: Path, tmp_path: Path, n: int
) -> None:
    env = {"FLY_SIM_DETACH_AFTER_CALLS": str(n)}
    new_app(state)
    new_app(state, "other")
    fly(state, "deploy", str(build_context(tmp_path / "ctx")), "--ha=false")
    fly(state, "scale", "count", "0", "-a", "my-app", "--yes", extra_env=env)
    for _ in range(4):
        fly(state, "volumes", "list", "-a", "other")  # other apps' calls do not count
    seen = []
    for _ in range(n + 1):
        listed = fly(state, "volumes", "list", "-a", "my-app", "--json").stdout
        seen.append(json.loads(listed)[0]["attached_machine_id"] is not None)
    assert seen == [True] * n + [False]


# --- volumes update, create, list, extend, destroy


def test_volumes_update_sets_retention_and_schedule(state: Path) -> None:
    new_app(state)
    fly(state, "volumes", "create", "data", "-a", "my-app", "-r", "yyz", "--yes")
    [volume] = flysim.volumes(state, "my-app")
    result = fly(
        state, "volumes", "update", volume["id"], "-a", "my-app",
        "--snapshot-retention", "14", "--scheduled-snapshots=false", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert (shown["snapshot_retention"], shown["auto_backup_enabled"]) == (14, False)
    # update.go: --snapshot-retention 0 (the default) is not sent; the schedule only when
    # the flag is given.
    again = fly(state, "volumes", "update", volume["id"], "-a", "my-app")
    assert "  Snapshot retention: 14\n Scheduled snapshots: false\n" in again.stdout
    [volume] = flysim.volumes(state, "my-app")
    assert (volume["snapshot_retention"], volume["auto_backup_enabled"]) == (14, False)
    listed = json.loads(fly(state, "volumes", "list", "-a", "my-app", "--json").stdout)
    assert listed[0]["snapshot_retention"] == 14


def test_volumes_update_errors(state: Path) -> None:
    new_app(state)
    assert "accepts 1 arg(s), received 0" in fly(state, "volumes", "update", "-a", "x").stderr
    unknown = fly(state, "volumes", "update", "vol_x", "-a", "my-app", "--size", "3")
    assert unknown.stderr == "Error: unknown flag: --size\n"
    missing = fly(state, "volumes", "update", "vol_x", "-a", "my-app", "--snapshot-retention", "3")
    assert missing.returncode == 1
    assert missing.stderr.startswith("Error: failed updating volume: failed to update volume: ")
    fly(state, "volumes", "create", "data", "-a", "my-app", "-r", "yyz", "--yes")
    [volume] = flysim.volumes(state, "my-app")
    too_long = fly(state, "volumes", "update", volume["id"], "-a", "my-app",
                   "--snapshot-retention", "61")  # fmt: skip
    assert too_long.returncode == 1  # Fly's docs: 1 to 60 days (API text assumed)
    assert flysim.volumes(state, "my-app")[0]["snapshot_retention"] == 5


def test_volumes_create_count_and_retention_in_json(state: Path) -> None:
    new_app(state)
    result = fly(
        state, "volumes", "create", "data", "-a", "my-app", "-r", "ams", "-n", "2",
        "--snapshot-retention", "9", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    docs = [json.loads(d) for d in result.stdout.replace("}\n{", "}\n\x00{").split("\x00")]
    assert [d["snapshot_retention"] for d in docs] == [9, 9]
    assert [d["auto_backup_enabled"] for d in docs] == [True, True]


def test_volumes_list_table_follows_render_table(state: Path) -> None:
    new_app(state)
    fly(state, "volumes", "create", "data", "-a", "my-app", "-r", "yyz", "--yes", "-s", "3")
    lines = fly(state, "volumes", "list", "-a", "my-app").stdout.splitlines()
    assert [c.strip() for c in lines[0].split("│")] == [
        "ID", "STATE", "NAME", "SIZE", "REGION", "ZONE", "ENCRYPTED", "ATTACHED VM", "CREATED AT",
    ]  # fmt: skip
    row = [c.strip() for c in lines[1].split("│")]
    assert row[1:5] == ["created", "data", "3GB", "yyz"]
    assert row[8] == "now"  # go-humanize Time, on the simulator's clock
    fly(state, "volumes", "create", "data", "-a", "my-app", "-r", "yyz", "--yes")
    lines = fly(state, "volumes", "list", "-a", "my-app").stdout.splitlines()
    assert [line.split("│")[8].strip() for line in lines[1:3]] == ["1 second ago", "now"]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "now"),
        (59, "59 seconds ago"),
        (90, "1 minute ago"),
        (7200, "2 hours ago"),
        (3 * 86400, "3 days ago"),
        (40 * 86400, "1 month ago"),
        (-30, "30 seconds from now"),
    ],
)
def test_humanize_time_matches_go_humanize(seconds: int, text: str) -> None:
    now = flysim.EPOCH
    assert flysim.humanize_time(now - timedelta(seconds=seconds), now) == text


@pytest.mark.parametrize(
    ("text", "gb"),
    [("5", 5), ("+5", 5), ("5GB", 5), ("5 GB", 5), ("5gib", 5), ("2000MB", 2), ("1.5TB", 1500)],
)
def test_sizes_parse_like_helpers_parse_size(text: str, gb: int) -> None:
    assert flysim.parse_size_gb(text) == gb


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "invalid size: invalid size: ''"),
        ("1_0", 'invalid size: strconv.ParseFloat: parsing "1_0": invalid syntax'),
        ("5XB", "invalid size: invalid suffix: 'xb'"),
        ("-5GB", "invalid size: invalid size: '-5GB'"),
    ],
)
def test_bad_sizes_fail_like_go_units(text: str, message: str) -> None:
    with pytest.raises(flysim.FlyError) as caught:
        flysim.parse_size_gb(text)
    assert caught.value.message == message


def test_extend_adds_with_a_plus_and_takes_units(state: Path) -> None:
    new_app(state)
    fly(state, "volumes", "create", "data", "-a", "my-app", "-r", "yyz", "--yes", "-s", "3")
    [volume] = flysim.volumes(state, "my-app")
    assert (
        fly(state, "volumes", "extend", volume["id"], "-a", "my-app", "-s", "+2GB").returncode == 0
    )
    assert flysim.volumes(state, "my-app")[0]["size_gb"] == 5
    assert (
        fly(state, "volumes", "extend", volume["id"], "-a", "my-app", "--size", "8").returncode == 0
    )
    assert flysim.volumes(state, "my-app")[0]["size_gb"] == 8
    # --size is a string flag: "+" is not a flag, "big" fails in ParseSize.
    bad = fly(state, "volumes", "extend", volume["id"], "-a", "my-app", "-s", "big")
    assert bad.stderr == "Error: invalid size: invalid size: 'big'\n"


def test_volume_destroy_without_yes_warns_like_confirm_volume_delete(state: Path) -> None:
    new_app(state)
    fly(state, "volumes", "create", "data", "-a", "my-app", "-r", "yyz", "--yes")
    [volume] = flysim.volumes(state, "my-app")
    result = fly(state, "volumes", "destroy", volume["id"], "-a", "my-app")
    assert result.returncode == 1
    assert "Deleting this volume will leave you with 0 volume(s) for this application" in (
        result.stderr
    )
    assert result.stderr.endswith(
        "Error: yes flag must be specified when not running interactively\n"
    )


def test_scale_count_of_an_app_never_deployed_has_no_config_to_take(state: Path) -> None:
    # scale/count.go runScaleCount -> appconfig/remote.go FromRemoteApp: no release config,
    # so it is synthesized from the machines, of which there are none.
    flysim.seed_app(state, "my-app", "personal")
    result = fly(state, "scale", "count", "0", "--region", "ams", "-a", "my-app", "--yes")
    assert result.returncode == 1
    assert result.stderr == (
        "Error: failed to grab app config from existing machines, error: could not create a "
        "fly.toml from any machines :-(\n\n"
    )


# --- storage: Tigris buckets (internal/command/extensions/tigris/*.go, extensions/core)

TIGRIS_KEYS = [
    "AWS_ACCESS_KEY_ID",
    "AWS_ENDPOINT_URL_S3",
    "AWS_REGION",
    "AWS_SECRET_ACCESS_KEY",
    "BUCKET_NAME",
]
TOS_LINES = [
    "",
    flysim.TIGRIS_TOS_AGREEMENT,
    "",
    "By specifying the --yes flag, you have agreed to the terms displayed above.",
]


def storage_create(state: Path, *args: str):
    return fly(state, "storage", "create", *args)


def test_storage_create_sets_the_five_secrets_and_prints_every_value(state: Path) -> None:
    new_app(state)
    result = storage_create(state, "-a", "my-app", "-n", "my-bucket", "--yes")
    assert (result.returncode, result.stderr) == (0, "")
    [bucket] = flysim.buckets(state)
    env = bucket["environment"]
    assert sorted(env) == TIGRIS_KEYS
    assert env["AWS_ENDPOINT_URL_S3"] == "https://fly.storage.tigris.dev"
    assert env["AWS_REGION"] == "auto" and env["BUCKET_NAME"] == "my-bucket"
    assert env["AWS_ACCESS_KEY_ID"].startswith("tid_")
    assert env["AWS_SECRET_ACCESS_KEY"].startswith("tsec_")
    assert (bucket["org"], bucket["app"], bucket["status"]) == ("personal", "my-app", "ready")
    # core.go: AgreeToProviderTos (a token that is not a user has not agreed), the
    # provisioning line, setSecretsFromExtension (sorted, values included: the secret key
    # is on stdout), then secrets.go DeploySecrets on an app never deployed.
    assert result.stdout.splitlines() == [
        *TOS_LINES,
        "Your Tigris project (my-bucket) is ready. See details and next steps with: "
        "https://fly.io/docs/reference/tigris/",
        "",
        "Setting the following secrets on my-app:",
        *[f"{k}: {env[k]}" for k in TIGRIS_KEYS],
        "",
        "Secrets are staged for the first deployment",
    ]
    secrets = flysim.app_record(state, "my-app")["secrets"]
    assert {k: v["value"] for k, v in secrets.items()} == env
    listed = json.loads(fly(state, "secrets", "list", "-a", "my-app", "--json").stdout)
    assert [(s["name"], s["status"]) for s in listed] == [(k, "Staged") for k in TIGRIS_KEYS]


def test_storage_create_with_log_level_debug_writes_the_keys_to_stderr(state: Path) -> None:
    # internal/cli/cli.go Run: the context's logger is logger.FromEnv(io.ErrOut), at Debug
    # when LOG_LEVEL=debug (internal/logger/logger.go levelFromEnv); flyutil.go
    # NewClientFromOptions hands it to fly-go, whose LoggingTransport (fly-go v0.9.6 http.go
    # logRequest, loggingReadCloser) logs every GraphQL request and response body at Debug:
    # createAddOn's answer carries the bucket's environment (gql ExtensionData), the secret
    # key included, and setSecrets' request every value.
    new_app(state)
    quiet = storage_create(state, "-a", "my-app", "-n", "quiet-bucket", "--yes")
    assert (quiet.returncode, quiet.stderr) == (0, "")
    fly(state, "storage", "destroy", "-a", "my-app", "--yes")
    fly(state, "secrets", "unset", *TIGRIS_KEYS, "-a", "my-app", "--stage")
    loud = fly(
        state, "storage", "create", "-a", "my-app", "-n", "loud-bucket", "--yes",
        extra_env={"LOG_LEVEL": "debug"},
    )  # fmt: skip
    assert loud.returncode == 0, loud.stderr
    [bucket] = flysim.buckets(state)
    secret = bucket["environment"]["AWS_SECRET_ACCESS_KEY"]
    assert secret in loud.stdout
    debug = [line for line in loud.stderr.splitlines() if secret in line]
    assert len(debug) == 2 and all(line.startswith("DEBUG ") for line in debug)


def test_storage_create_on_a_deployed_app_restarts_its_machines(
    state: Path, tmp_path: Path
) -> None:
    # create.go: DeploySecrets(Stage: false) -> a restart-only deployment.
    new_app(state)
    assert fly(state, "deploy", str(build_context(tmp_path / "ctx")), "--ha=false").returncode == 0
    [before] = flysim.machines(state, "my-app")
    assert storage_create(state, "-a", "my-app", "-n", "my-bucket", "-y").returncode == 0
    [after] = flysim.machines(state, "my-app")
    assert after["restarts"] == before.get("restarts", 0) + 1
    assert after["secrets_digest"] != before.get("secrets_digest")


def test_storage_create_without_yes_stops_at_the_terms_before_the_app_is_looked_up(
    state: Path,
) -> None:
    new_app(state)
    for app in ("my-app", "nope"):
        result = storage_create(state, "-a", app, "-n", "my-bucket")
        assert (result.returncode, result.stdout.splitlines()) == (1, TOS_LINES[:3])
        assert result.stderr == (
            "Error: To agree, the --yes flag must be specified when not running interactively\n"
        )
    assert flysim.buckets(state) == []


def test_storage_create_after_agreeing_needs_a_name_or_yes(state: Path) -> None:
    # Terms agreed (a user token that agreed once): no terms text, and no question
    # either when -n names the bucket; without -n, prompt.String cannot ask.
    new_app(state)
    new_app(state, "app-two")
    flysim.agree_to_tos(state)
    named = storage_create(state, "-a", "my-app", "-n", "my-bucket")
    assert named.returncode == 0, named.stderr
    assert named.stdout.startswith("Your Tigris project (my-bucket) is ready.")
    unnamed = storage_create(state, "-a", "app-two")
    assert (unnamed.returncode, unnamed.stderr) == (1, "Error: prompt: non interactive\n")
    generated = storage_create(state, "-a", "app-two", "--yes")
    assert generated.returncode == 0, generated.stderr
    [bucket] = flysim.buckets(state, app="app-two")
    assert f"Your Tigris project ({bucket['name']}) is ready." in generated.stdout
    assert re.fullmatch(r"[a-z]+-[a-z]+-[0-9]{4}", bucket["name"])


def test_an_app_gets_one_bucket_whatever_the_name(state: Path) -> None:
    # core.go ProvisionExtension: GetAppWithAddons finds one -> error (as in flyctl#4034).
    new_app(state)
    assert storage_create(state, "-a", "my-app", "-n", "my-bucket", "-y").returncode == 0
    for name in ("my-bucket", "other-bucket"):
        again = storage_create(state, "-a", "my-app", "-n", name, "-y")
        assert again.returncode == 1
        assert again.stderr == (
            "Error: A Tigris project named my-bucket already exists for app my-app\n"
        )
        assert again.stdout.splitlines() == TOS_LINES
    assert [b["name"] for b in flysim.buckets(state)] == ["my-bucket"]


def test_storage_create_for_a_missing_app_fails_in_the_graphql_query(state: Path) -> None:
    flysim.seed_org(state, "other", member=False)
    flysim.seed_app(state, "their-app", "other")
    for app in ("nope", "their-app"):
        result = storage_create(state, "-a", app, "-n", "my-bucket", "--yes")
        assert result.returncode == 1
        # genqlient's gqlerror.List ends each error with "\n"; printError adds one.
        assert result.stderr == f'Error: input:3:2: app Could not find App "{app}"\n\n'
    assert flysim.buckets(state) == []


@pytest.mark.parametrize(
    "name",
    [
        "ab",
        "x" * 64,
        "My-Bucket",
        "my_bucket",
        "-bucket",
        "bucket-",
        "a..b",
        "xn--bucket",
        "bucket-s3alias",
        "192.168.5.4",
    ],
)
def test_storage_create_refuses_names_tigris_does_not_allow(state: Path, name: str) -> None:
    new_app(state)
    result = storage_create(state, "-a", "my-app", "-n", name, "--yes")
    assert result.returncode == 1
    assert result.stderr == "Error: input:3:2: createAddOn The specified bucket is not valid.\n\n"
    assert flysim.buckets(state) == []


def test_bucket_names_are_global(state: Path) -> None:
    flysim.seed_org(state, "other", member=True)
    new_app(state)
    assert storage_create(state, "--org", "other", "-n", "my-bucket", "-y").returncode == 0
    taken = storage_create(state, "-a", "my-app", "-n", "my-bucket", "-y")
    assert taken.returncode == 1
    assert "unavailable for creation" in taken.stderr  # API text (assumed)
    assert flysim.buckets(state, app="my-app") == []


def test_storage_create_sets_no_secret_when_the_app_has_any_of_them(state: Path) -> None:
    # core.go setSecretsFromExtension: one name in common and nothing is set or deployed;
    # the values are printed for the user to set, and the command succeeds.
    new_app(state)
    fly(state, "secrets", "import", "-a", "my-app", stdin="AWS_REGION=us-east-1\n")
    result = storage_create(state, "-a", "my-app", "-n", "my-bucket", "--yes")
    assert result.returncode == 0, result.stderr
    [bucket] = flysim.buckets(state)
    env = bucket["environment"]
    assert result.stdout.splitlines()[len(TOS_LINES) + 2 :] == [
        "Secrets [AWS_REGION] already exist on app my-app. They won't be set automatically.",
        "",
        "Set the following secrets on your target app.",
        *[f"{k}: {env[k]}" for k in TIGRIS_KEYS],
    ]
    secrets = flysim.app_record(state, "my-app")["secrets"]
    assert {k: v["value"] for k, v in secrets.items()} == {"AWS_REGION": "us-east-1"}


def test_storage_create_without_an_app_takes_the_org_from_flag_env_or_argument(
    state: Path,
) -> None:
    flysim.seed_org(state, "team", member=True)
    flysim.seed_org(state, "hidden", member=False)
    none = storage_create(state, "-n", "b-none", "-y")
    assert (none.returncode, none.stderr) == (
        1,
        "Error: slug argument must be specified when not running interactively\n",
    )
    # orgs.go slugFromArgOrSelect: --org (or $FLY_ORG), else the first argument.
    assert storage_create(state, "--org", "team", "-n", "b-flag", "-y").returncode == 0
    by_env = fly(state, "storage", "create", "-n", "b-env", "-y", extra_env={"FLY_ORG": "team"})
    assert by_env.returncode == 0
    by_arg = storage_create(state, "personal", "-n", "b-arg", "-y")
    assert by_arg.returncode == 0
    assert [(b["name"], b["org"], b["app"]) for b in flysim.buckets(state)] == [
        ("b-flag", "team", None),
        ("b-env", "team", None),
        ("b-arg", "personal", None),
    ]
    # No app: the values are printed, nothing is set.
    assert "Set the following secrets on your target app." in by_arg.stdout
    assert "Setting the following secrets" not in by_arg.stdout
    hidden = storage_create(state, "--org", "hidden", "-n", "b-hidden", "-y")
    assert hidden.stderr == (
        "Error: failed retrieving organization with slug hidden: Could not find Organization "
        "hidden\n"
    )


def test_storage_create_with_an_app_ignores_org(state: Path) -> None:
    flysim.seed_org(state, "team", member=True)
    new_app(state)
    assert (
        storage_create(state, "-a", "my-app", "-o", "team", "-n", "my-bucket", "-y").returncode == 0
    )
    assert [(b["org"], b["app"]) for b in flysim.buckets(state)] == [("personal", "my-app")]


def test_storage_create_takes_all_shadow_flags_or_none(state: Path) -> None:
    new_app(state)
    partial = storage_create(state, "-a", "my-app", "-n", "b1", "-y", "--shadow-name", "old")
    assert partial.stderr == (
        "Error: You must set all required shadow bucket values: shadow-access-key, "
        "shadow-secret-key, shadow-region, shadow-name, shadow-endpoint\n"
    )
    assert partial.stdout == ""  # refused before any API call


def test_storage_flags_are_each_commands_own(state: Path) -> None:
    for args, unknown in [
        (("storage", "list", "--json"), "--json"),
        (("storage", "create", "-a", "x", "--json"), "--json"),
        (("storage", "status", "--org", "personal"), "--org"),
        (("storage", "destroy", "b", "--org", "personal"), "--org"),
        (("storage", "list", "-a", "x"), None),
    ]:
        result = fly(state, *args)
        assert result.returncode == 1
        if unknown:
            assert result.stderr == f"Error: unknown flag: {unknown}\n"
        else:
            assert result.stderr == "Error: unknown shorthand flag: 'a' in -a\n"
        assert result.stdout.startswith(f"Usage:\n  fly storage {args[1]}")
    assert (
        "accepts at most 1 arg(s), received 2" in fly(state, "storage", "status", "a", "b").stderr
    )
    assert (
        "accepts at most 1 arg(s), received 2" in fly(state, "storage", "destroy", "a", "b").stderr
    )


def test_storage_list_is_a_name_and_org_table(state: Path) -> None:
    flysim.seed_org(state, "team", member=True)
    flysim.seed_org(state, "hidden", member=False)
    empty = fly(state, "storage", "list")
    assert empty.returncode == 0
    assert [c.strip() for c in empty.stdout.splitlines()[0].split("│")] == ["NAME", "ORG"]
    assert empty.stdout.splitlines()[1:] == [""]
    new_app(state)
    storage_create(state, "-a", "my-app", "-n", "app-bucket", "-y")
    storage_create(state, "-o", "team", "-n", "team-bucket", "-y")
    with flysim.edit_state(state) as raw:  # a bucket the token cannot see
        raw["buckets"]["their-bucket"] = {**raw["buckets"]["team-bucket"], "org": "hidden"}
        raw["buckets"]["their-bucket"]["name"] = "their-bucket"

    def rows(*args: str, **kw) -> list[list[str]]:
        result = fly(state, "storage", *args, **kw)
        assert result.returncode == 0, result.stderr
        return [[c.strip() for c in line.split("│")] for line in result.stdout.splitlines()[1:-1]]

    assert rows("list") == [["app-bucket", "personal"], ["team-bucket", "team"]]
    assert rows("ls", "--org", "team") == [["team-bucket", "team"]]
    assert rows("list", extra_env={"FLY_ORG": "personal"}) == [["app-bucket", "personal"]]
    assert rows("list", "--org", "team") == rows("list", "-o", "team")
    missing = fly(state, "tigris", "list", "--org", "hidden")
    assert (missing.returncode, missing.stderr) == (
        1,
        "Error: Could not find Organization hidden\n",
    )


def status_rows(stdout: str) -> list[list[str]]:
    lines = stdout.splitlines()
    assert lines[0] == "\x1b[1mStatus\x1b[0m"  # aurora v2 Bold, even off a terminal
    assert lines[-1] == ""
    return [[c.strip() for c in line.split("│")] for line in lines[1:-1]]


def test_storage_status_finds_a_bucket_by_name_or_by_app(state: Path, tmp_path: Path) -> None:
    new_app(state)
    new_app(state, "bare-app")
    storage_create(state, "-a", "my-app", "-n", "my-bucket", "-y")
    by_app = fly(state, "storage", "status", "-a", "my-app")
    assert by_app.returncode == 0, by_app.stderr
    assert status_rows(by_app.stdout) == [
        ["Name", "my-bucket"],
        ["Status", "ready"],
        ["Public", "False"],
        ["App", "my-app"],
    ]
    # Discover by NAME uses GetAddOn: no App row, even with -a.
    by_name = fly(state, "storage", "status", "my-bucket", "-a", "my-app")
    assert status_rows(by_name.stdout) == [
        ["Name", "my-bucket"],
        ["Status", "ready"],
        ["Public", "False"],
    ]
    app_dir = tmp_path / "app-dir"
    app_dir.mkdir()
    (app_dir / "fly.toml").write_text('app = "my-app"\n')
    from_config = fly(state, "storage", "status", cwd=app_dir)
    assert status_rows(from_config.stdout)[-1] == ["App", "my-app"]

    missing = fly(state, "storage", "status", "nope")
    assert (missing.returncode, missing.stderr) == (
        1,
        "Error: input:3:2: addOn Could not find AddOn\n\n",
    )
    bare = fly(state, "storage", "status", "-a", "bare-app")
    assert (bare.returncode, bare.stderr) == (
        1,
        "Error: No project found. Provision one with 'flyctl ext tigris create'.\n",
    )
    neither = fly(state, "storage", "status")
    assert neither.stderr == (
        "Error: Run this command in a Fly app directory or pass a name as the first argument.\n"
    )


def test_storage_status_shows_public_and_the_shadow_bucket(state: Path) -> None:
    new_app(state)
    shadow = [
        "--shadow-access-key=AK",
        "--shadow-secret-key=SK",
        "--shadow-region=us-east-1",
        "--shadow-name=old-bucket",
        "--shadow-endpoint=https://s3.example",
    ]
    result = storage_create(state, "-a", "my-app", "-n", "my-bucket", "-y", "-p", *shadow)
    assert result.returncode == 0, result.stderr
    assert status_rows(fly(state, "storage", "status", "my-bucket").stdout) == [
        ["Name", "my-bucket"],
        ["Status", "ready"],
        ["Public", "True"],
        ["Shadow Bucket Write Through", "False"],
        ["Shadow Bucket Name", "old-bucket"],
        ["Shadow Bucket Endpoint", "https://s3.example"],
    ]


def test_storage_destroy_finds_the_bucket_then_needs_yes_and_leaves_the_secrets(
    state: Path,
) -> None:
    new_app(state)
    storage_create(state, "-a", "my-app", "-n", "my-bucket", "-y")
    # Discover comes before the question.
    missing = fly(state, "storage", "destroy", "nope")
    assert missing.stderr == "Error: input:3:2: addOn Could not find AddOn\n\n"
    asked = fly(state, "storage", "destroy", "my-bucket")
    assert (asked.returncode, asked.stdout) == (1, "")
    assert asked.stderr == (
        "Destroying a Tigris storage bucket is not reversible.\n"
        "Error: yes flag must be specified when not running interactively\n"
    )
    assert len(flysim.buckets(state)) == 1
    done = fly(state, "storage", "destroy", "my-bucket", "--yes")
    assert (done.returncode, done.stdout) == (
        0,
        "Your Tigris object storage bucket my-bucket was destroyed\n",
    )
    assert flysim.buckets(state) == []
    # destroy.go only calls DeleteAddOn: the app keeps the old bucket's credentials, so
    # a new bucket's are printed, not set.
    assert sorted(flysim.app_record(state, "my-app")["secrets"]) == TIGRIS_KEYS
    again = storage_create(state, "-a", "my-app", "-n", "my-bucket-2", "-y")
    assert again.returncode == 0
    assert "already exist on app my-app. They won't be set automatically." in again.stdout
    assert flysim.app_record(state, "my-app")["secrets"]["BUCKET_NAME"]["value"] == "my-bucket"
    # By app: Discover takes the app's bucket.
    by_app = fly(state, "storage", "destroy", "-a", "my-app", "--yes")
    assert by_app.stdout == "Your Tigris object storage bucket my-bucket-2 was destroyed\n"


def test_apps_destroy_leaves_the_bucket_but_not_its_link_to_the_app(state: Path) -> None:
    # apps/destroy.go deletes only a statics bucket (statics.FindBucket, by metadata).
    new_app(state)
    storage_create(state, "-a", "my-app", "-n", "my-bucket", "-y")
    result = fly(state, "apps", "destroy", "my-app", "--yes")
    assert result.stdout == "Destroyed app my-app\n"
    [bucket] = flysim.buckets(state)
    assert (bucket["app"], bucket["former_app"]) == (None, "my-app")
    new_app(state)
    status = fly(state, "storage", "status", "-a", "my-app")
    assert "No project found" in status.stderr
    assert fly(state, "storage", "status", "my-bucket").returncode == 0
    taken = storage_create(state, "-a", "my-app", "-n", "my-bucket", "-y")
    assert "unavailable for creation" in taken.stderr


# --- machines, secrets unset and a moved primary region


def app_context(
    root: Path, *, primary: str = "yyz", top: str = "", env: str = "", mounts: bool = True
) -> Path:
    """A deploy context whose fly.toml has top-level keys (`top`), an [env] and a mount."""
    root.mkdir(parents=True, exist_ok=True)
    toml = f'app = "my-app"\nprimary_region = "{primary}"\n{top}'
    if env:
        toml += f"\n[env]\n{env}"
    if mounts:
        toml += '\n[mounts]\n  source = "data"\n  destination = "/data"\n'
    (root / "fly.toml").write_text(toml)
    (root / "Dockerfile").write_text("FROM scratch\n")
    return root


def deploy(state: Path, ctx: Path, **kw):
    result = fly(state, "deploy", str(ctx), "-a", "my-app", "--ha=false", "--yes", **kw)
    assert result.returncode == 0, result.stderr
    return result


def vol(state: Path, region: str) -> None:
    args = ("volumes", "create", "data", "-a", "my-app", "-r", region, "--yes")
    assert fly(state, *args).returncode == 0


def scale(state: Path, n: int, region: str, **kw):
    args = ("scale", "count", str(n), "--region", region, "-a", "my-app", "--yes")
    result = fly(state, *args, **kw)
    assert result.returncode == 0, result.stderr
    return result


def listed(state: Path) -> list[dict]:
    result = fly(state, "machine", "list", "-a", "my-app", "--json")
    assert (result.returncode, result.stderr) == (0, "")
    return json.loads(result.stdout)


def test_machine_list_json_is_fly_go_machine_with_the_env_fly_toml_gives(
    state: Path, tmp_path: Path
) -> None:
    # machine/list.go renders flaps List with render.JSON; fly-go Machine's json tags.
    new_app(state)
    assert fly(state, "machine", "list", "-a", "my-app", "--json").stdout == "[]\n"
    empty = fly(state, "machines", "ls", "-a", "my-app")
    assert empty.stdout == "No machines are available on this app my-app\n"
    top = 'kill_signal = "SIGTERM"\nkill_timeout = 90\n'
    deploy(state, app_context(tmp_path / "ctx", top=top, env='  LOG = "info"\n  N = 3\n'))
    [m] = listed(state)
    [volume] = flysim.volumes(state, "my-app")
    assert list(m) == [
        "id",
        "state",
        "region",
        "image_ref",
        "created_at",
        "updated_at",
        "config",
        "host_status",
        "cordoned",
    ]
    assert (m["state"], m["region"], m["cordoned"]) == ("started", "yyz", False)
    assert m["image_ref"]["registry"] == "registry.fly.io"
    assert m["image_ref"]["repository"] == "my-app"
    config = m["config"]
    assert list(config) == ["env", "init", "guest", "metadata", "mounts", "image", "stop_config"]
    # appconfig/machines.go updateMachineConfig: [env] as strings, FLY_PROCESS_GROUP, then
    # PRIMARY_REGION from primary_region; FLY_REGION is the platform's, at runtime only.
    assert config["env"] == {
        "LOG": "info",
        "N": "3",
        "FLY_PROCESS_GROUP": "app",
        "PRIMARY_REGION": "yyz",
    }
    assert config["init"] == {}
    assert config["guest"] == {"cpu_kind": "shared", "cpus": 1, "memory_mb": 256}
    assert config["metadata"]["fly_process_group"] == "app"
    assert config["metadata"]["fly_release_version"] == "1"
    assert config["mounts"] == [
        {"encrypted": True, "path": "/data", "size_gb": 1, "volume": volume["id"], "name": "data"}
    ]
    # tomachineSetStopConfig; patches.go reads an integer kill_timeout as seconds.
    assert config["stop_config"] == {"timeout": "1m30s", "signal": "SIGTERM"}
    # machine.go aliases `machines` and `m`, list.go alias `ls`; NoArgs.
    assert (
        fly(state, "m", "ls", "-a", "my-app", "--json").stdout == json.dumps([m], indent=4) + "\n"
    )
    extra = fly(state, "machine", "list", "extra", "-a", "my-app")
    assert extra.stderr == 'Error: unknown command "extra" for "fly machine list"\n'


def test_machine_list_of_an_app_the_token_cannot_see_fails_in_the_api_call(state: Path) -> None:
    flysim.seed_org(state, "other", member=False)
    flysim.seed_app(state, "my-app", "other")
    result = fly(state, "machine", "list", "-a", "my-app", "--json")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith("Error: failed to list VMs: ")


def test_machine_stop_is_graceful_with_the_machines_kill_signal_and_timeout(
    state: Path, tmp_path: Path
) -> None:
    # stop.go sends no signal and no timeout unless asked; the API takes the machine's
    # stop_config (fly.toml kill_signal / kill_timeout).
    new_app(state)
    top = 'kill_signal = "SIGTERM"\nkill_timeout = "30s"\n'
    deploy(state, app_context(tmp_path / "ctx", top=top))
    [m] = flysim.machines(state, "my-app")
    result = fly(state, "machine", "stop", m["id"], "-a", "my-app")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == (
        f"Sending kill signal to machine {m['id']}...\n{m['id']} has been successfully stopped\n"
    )
    [stopped] = flysim.machines(state, "my-app")  # a stopped machine is still listed
    assert stopped["state"] == "stopped"
    assert stopped["last_stop"] == {
        "requested_signal": "",
        "requested_timeout": "",
        "signal": "SIGTERM",
        "timeout": "30s",
    }
    assert listed(state)[0]["state"] == "stopped"


def test_machine_stop_flags_override_the_stop_config_and_the_signal_is_upper_cased(
    state: Path, tmp_path: Path
) -> None:
    new_app(state)
    deploy(state, app_context(tmp_path / "ctx", top='kill_signal = "SIGTERM"\n'))
    [m] = flysim.machines(state, "my-app")
    args = ("machine", "stop", m["id"], "-a", "my-app", "-s", "sigusr1", "--timeout", "90")
    assert fly(state, *args, "-w", "10s").returncode == 0
    [stopped] = flysim.machines(state, "my-app")
    assert stopped["last_stop"] == {
        "requested_signal": "SIGUSR1",
        "requested_timeout": "1m30s",
        "signal": "SIGUSR1",
        "timeout": "1m30s",
    }
    # --wait-timeout is a pflag Duration; --timeout an Int.
    bad = fly(state, "machine", "stop", m["id"], "-a", "my-app", "--wait-timeout", "10")
    assert bad.stderr == (
        'Error: invalid argument "10" for "-w, --wait-timeout" flag: time: missing unit in '
        'duration "10"\n'
    )
    bad = fly(state, "machine", "stop", m["id"], "-a", "my-app", "--timeout", "5s")
    assert 'invalid argument "5s" for "--timeout" flag' in bad.stderr


def test_machine_stop_waits_at_most_a_minute_whatever_wait_timeout_says(
    state: Path, tmp_path: Path
) -> None:
    # internal/command/machine/stop.go Stop: with --wait-timeout it makes one flaps Wait for
    # "stopped" and wraps its error ("machine %s did not stop within the wait timeout: %w");
    # fly-go v0.9.6 flaps/flaps_machines_wait.go WithWaitTimeout clamps the timeout to
    # [1s, proxyTimeoutThreshold = 60s] and Wait sends it once ("failed to wait for VM %s in
    # %v state: %w"; no retry: flaps.go do retries a GET only on ECONNRESET). The machine
    # still stops later: the API kills it when its stop timeout runs out.
    new_app(state)
    deploy(state, app_context(tmp_path / "ctx", top='kill_signal = "SIGTERM"\n'))
    [m] = flysim.machines(state, "my-app")
    with flysim.edit_state(state) as s:
        s["machines"][m["id"]]["stop_takes_s"] = 90  # the app's own shutdown
    args = ("machine", "stop", m["id"], "-a", "my-app", "--signal", "SIGTERM", "--timeout", "300")
    result = fly(state, *args, "--wait-timeout", "330s")
    assert result.returncode == 1
    assert result.stdout == f"Sending kill signal to machine {m['id']}...\n"
    assert result.stderr.startswith(
        f"Error: machine {m['id']} did not stop within the wait timeout: failed to wait for "
        f"VM {m['id']} in [stopped] state: "
    )
    [after] = flysim.machines(state, "my-app")
    assert after["state"] == "stopping"  # for the 30 s its shutdown still takes
    waited = {"requested": "5m30s", "sent_seconds": 60}
    assert after["last_stop_wait"] == {**waited, "stopped_after_s": 90}
    # A shutdown within the minute is waited for; the stop timeout bounds the shutdown.
    with flysim.edit_state(state) as s:
        s["machines"][m["id"]].update(state="started", stop_takes_s=90)
    ok = fly(state, *args[:-2], "--timeout", "45", "--wait-timeout", "330s")
    assert (ok.returncode, ok.stderr) == (0, "")
    [after] = flysim.machines(state, "my-app")
    assert after["last_stop_wait"] == {**waited, "stopped_after_s": 45}
    # Without --wait-timeout nothing is waited for.
    with flysim.edit_state(state) as s:
        s["machines"][m["id"]].update(state="started", stop_takes_s=600)
    assert fly(state, *args).returncode == 0
    assert "last_stop_wait" not in flysim.machines(state, "my-app")[0]


def test_machine_stop_looks_up_every_id_before_stopping_any(state: Path, tmp_path: Path) -> None:
    # select.go selectManyMachines gets each machine first; rewriteMachineNotFoundErrors.
    new_app(state)
    deploy(state, app_context(tmp_path / "ctx", mounts=False))
    [m] = flysim.machines(state, "my-app")
    result = fly(state, "machine", "stop", m["id"], "nope", "-a", "my-app")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "Error: machine nope was not found in app 'my-app'\n"
    assert flysim.machines(state, "my-app")[0]["state"] == "started"
    # checkSelectConditions: no IDs means a prompt, which fails when not interactive.
    none = fly(state, "machine", "stop", "-a", "my-app")
    assert none.stderr == "Error: a machine ID must be specified when not running interactively\n"
    assert fly(state, "machine", "stop").stderr == (
        "Error: a machine ID or an app name is required\n"
    )


def test_secrets_unset_ignores_unknown_names_and_restarts_the_machines(
    state: Path, tmp_path: Path
) -> None:
    # unset.go -> appsecrets.Update (unknown names are no error) -> DeploySecrets.
    new_app(state)
    fly(state, "secrets", "import", "-a", "my-app", "--stage", stdin="A=1\nB=2\n")
    deploy(state, app_context(tmp_path / "ctx", mounts=False))
    [before] = flysim.machines(state, "my-app")
    result = fly(state, "secrets", "unset", "A", "NOPE", "-a", "my-app")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == "Updating existing machines in 'my-app' with rolling strategy\n"
    assert sorted(flysim.app_record(state, "my-app")["secrets"]) == ["B"]
    [after] = flysim.machines(state, "my-app")
    assert after["restarts"] == before.get("restarts", 0) + 1
    assert after["secrets_digest"] != before["secrets_digest"]
    # The restart is a release of the deployed config: the machine runs it.
    listed_secrets = json.loads(fly(state, "secrets", "list", "-a", "my-app", "--json").stdout)
    assert [(s["name"], s["status"]) for s in listed_secrets] == [("B", "Deployed")]
    assert fly(state, "secrets", "unset", "-a", "my-app").stderr.startswith(
        "Error: requires at least 1 arg(s), only received 0\n"
    )


def test_secrets_unset_with_stage_leaves_the_machines_alone(state: Path, tmp_path: Path) -> None:
    new_app(state)
    fly(state, "secrets", "import", "-a", "my-app", "--stage", stdin="A=1\n")
    deploy(state, app_context(tmp_path / "ctx", mounts=False))
    [before] = flysim.machines(state, "my-app")
    result = fly(state, "secrets", "unset", "A", "-a", "my-app", "--stage")
    assert result.stdout == (
        "Secrets have been staged, but not set on VMs. Deploy or update machines in this "
        "app for the secrets to take effect.\n"
    )
    assert flysim.app_record(state, "my-app")["secrets"] == {}
    [after] = flysim.machines(state, "my-app")
    assert (after.get("restarts"), after["secrets_digest"]) == (
        before.get("restarts"),
        before["secrets_digest"],
    )


def test_secrets_unset_on_an_app_never_deployed_stages_them_and_a_missing_app_fails(
    state: Path,
) -> None:
    new_app(state)
    fly(state, "secrets", "import", "-a", "my-app", "--stage", stdin="A=1\n")
    result = fly(state, "secrets", "unset", "A", "-a", "my-app")
    assert (result.returncode, result.stdout) == (
        0,
        "Secrets are staged for the first deployment\n",
    )
    assert flysim.app_record(state, "my-app")["releases"] == []
    missing = fly(state, "secrets", "unset", "A", "-a", "nope")
    assert missing.stderr == 'Error: Could not find App "nope"\n'


def test_a_stopped_machine_stays_stopped_through_a_secrets_restart_and_a_deploy(
    state: Path, tmp_path: Path
) -> None:
    # machines_launchinput.go shouldSkipLaunch: only started machines are launched again.
    new_app(state)
    ctx = app_context(tmp_path / "ctx", mounts=False)
    deploy(state, ctx)
    [m] = flysim.machines(state, "my-app")
    fly(state, "machine", "stop", m["id"], "-a", "my-app")
    assert fly(state, "secrets", "unset", "A", "-a", "my-app").returncode == 0
    deploy(state, ctx)
    [after] = flysim.machines(state, "my-app")
    assert (after["state"], after.get("restarts"), after["release_version"]) == (
        "stopped",
        None,
        3,
    )


def test_deploy_with_a_new_primary_region_updates_every_machine_where_it_is(
    state: Path, tmp_path: Path
) -> None:
    # (a) the old primary still runs: deployMachinesApp updates each machine in its own
    # region (launchInputForUpdate) and creates none, since the group has machines.
    new_app(state)
    vol(state, "yyz")
    deploy(state, app_context(tmp_path / "ctx", primary="yyz"))
    scale(state, 1, "lhr")
    before = {m["region"]: m["id"] for m in flysim.machines(state, "my-app")}
    result = deploy(state, app_context(tmp_path / "ctx", primary="lhr"))
    assert "create" not in result.stdout and "Process groups" not in result.stdout
    assert "Updating existing machines in 'my-app' with rolling strategy" in result.stdout
    after = flysim.machines(state, "my-app")
    assert {m["region"]: m["id"] for m in after} == before
    assert {m["config"]["env"]["PRIMARY_REGION"] for m in after} == {"lhr"}
    assert {m["release_version"] for m in after} == {2}
    # scale count clones the group's first machine (count_machines.go computeActions),
    # which now carries the new PRIMARY_REGION.
    scale(state, 1, "ams")
    [ams] = flysim.machines(state, "my-app", region="ams")
    assert ams["config"]["env"]["PRIMARY_REGION"] == "lhr"


def test_deploy_with_a_new_primary_region_creates_nothing_there_if_others_have_machines(
    state: Path, tmp_path: Path
) -> None:
    # (b) the old primary was scaled away: the group still has machines, so nothing is
    # launched in the new primary region; the replicas learn the new PRIMARY_REGION.
    new_app(state)
    vol(state, "yyz")
    deploy(state, app_context(tmp_path / "ctx", primary="yyz"))
    scale(state, 1, "lhr")
    scale(state, 0, "yyz")
    deploy(state, app_context(tmp_path / "ctx", primary="ams"))
    [lhr] = flysim.machines(state, "my-app")
    assert (lhr["region"], lhr["config"]["env"]["PRIMARY_REGION"]) == ("lhr", "ams")


def test_deploy_to_an_app_with_no_machines_launches_one_in_the_new_primary_region(
    state: Path, tmp_path: Path
) -> None:
    # (c) no machines, but released: not a first deploy (setFirstDeploy), so no seed
    # volume; validateVolumeConfig wants an unattached volume of the mount's name
    # somewhere, launchInputForLaunch one in the new primary region.
    new_app(state)
    vol(state, "yyz")
    deploy(state, app_context(tmp_path / "ctx", primary="yyz"))
    scale(state, 0, "yyz", extra_env={"FLY_SIM_DETACH_AFTER_CALLS": "100"})
    ctx = app_context(tmp_path / "ctx", primary="lhr")
    args = ("deploy", str(ctx), "-a", "my-app", "--ha=false", "--yes")
    no_volume = fly(state, *args, extra_env={"FLY_SIM_DETACH_AFTER_CALLS": "100"})
    assert after_build(no_volume.stderr) == (
        "Error: creating a new machine in group 'app' requires an unattached 'data' volume. "
        "Create it with `fly volume create data`\n"
    )
    vol(state, "ams")
    wrong_region = fly(state, *args)
    assert after_build(wrong_region.stderr) == (
        "Error: error creating machine configuration: New machine in group 'app' needs an "
        "unattached volume named 'data' in region 'lhr'\n"
    )
    vol(state, "lhr")
    result = deploy(state, ctx)
    assert (
        'Process groups have changed. This will:\n * create 1 "app" machine\n\n'
        "No machines in group app, launching a new machine\n"
    ) in result.stdout
    assert "Creating a " not in result.stdout  # no seed volume: not a first deploy
    [m] = flysim.machines(state, "my-app")
    assert (m["region"], m["config"]["env"]["PRIMARY_REGION"]) == ("lhr", "lhr")


def test_machine_list_table_counts_the_machines_and_links_to_the_ui(
    state: Path, tmp_path: Path
) -> None:
    # list.go: the count line, iostreams.go CreateLink (plain text off a terminal that
    # takes no hyperlinks), then render.Table titled with the app name.
    new_app(state)
    deploy(state, app_context(tmp_path / "ctx", mounts=False))
    [m] = flysim.machines(state, "my-app")
    lines = fly(state, "machine", "list", "-a", "my-app").stdout.splitlines()
    assert lines[:4] == [
        "1 machines have been retrieved from app my-app.",
        "View them in the UI here (\u200bhttps://fly.io/apps/my-app/machines/)",
        "",
        "\x1b[1mmy-app\x1b[0m",
    ]
    assert lines[4].split("│")[0].strip() == "ID"
    assert lines[5].split("│")[0].strip() == m["id"]
    assert "shared-cpu-1x:256MB" in lines[5]
    quiet = fly(state, "machine", "list", "-a", "my-app", "-q").stdout
    assert quiet.split() == [m["id"]]
