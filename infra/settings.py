"""A stack's configuration, typed and validated once, before any resource exists.

Every default of the program lives here. `Pulumi.yaml`'s config schema and the README's config
table are checked against this model by a test, so the three cannot drift apart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pulumi import RunError
from pulumi.runtime import config as pulumi_config
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

PROJECT = "letter-unboxed-db"

# Fly's regions as listed in its docs (2026). A region code outside this list is almost always a
# typo, and flyctl would only say so after the app already exists.
FLY_REGIONS = (
    "ams", "arn", "bom", "cdg", "dfw", "ewr", "fra", "gru", "iad",
    "jnb", "lax", "lhr", "nrt", "ord", "sin", "sjc", "syd", "yyz",
)  # fmt: skip

# Fly app names become DNS labels (<app>.fly.dev, <region>.<app>.internal).
APP_NAME = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
# Fly volume names: letters, digits and underscores (flyctl volumes create), at most 30.
VOLUME_NAME = r"^[a-z0-9_]{1,30}$"
# Image tags and versions end up in a Dockerfile and a shell: a strict shape keeps them inert.
SQLD_VERSION = r"^v\d+\.\d+\.\d+$"
LITESTREAM_VERSION = r"^\d+\.\d+\.\d+$"
DURATION = r"^\d+(ms|s|m|h)$"
VM_SIZES = (
    "shared-cpu-1x", "shared-cpu-2x", "shared-cpu-4x", "shared-cpu-8x",
    "performance-1x", "performance-2x", "performance-4x", "performance-8x", "performance-16x",
)  # fmt: skip
SAFE_PATH_SEGMENT = r"^[A-Za-z0-9._-]+$"
EXECUTABLE = r"^[A-Za-z0-9_./-]+$"
ABSOLUTE_PATH = r"^/[A-Za-z0-9._/-]*$"
S3_BUCKET = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
HTTP_URL = r"^https?://[A-Za-z0-9.-]+(:\d+)?/?$"
S3_REGION = r"^[a-z0-9-]+$"

# What each pattern allows, in words, for error messages.
PATTERN_RULES = {
    APP_NAME: "lowercase letters, digits and dashes (1-63), not starting or ending with a dash",
    VOLUME_NAME: "lowercase letters, digits and underscores (1-30)",
    SQLD_VERSION: "a libsql-server release tag like v0.24.32",
    LITESTREAM_VERSION: "a Litestream release like 0.5.17",
    DURATION: "a number with a unit ms, s, m or h, like 1s or 5m",
    EXECUTABLE: "a command name or path of letters, digits, '.', '_', '/' and '-'",
    ABSOLUTE_PATH: "an absolute path of letters, digits, '.', '_', '/' and '-'",
    S3_BUCKET: "an S3 bucket name: 3-63 lowercase letters, digits, '.' and '-'",
    HTTP_URL: "an http(s) URL with host and optional port, no path",
    S3_REGION: "lowercase letters, digits and dashes",
}

Port = Annotated[int, Field(ge=1, le=65535)]

# restoreFrom: another stack's backup as an S3 URL (bucket, then the key prefix Litestream wrote).
RESTORE_FROM_URL = (
    r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])"
    r"/(?P<path>[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*)$"
)
RESTORE_FROM_RULE = (
    "s3://BUCKET/PATH: an S3 bucket name (3-63 lowercase letters, digits, '.' and '-'), then the "
    "backup's key prefix (segments of letters, digits, '.', '_' and '-', no '..', no trailing '/')"
)
# What `litestream restore -timestamp` accepts: Go's time.Parse(time.RFC3339, ...)
# (cmd/litestream/restore.go), i.e. date, 'T', time, optional fraction, 'Z' or an offset.
RFC3339 = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$"

# On each machine, sqld's admin API and Litestream's metrics server listen on these loopback ports;
# only metricsPort faces Fly's scraper (assets/metrics.pl reads both and serves GET /metrics).
ADMIN_PORT = 9090
LITESTREAM_METRICS_PORT = 9092


class StackSettings(BaseModel):
    """Everything one stack can set. Field names are the config keys in camelCase."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )

    # Where it runs
    target: Literal["fly", "local"] = Field(
        "fly", description="Where the database runs: `fly` (Fly.io) or `local` (this machine)."
    )
    app_name: str = Field(
        pattern=APP_NAME,
        description="Fly app name: lowercase letters, digits and dashes; also the hostname.",
    )
    org: str = Field("personal", pattern=APP_NAME, description="Fly organization slug.")
    primary_region: str = Field(
        "yyz", description="Fly region of the primary (the only machine that takes writes)."
    )
    replicas: dict[str, Annotated[int, Field(ge=1, le=10)]] = Field(
        default_factory=dict,
        description='Read replicas, as machine counts per region, e.g. `["ams=1", "sin=2"]`.',
    )
    protect: bool = Field(
        False, description="Protect the app and primary volume from `pulumi destroy`."
    )
    # `flyctl`, not `fly`: CI's setup-flyctl action installs the release archive, which holds
    # only the `flyctl` binary (the `fly` link comes from the install script or brew).
    flyctl: str = Field(
        "flyctl",
        pattern=EXECUTABLE,
        description="The flyctl executable to run (a name on PATH or a path).",
    )

    # Volume
    volume_name: str = Field(
        "db_data", pattern=VOLUME_NAME, description="Name of the Fly volume on each machine."
    )
    volume_size_gb: int = Field(1, ge=1, le=500, description="Size of each volume in GB.")
    mount_path: str = Field(
        "/data",
        pattern=ABSOLUTE_PATH,
        description="Where the volume is mounted in the machine.",
    )
    snapshot_retention_days: int = Field(
        5, ge=1, le=60, description="Days Fly keeps daily volume snapshots."
    )

    # Versions
    sqld_version: str = Field(
        "v0.24.32",
        pattern=SQLD_VERSION,
        description="libsql-server image tag (sqld version), e.g. `v0.24.32`.",
    )
    litestream_version: str = Field(
        "0.5.17", pattern=LITESTREAM_VERSION, description="Litestream image tag, e.g. `0.5.17`."
    )

    # Ports
    http_port: Port = Field(8080, description="sqld HTTP port inside the machine (behind 443/80).")
    tls_port: Port = Field(
        5000, description="Public TLS port forwarded to sqld HTTP (`libsql://APP.fly.dev:5000`)."
    )
    grpc_port: Port = Field(
        5001, description="sqld gRPC replication port, on the private network only."
    )
    metrics_port: Port = Field(
        9091,
        description="Port Fly's Prometheus scrapes for `/metrics`, the only metrics port that "
        "leaves a machine.",
    )

    # Scale to zero
    auto_stop: Literal["off", "stop", "suspend"] = Field(
        "stop", description="What Fly's proxy does with idle machines: `off`, `stop` or `suspend`."
    )
    auto_start: bool = Field(True, description="Let Fly's proxy start stopped machines on traffic.")
    min_machines_running: int = Field(
        0, ge=0, le=1, description="Machines kept running in the primary region (0 or 1)."
    )

    # Machine size
    vm_size: str = Field("shared-cpu-1x", description="Fly machine size preset.")
    vm_memory_mb: int = Field(256, ge=256, le=65536, description="Machine memory in MB.")
    kill_timeout_seconds: int = Field(
        30, ge=5, le=300, description="Seconds Fly waits after SIGTERM (Litestream's final sync)."
    )

    # Backups
    backup_target: Literal["tigris", "file", "s3"] = Field(
        "tigris",
        description="Litestream target: `tigris` (a bucket the program makes on Fly), `file` (on "
        "the primary's volume; the local target's choice) or `s3` (a bucket you give).",
    )
    backup_path: str = Field(
        "backups",
        description="File target: folder under the mount path. S3: key prefix in the bucket.",
    )
    backup_sync_interval: str = Field(
        "1s", pattern=DURATION, description="How often Litestream ships new WAL frames, e.g. `1s`."
    )
    # The S3 keys default to "" (not set), never to nothing: the Pulumi CLI requires in every
    # stack each key Pulumi.yaml declares without a default (pkg/workspace/config.go mergeConfig).
    s3_bucket: str = Field(
        "", description="S3 target: bucket name. Tigris: the bucket to make (`<appName>-backup`)."
    )
    s3_endpoint: str = Field(
        "", description="S3 target: endpoint URL (Tigris: `https://fly.storage.tigris.dev`)."
    )
    s3_region: str = Field("auto", pattern=S3_REGION, description="S3 target: region.")
    s3_access_key_id: SecretStr = Field(
        SecretStr(""), description="S3 target: access key id (set it with `--secret`)."
    )
    s3_secret_access_key: SecretStr = Field(
        SecretStr(""), description="S3 target: secret access key (set it with `--secret`)."
    )

    # Clone: an empty primary starts from another stack's backup (only read, never written).
    restore_from: str = Field(
        "",
        description="Clone: start an empty primary from this backup, `s3://BUCKET/PATH` "
        "(another stack's bucket and backupPath); only read, never written.",
    )
    restore_from_time: str = Field(
        "",
        description="Clone: the backup as of this RFC 3339 time, e.g. `2026-12-01T09:00:00Z`; "
        "empty: its latest.",
    )
    restore_from_endpoint: str = Field(
        "https://fly.storage.tigris.dev",
        pattern=HTTP_URL,
        description="Clone: the backup's S3 endpoint URL.",
    )
    restore_from_region: str = Field(
        "auto", pattern=S3_REGION, description="Clone: the backup's S3 region."
    )
    restore_from_access_key_id: SecretStr = Field(
        SecretStr(""),
        description="Clone: access key id for the backup, read-only if you can (set it with "
        "`--secret`).",
    )
    restore_from_secret_access_key: SecretStr = Field(
        SecretStr(""), description="Clone: its secret access key (set it with `--secret`)."
    )

    # Deploys
    deploy_strategy: Literal["rolling", "immediate"] = Field(
        "rolling",
        description="`fly deploy` strategy; `canary` and `bluegreen` do not work with volumes.",
    )
    deploy_wait_timeout: str = Field(
        "5m", pattern=DURATION, description="How long `fly deploy` waits for healthy machines."
    )

    # Keys and tokens
    key_version: int = Field(
        1, ge=1, description="Bump to rotate the JWT signing key (old tokens stop working)."
    )
    tls_version: int = Field(
        1, ge=1, description="Bump to rotate the gRPC mutual-TLS certificates."
    )
    token_expiry_days: int = Field(
        0, ge=0, le=3650, description="Days until the output tokens expire; 0 means never."
    )

    # Local target
    local_http_port: Port = Field(
        8080, description="Local target: the primary's HTTP port on 127.0.0.1 (replicas follow)."
    )
    local_grpc_port: Port = Field(
        5001, description="Local target: the primary's gRPC port on 127.0.0.1."
    )
    local_metrics_port: Port = Field(
        9091,
        description="Local target: the primary's `/metrics` port on 127.0.0.1 (replicas follow).",
    )

    @field_validator("primary_region")
    @classmethod
    def _known_region(cls, region: str) -> str:
        if region not in FLY_REGIONS:
            raise ValueError(f"unknown Fly region; allowed: {', '.join(FLY_REGIONS)}")
        return region

    @field_validator("replicas", mode="before")
    @classmethod
    def _parse_replicas(cls, value: Any) -> Any:
        """Accept `["ams=1", "sin"]` (the stack-file form, also as JSON text) or a mapping."""
        if isinstance(value, str) and value.lstrip().startswith("["):
            value = json.loads(value)
        if isinstance(value, (list, tuple)):
            counts: dict[str, Any] = {}
            for item in value:
                if not isinstance(item, str) or not re.fullmatch(r"[a-z]{3}(=\d+)?", item):
                    raise ValueError(f"{item!r} is not REGION or REGION=COUNT, e.g. 'ams=1'")
                region, _, count = item.partition("=")
                if region in counts:
                    raise ValueError(f"region {region!r} is listed twice")
                counts[region] = int(count or 1)
            return counts
        return value

    @field_validator("replicas")
    @classmethod
    def _known_replica_regions(cls, replicas: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(replicas) - set(FLY_REGIONS))
        if unknown:
            raise ValueError(
                f"unknown Fly region {', '.join(unknown)}; allowed: {', '.join(FLY_REGIONS)}"
            )
        return replicas

    @field_validator("vm_size")
    @classmethod
    def _known_vm_size(cls, size: str) -> str:
        if size not in VM_SIZES:
            raise ValueError(f"unknown machine size; allowed: {', '.join(VM_SIZES)}")
        return size

    @field_validator(
        "s3_bucket", "s3_endpoint", "s3_access_key_id", "s3_secret_access_key", mode="before"
    )
    @classmethod
    def _unset_is_empty(cls, value: Any) -> Any:
        return "" if value is None else value

    @field_validator("s3_bucket", "s3_endpoint")
    @classmethod
    def _empty_or_well_formed(cls, value: str, info: ValidationInfo) -> str:
        pattern = {"s3_bucket": S3_BUCKET, "s3_endpoint": HTTP_URL}[info.field_name]
        if value and not re.fullmatch(pattern, value):
            raise ValueError("must be " + PATTERN_RULES[pattern])
        return value

    @field_validator("backup_path")
    @classmethod
    def _relative_path(cls, path: str) -> str:
        parts = path.split("/")
        if not all(re.fullmatch(SAFE_PATH_SEGMENT, p) and p not in (".", "..") for p in parts):
            raise ValueError(
                "must be a relative path of letters, digits, '.', '_' and '-' segments, no '..'"
            )
        return path

    @field_validator(
        "restore_from", "restore_from_time", "restore_from_access_key_id",
        "restore_from_secret_access_key", mode="before",
    )  # fmt: skip
    @classmethod
    def _restore_from_unset_is_empty(cls, value: Any) -> Any:
        return "" if value is None else value

    @field_validator("restore_from")
    @classmethod
    def _restore_from_url(cls, url: str) -> str:
        match = re.fullmatch(RESTORE_FROM_URL, url)
        if url and (not match or {".", ".."} & set(match["path"].split("/"))):
            raise ValueError("must be " + RESTORE_FROM_RULE)
        return url

    @field_validator("restore_from_time")
    @classmethod
    def _restore_from_rfc3339(cls, when: str) -> str:
        if when:
            try:
                if not re.fullmatch(RFC3339, when):
                    raise ValueError
                datetime.fromisoformat(when.replace("Z", "+00:00"))  # a real date and time
            except ValueError:
                raise ValueError(
                    "must be an RFC 3339 time with a zone, like 2026-12-01T09:00:00Z or "
                    "2026-12-01T10:00:00+01:00 (`date -u +%Y-%m-%dT%H:%M:%SZ`)"
                ) from None
        return when

    def _restore_from_problems(self) -> list[tuple[str, Any, str]]:
        """What makes restoreFrom unusable: missing keys, another target, or our own backup."""
        if not self.restore_from:
            return []
        problems: list[tuple[str, Any, str]] = []
        if self.target != "fly":
            problems.append(
                ("restoreFrom", self.restore_from, "a clone starts on Fly only (target: fly)")
            )
        for key in ("restore_from_access_key_id", "restore_from_secret_access_key"):
            if not getattr(self, key).get_secret_value():
                problems.append((to_camel(key), NOT_SET, "required when restoreFrom is set"))
        if self.restore_from == self.own_backup_url:
            problems.append(
                (
                    "restoreFrom",
                    self.restore_from,
                    "is this stack's own backup target (same bucket and backupPath): a clone "
                    "reads another stack's backup and writes its own elsewhere",
                )
            )
        return problems

    @model_validator(mode="after")
    def _cross_field_rules(self) -> StackSettings:
        problems: list[tuple[str, Any, str]] = []
        if self.primary_region in self.replicas:
            problems.append(
                (
                    "replicas",
                    self.primary_region,
                    "a replica cannot run in the primary region: run.sh picks the role by "
                    "region, so a second machine there would also act as primary",
                )
            )
        fly_may_stop_primary = self.auto_stop != "off" and self.min_machines_running == 0
        if self.target == "fly" and self.replicas and fly_may_stop_primary:
            problems.append(
                (
                    "minMachinesRunning",
                    0,
                    "replicas need a primary that is always up (set minMachinesRunning: 1 or "
                    "autoStop: off): replicas forward writes over the private network, which "
                    "does not wake a stopped primary",
                )
            )
        if self.backup_target == "tigris" and self.target != "fly":
            problems.append(
                (
                    "backupTarget",
                    "tigris",
                    "a Tigris bucket belongs to a Fly app; the local target backs up with "
                    "`file` (set backupTarget: file) or `s3`",
                )
            )
        if self.backup_target == "tigris":
            for key in ("s3_endpoint", "s3_access_key_id", "s3_secret_access_key"):
                value = getattr(self, key)
                if value.get_secret_value() if isinstance(value, SecretStr) else value:
                    shown = "[secret]" if isinstance(value, SecretStr) else value
                    problems.append(
                        (
                            to_camel(key),
                            shown,
                            "not used with backupTarget tigris: flyctl makes the bucket and "
                            "gives its credentials to the app",
                        )
                    )
            if len(self.tigris_bucket) > 63:
                problems.append(
                    (
                        "s3Bucket",
                        self.s3_bucket or NOT_SET,
                        f"the bucket name {self.tigris_bucket!r} is longer than 63 characters: "
                        "set s3Bucket to a shorter one",
                    )
                )
        if self.backup_target == "s3":
            for key in ("s3_bucket", "s3_endpoint", "s3_access_key_id", "s3_secret_access_key"):
                value = getattr(self, key)
                if not (value.get_secret_value() if isinstance(value, SecretStr) else value):
                    problems.append((to_camel(key), NOT_SET, "required when backupTarget is s3"))
        ports = {"httpPort": self.http_port, "tlsPort": self.tls_port, "grpcPort": self.grpc_port}
        if len(set(ports.values())) != len(ports):
            problems.append(("grpcPort", self.grpc_port, f"ports must differ: {ports}"))
        if self.metrics_port in ports.values():
            problems.append(
                ("metricsPort", self.metrics_port, f"must differ from the other ports: {ports}")
            )
        loopback = {ADMIN_PORT: "sqld's admin API", LITESTREAM_METRICS_PORT: "Litestream's metrics"}
        for key, port in {"httpPort": self.http_port, "grpcPort": self.grpc_port,
                          "metricsPort": self.metrics_port}.items():  # fmt: skip
            if port in loopback:
                problems.append(
                    (key, port, f"taken on every machine by {loopback[port]} (on loopback)")
                )
        if self.target == "local" and self.local_grpc_port == self.local_http_port:
            problems.append(
                ("localGrpcPort", self.local_grpc_port, "must differ from localHttpPort")
            )
        local_ports = (self.local_http_port, self.local_grpc_port)
        if self.target == "local" and self.local_metrics_port in local_ports:
            problems.append(
                (
                    "localMetricsPort",
                    self.local_metrics_port,
                    "must differ from localHttpPort and localGrpcPort",
                )
            )
        problems += self._restore_from_problems()
        if problems:
            raise SettingsError(problems)
        return self

    # Derived values: computed here so no other module re-derives them.

    @property
    def own_backup_url(self) -> str:
        """This stack's own backup target as s3://BUCKET/PATH; "" for the file target."""
        if self.backup_target == "file":
            return ""
        bucket = self.tigris_bucket if self.backup_target == "tigris" else self.s3_bucket
        return f"s3://{bucket}/{self.backup_path}"

    @property
    def restore_from_bucket(self) -> str:
        match = re.fullmatch(RESTORE_FROM_URL, self.restore_from)
        return match["bucket"] if match else ""

    @property
    def restore_from_path(self) -> str:
        match = re.fullmatch(RESTORE_FROM_URL, self.restore_from)
        return match["path"] if match else ""

    @property
    def replica_regions(self) -> list[str]:
        return sorted(self.replicas)

    @property
    def tigris_bucket(self) -> str:
        """The bucket `backupTarget: tigris` makes (Tigris bucket names are global)."""
        return self.s3_bucket or f"{self.app_name}-backup"

    @property
    def public_hostname(self) -> str:
        return f"{self.app_name}.fly.dev"


class _NotSet:
    def __repr__(self) -> str:
        return "(not set)"


NOT_SET = _NotSet()


class SettingsError(RunError, ValueError):
    """One message listing every bad key, its value and what is allowed.

    A RunError, so `pulumi up` prints the message alone, without a Python traceback.
    """

    def __init__(self, problems: list[tuple[str, Any, str]]):
        self.problems = problems
        lines = [f"  {PROJECT}:{key} = {value!r}: {why}" for key, value, why in problems]
        super().__init__(
            f"invalid stack config ({len(problems)} problem{'s' * (len(problems) != 1)}):\n"
            + "\n".join(lines)
        )


def secret_config_keys() -> list[str]:
    """Config keys typed SecretStr: their values are never echoed and must be set encrypted."""
    return [key for key, field in config_keys().items() if field.annotation is SecretStr]


def _hide_secret(key: str, value: Any) -> Any:
    return "[secret]" if key in secret_config_keys() else value


def parse_settings(
    raw: Mapping[str, Any], secret_keys: Collection[str] | None = None
) -> StackSettings:
    """Validate a stack's config (keys without the project prefix) into settings.

    secret_keys (unprefixed), when given, are the keys the stack holds encrypted: a SecretStr key
    set in plain text is refused, since Pulumi.yaml cannot mark it `secret: true` (the CLI would
    then demand it in every stack). Raises SettingsError naming every bad key at once; secret
    values are never echoed.
    """
    try:
        settings = StackSettings.model_validate(dict(raw))
    except ValidationError as err:
        raise SettingsError(_problems(raw, err)) from None
    if secret_keys is not None:
        plain = [key for key in secret_config_keys() if raw.get(key) and key not in secret_keys]
        if plain:
            raise SettingsError(
                [
                    (key, "[secret]", f"set it encrypted: `pulumi config set --secret {key} ...`")
                    for key in plain
                ]
            )
    return settings


def _problems(raw: Mapping[str, Any], err: ValidationError) -> list[tuple[str, Any, str]]:
    problems: list[tuple[str, Any, str]] = []
    for e in err.errors():
        if isinstance(e.get("ctx", {}).get("error"), SettingsError):
            problems.extend(e["ctx"]["error"].problems)
            continue
        top = str(e["loc"][0]) if e["loc"] else "(stack)"
        if e["type"] == "extra_forbidden":
            why = "unknown key; allowed keys: " + ", ".join(sorted(config_keys()))
        elif e["type"] == "missing":
            why = f"required; {config_keys()[top].description}"
        elif e["type"] == "string_pattern_mismatch":
            why = "must be " + PATTERN_RULES[e["ctx"]["pattern"]]
        else:
            why = e["msg"].removeprefix("Value error, ")
        value = raw.get(top, e.get("input")) if e["type"] != "missing" else NOT_SET
        inner = ".".join(str(p) for p in e["loc"][1:])
        if inner:
            why = f"{inner}: {why}"
        problems.append((top, _hide_secret(top, value), why))
    return problems


def config_keys() -> dict[str, Any]:
    """Config key (camelCase) -> pydantic field, in declaration order."""
    return {field.alias or name: field for name, field in StackSettings.model_fields.items()}


def load_settings() -> StackSettings:
    """Read this project's keys from the running Pulumi stack's config and validate them."""
    prefix = f"{PROJECT}:"
    raw: dict[str, Any] = {}
    # The language host passes config in PULUMI_CONFIG; set_all_config (automation API, tests)
    # sets it in-process. Read both, in-process winning, as pulumi.Config does.
    config = {**pulumi_config.get_config_env(), **pulumi_config.CONFIG.get()}
    for full_key, value in config.items():
        if not full_key.startswith(prefix):
            continue
        try:
            # Structured values (arrays) arrive as JSON text; scalars stay strings for pydantic.
            parsed = json.loads(value)
            raw[full_key[len(prefix) :]] = parsed if isinstance(parsed, (list, dict)) else value
        except (json.JSONDecodeError, TypeError):
            raw[full_key[len(prefix) :]] = value
    # Which keys the stack holds encrypted: from the language host's environment, or in-process.
    from_env = set(pulumi_config.get_config_secret_keys_env())
    encrypted = {
        key
        for key in secret_config_keys()
        if prefix + key in from_env or pulumi_config.is_config_secret(prefix + key)
    }
    return parse_settings(raw, encrypted)
