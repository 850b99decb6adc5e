"""Stack config validation: valid stacks load; every bad input is named in one clear error."""

from pathlib import Path

import pytest
import yaml

from infra.settings import FLY_REGIONS, SettingsError, parse_settings

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "letter-unboxed-db:"


def stack_config(stack: str) -> dict:
    config = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    return {key.removeprefix(PREFIX): value for key, value in config.items()}


def test_prod_stack_is_what_the_design_asks_for():
    prod = parse_settings(stack_config("prod"))
    assert prod.app_name == "letter-unboxed-db"
    assert prod.primary_region == "yyz"
    assert prod.volume_size_gb == 10
    assert prod.min_machines_running >= 1
    assert prod.protect is True


def test_staging_is_a_separate_smaller_scale_to_zero_app():
    prod, staging = parse_settings(stack_config("prod")), parse_settings(stack_config("staging"))
    assert staging.app_name != prod.app_name
    assert staging.volume_size_gb < prod.volume_size_gb
    assert staging.auto_stop != "off" and staging.min_machines_running == 0


def test_defaults_are_the_seeds():
    s = parse_settings({"appName": "x"})
    assert (s.org, s.primary_region, s.volume_name, s.mount_path) == (
        "personal",
        "yyz",
        "db_data",
        "/data",
    )
    assert (s.http_port, s.tls_port, s.grpc_port) == (8080, 5000, 5001)
    assert s.backup_target == "tigris" and s.tigris_bucket == "x-backup"
    assert s.replicas == {}


def test_replicas_parse_from_stack_file_form():
    s = parse_settings({"appName": "x", "replicas": ["ams=2", "sin"], "minMachinesRunning": "1"})
    assert s.replicas == {"ams": 2, "sin": 1}
    assert s.replica_regions == ["ams", "sin"]


def test_strings_from_pulumi_config_are_coerced():
    # `pulumi config set` stores scalars as strings.
    s = parse_settings({"appName": "x", "volumeSizeGb": "3", "protect": "true"})
    assert s.volume_size_gb == 3 and s.protect is True


S3_OK = {
    "backupTarget": "s3",
    "s3Bucket": "backups-bucket",
    "s3Endpoint": "https://fly.storage.tigris.dev",
    "s3AccessKeyId": "AKIDEXAMPLE",
    "s3SecretAccessKey": "wJalrXUtnFEMI",
}

# (overrides on a valid base, the key the error must name, words the message must contain)
BAD_INPUTS = [
    ({"appName": "Letter_DB"}, "appName", "lowercase letters, digits and dashes"),
    ({"appName": "-leading-dash"}, "appName", "not starting or ending with a dash"),
    ({"appName": "a" * 64}, "appName", "(1-63)"),
    ({"appName": "db; rm -rf /"}, "appName", "lowercase letters"),
    ({"appName": "$(curl evil)"}, "appName", "lowercase letters"),
    ({"appName": 42}, "appName", "valid string"),
    ({"org": "My Org"}, "org", "lowercase letters"),
    ({"primaryRegion": "xyz"}, "primaryRegion", "allowed: " + ", ".join(FLY_REGIONS)),
    ({"primaryRegion": "YYZ"}, "primaryRegion", "unknown Fly region"),
    ({"replicas": ["ams=0"]}, "replicas", "greater than or equal to 1"),
    ({"replicas": ["ams=11"]}, "replicas", "less than or equal to 10"),
    ({"replicas": ["zzz=1"]}, "replicas", "unknown Fly region zzz"),
    ({"replicas": ["ams:1"]}, "replicas", "REGION=COUNT"),
    ({"replicas": ["ams=1", "ams=2"]}, "replicas", "listed twice"),
    ({"replicas": ["yyz=1"], "minMachinesRunning": 1}, "replicas", "primary region"),
    ({"replicas": ["ams=1"], "minMachinesRunning": 0}, "minMachinesRunning", "does not wake"),
    ({"volumeName": "db-data"}, "volumeName", "underscores"),
    ({"volumeSizeGb": 0}, "volumeSizeGb", "greater than or equal to 1"),
    ({"volumeSizeGb": "ten"}, "volumeSizeGb", "valid integer"),
    ({"snapshotRetentionDays": 61}, "snapshotRetentionDays", "less than or equal to 60"),
    ({"mountPath": "data"}, "mountPath", "absolute path"),
    ({"sqldVersion": "latest"}, "sqldVersion", "v0.24.32"),
    ({"sqldVersion": "v0.24.32; curl x|sh"}, "sqldVersion", "release tag"),
    ({"litestreamVersion": "0.5.17\nRUN evil"}, "litestreamVersion", "0.5.17"),
    ({"httpPort": 70000}, "httpPort", "less than or equal to 65535"),
    ({"grpcPort": 8080}, "grpcPort", "ports must differ"),
    ({"autoStop": "sometimes"}, "autoStop", "'off', 'stop' or 'suspend'"),
    ({"autoStart": "perhaps"}, "autoStart", "valid boolean"),
    ({"minMachinesRunning": 2}, "minMachinesRunning", "less than or equal to 1"),
    ({"vmSize": "huge"}, "vmSize", "shared-cpu-1x"),
    ({"vmMemoryMb": 128}, "vmMemoryMb", "greater than or equal to 256"),
    ({"backupTarget": "tape"}, "backupTarget", "'tigris', 'file' or 's3'"),
    ({"target": "local"}, "backupTarget", "set backupTarget: file"),
    ({"s3Endpoint": "https://s3.example.com"}, "s3Endpoint", "not used with backupTarget tigris"),
    ({"s3SecretAccessKey": "k"}, "s3SecretAccessKey", "not used with backupTarget tigris"),
    ({"appName": "a" * 60}, "s3Bucket", "longer than 63 characters"),
    ({"backupPath": "../etc"}, "backupPath", "no '..'"),
    ({"backupSyncInterval": "soon"}, "backupSyncInterval", "unit ms, s, m or h"),
    ({"backupTarget": "s3"}, "s3Bucket", "required when backupTarget is s3"),
    ({**S3_OK, "s3SecretAccessKey": None}, "s3SecretAccessKey", "required when backupTarget"),
    ({**S3_OK, "s3Endpoint": "ftp://x"}, "s3Endpoint", "http(s) URL"),
    ({**S3_OK, "s3Bucket": "B"}, "s3Bucket", "S3 bucket name"),
    ({"deployStrategy": "canary"}, "deployStrategy", "'rolling' or 'immediate'"),
    ({"deployWaitTimeout": "forever"}, "deployWaitTimeout", "unit ms, s, m or h"),
    ({"flyctl": "fly; echo pwned"}, "flyctl", "command name or path"),
    ({"target": "aws"}, "target", "'fly' or 'local'"),
    ({"keyVersion": 0}, "keyVersion", "greater than or equal to 1"),
    ({"volumeSize": 3}, "volumeSize", "unknown key; allowed keys:"),
]


@pytest.mark.parametrize(
    "overrides,key,words", BAD_INPUTS, ids=[f"{k}-{i}" for i, (_, k, _) in enumerate(BAD_INPUTS)]
)
def test_bad_input_is_rejected_naming_the_key(overrides, key, words):
    with pytest.raises(SettingsError) as caught:
        parse_settings({"appName": "ok", **overrides})
    message = str(caught.value)
    line = next((ln for ln in message.splitlines() if f"{PREFIX}{key} = " in ln), None)
    assert line is not None, f"{key} not named in:\n{message}"
    assert words in line


def test_every_bad_key_is_listed_in_one_message():
    with pytest.raises(SettingsError) as caught:
        parse_settings({"appName": "Bad", "primaryRegion": "nowhere", "volumeSizeGb": -1, "x": 1})
    message = str(caught.value)
    assert message.startswith("invalid stack config (4 problems)")
    for key in ("appName", "primaryRegion", "volumeSizeGb", "x"):
        assert f"{PREFIX}{key} = " in message


def test_secret_values_are_never_echoed_in_errors():
    with pytest.raises(SettingsError) as caught:
        parse_settings({**S3_OK, "appName": "ok", "s3SecretAccessKey": ["wJalrXUtnFEMI-in-a-list"]})
    assert "wJalrXUtnFEMI" not in str(caught.value)
    assert f"{PREFIX}s3SecretAccessKey = '[secret]'" in str(caught.value)


def test_secrets_are_hidden_in_the_settings_repr():
    s = parse_settings({**S3_OK, "appName": "ok"})
    assert "wJalrXUtnFEMI" not in repr(s)
    assert s.s3_secret_access_key.get_secret_value() == "wJalrXUtnFEMI"


def test_a_missing_required_key_says_what_it_is():
    with pytest.raises(SettingsError) as caught:
        parse_settings({})
    assert f"{PREFIX}appName = (not set): required; Fly app name" in str(caught.value)


@pytest.mark.parametrize("secret_key", ["s3AccessKeyId", "s3SecretAccessKey"])
def test_every_secret_key_is_hidden_in_errors(secret_key):
    with pytest.raises(SettingsError) as caught:
        parse_settings({**S3_OK, "appName": "ok", secret_key: ["value-in-a-list"]})
    assert "value-in-a-list" not in str(caught.value)
    assert f"{PREFIX}{secret_key} = '[secret]'" in str(caught.value)


# restoreFrom: a stack that starts from another stack's backup (a clone).
CLONE_OK = {
    "restoreFrom": "s3://letter-unboxed-db-backup/backups",
    "restoreFromAccessKeyId": "AKIDCLONE",
    "restoreFromSecretAccessKey": "clone-secret-value",
}
OWN_S3 = {**S3_OK, "s3Bucket": "letter-unboxed-db-backup", "backupPath": "backups"}

BAD_CLONES = [
    ({"restoreFrom": "letter-unboxed-db-backup/backups"}, "restoreFrom", "s3://BUCKET/PATH"),
    ({"restoreFrom": "https://fly.storage.tigris.dev/b/p"}, "restoreFrom", "s3://BUCKET/PATH"),
    ({"restoreFrom": "s3://Prod/backups"}, "restoreFrom", "an S3 bucket name"),
    ({"restoreFrom": "s3://prod-backup"}, "restoreFrom", "then the backup's key prefix"),
    ({"restoreFrom": "s3://prod-backup/backups/"}, "restoreFrom", "no trailing '/'"),
    ({"restoreFrom": "s3://prod-backup/a/../b"}, "restoreFrom", "no '..'"),
    ({"restoreFromTime": "yesterday"}, "restoreFromTime", "RFC 3339 time"),
    ({"restoreFromTime": "2026-12-01 09:00:00Z"}, "restoreFromTime", "2026-12-01T09:00:00Z"),
    ({"restoreFromTime": "2026-12-01T09:00:00"}, "restoreFromTime", "with a zone"),
    ({"restoreFromTime": "2026-12-01"}, "restoreFromTime", "RFC 3339 time"),
    ({"restoreFromTime": "2026-02-30T09:00:00Z"}, "restoreFromTime", "RFC 3339 time"),
    ({"restoreFromTime": "2026-12-01T25:00:00Z"}, "restoreFromTime", "RFC 3339 time"),
    ({"restoreFromEndpoint": "ftp://x"}, "restoreFromEndpoint", "http(s) URL"),
    ({"restoreFromRegion": "Auto"}, "restoreFromRegion", "lowercase letters"),
    ({"restoreFromAccessKeyId": None}, "restoreFromAccessKeyId", "required when restoreFrom"),
    ({"restoreFromSecretAccessKey": ""}, "restoreFromSecretAccessKey", "required when restoreFrom"),
    ({"target": "local", "backupTarget": "file"}, "restoreFrom", "on Fly only"),
    (OWN_S3, "restoreFrom", "is this stack's own backup target"),
]


@pytest.mark.parametrize(
    "overrides,key,words", BAD_CLONES, ids=[f"{k}-{i}" for i, (_, k, _) in enumerate(BAD_CLONES)]
)
def test_a_bad_clone_setting_is_rejected_naming_the_key(overrides, key, words):
    with pytest.raises(SettingsError) as caught:
        parse_settings({"appName": "ok", **CLONE_OK, **overrides})
    message = str(caught.value)
    line = next((ln for ln in message.splitlines() if f"{PREFIX}{key} = " in ln), None)
    assert line is not None, f"{key} not named in:\n{message}"
    assert words in line
    assert "clone-secret-value" not in message


def test_a_clone_reads_its_source_apart_from_its_own_backup():
    s = parse_settings({"appName": "ok", **CLONE_OK})
    assert (s.restore_from_bucket, s.restore_from_path) == ("letter-unboxed-db-backup", "backups")
    assert (s.restore_from_time, s.restore_from_endpoint, s.restore_from_region) == (
        "",
        "https://fly.storage.tigris.dev",
        "auto",
    )
    assert "clone-secret-value" not in repr(s)
    # The same bucket under another prefix, or a file backup, is another target.
    assert parse_settings({"appName": "ok", **CLONE_OK, **OWN_S3, "backupPath": "staging"})
    assert parse_settings({"appName": "ok", **CLONE_OK, "backupTarget": "file"})
    # Go's time.RFC3339 layout also reads a fraction of up to nine digits (nanoseconds).
    for when in ("2026-12-01T09:00:00Z", "2026-12-01T10:00:00.25+01:00",
                 "2026-12-01T09:00:00.123456789Z"):  # fmt: skip
        assert parse_settings({"appName": "ok", **CLONE_OK, "restoreFromTime": when})


def test_a_clone_is_off_by_default():
    s = parse_settings({"appName": "ok"})
    assert s.restore_from == "" and s.restore_from_bucket == ""


def test_the_clones_keys_are_refused_in_plain_text_and_never_echoed():
    with pytest.raises(SettingsError) as caught:
        parse_settings({"appName": "ok", **CLONE_OK}, secret_keys={"restoreFromAccessKeyId"})
    assert f"{PREFIX}restoreFromSecretAccessKey = '[secret]': set it encrypted" in str(caught.value)
    assert "clone-secret-value" not in str(caught.value)
    secret = {"restoreFromAccessKeyId", "restoreFromSecretAccessKey"}
    assert parse_settings({"appName": "ok", **CLONE_OK}, secret_keys=secret).restore_from


def test_a_tigris_stack_cannot_clone_its_own_bucket():
    with pytest.raises(SettingsError) as caught:
        parse_settings({
            "appName": "letter-unboxed-db", "restoreFrom": "s3://letter-unboxed-db-backup/backups",
            "restoreFromAccessKeyId": "a", "restoreFromSecretAccessKey": "b",
        })  # fmt: skip
    assert "is this stack's own backup target" in str(caught.value)
