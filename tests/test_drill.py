"""The restore drill's pure parts (infra/drill.py): reading a stack, Litestream's listing, the
checks and the verdict. tests/runtime/test_drill.py runs it against real backups in moto."""

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from infra import drill
from infra.settings import SettingsError, StackSettings
from tests.sqlite_faults import mismatch_orders_index

ROOT = Path(__file__).resolve().parents[1]
SECRET_ID, SECRET_KEY = "AKIA-drill-test-id", "drill-test-secret-value"
CREDENTIALS = {"LITESTREAM_ACCESS_KEY_ID": SECRET_ID, "LITESTREAM_SECRET_ACCESS_KEY": SECRET_KEY}

S3_STACK = """\
config:
  letter-unboxed-db:appName: letter-unboxed-db-drill
  letter-unboxed-db:autoStop: off
  letter-unboxed-db:backupTarget: s3
  letter-unboxed-db:backupPath: backups/prod
  letter-unboxed-db:backupSyncInterval: 5s
  letter-unboxed-db:s3Bucket: drill-bucket
  letter-unboxed-db:s3Endpoint: https://fly.storage.tigris.dev
  letter-unboxed-db:s3AccessKeyId:
    secure: v1:AAAAencrypted
  letter-unboxed-db:s3SecretAccessKey:
    secure: v1:BBBBencrypted
  aws:region: us-east-1
"""


def s3_settings(**environ) -> StackSettings:
    return drill.drill_settings(drill.read_stack_text(S3_STACK), {**CREDENTIALS, **environ})


# --- durations and the default limit -------------------------------------------------------------


@pytest.mark.parametrize(
    "text, seconds",
    [("500ms", 0.5), ("1s", 1), ("90s", 90), ("15m", 900), ("2h", 7200), ("8d", 691200)],
)
def test_durations_take_the_settings_units_and_days(text, seconds):
    assert drill.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "1", "1w", "-1s", "1 h", "s"])
def test_a_bad_duration_is_refused(text):
    with pytest.raises(ValueError, match="not a duration"):
        drill.parse_duration(text)


@pytest.mark.parametrize(
    "seconds, text",
    [
        (0.25, "250ms"),
        (42, "42s"),
        (303, "5m 3s"),
        (7200, "2h"),
        (7260.9, "2h 1m"),
        (273600, "3d 4h"),
        (86400 + 59, "1d"),
    ],
)
def test_ages_print_in_two_units_at_most(seconds, text):
    assert drill.format_duration(seconds) == text


@pytest.mark.parametrize(
    "interval, limit", [("100ms", 30), ("1s", 30), ("3s", 30), ("5s", 50), ("1m", 600)]
)
def test_the_default_limit_is_ten_sync_intervals_and_at_least_30s(interval, limit):
    settings = StackSettings(app_name="t", backup_sync_interval=interval)
    assert drill.default_max_age(settings) == limit


# --- the stack, as the program reads it ----------------------------------------------------------


def test_backup_settings_come_from_the_stack_file_and_credentials_from_the_environment():
    settings = s3_settings()
    assert (settings.backup_target, settings.backup_path, settings.backup_sync_interval) == (
        "s3",
        "backups/prod",
        "5s",
    )
    assert (settings.s3_bucket, settings.s3_region) == ("drill-bucket", "auto")
    assert settings.s3_secret_access_key.get_secret_value() == SECRET_KEY
    assert settings.auto_stop == "off"  # YAML as the Pulumi CLI reads it: `off` is no boolean
    # Only the allowlist and the credentials reach Litestream; the caller's AWS_* never do.
    environ = {
        "PATH": "/bin",
        "HOME": "/h",
        "AWS_CA_BUNDLE": "/ca.pem",
        "AWS_PROFILE": "x",
        "FLY_API_TOKEN": "fly",
        "PULUMI_CONFIG_PASSPHRASE": "p",
        **CREDENTIALS,
    }
    env = drill.litestream_env(settings, Path("/tmp/d"), environ)
    assert env == {"PATH": "/bin", "HOME": "/h", "DATA_DIR": "/tmp/d", **CREDENTIALS}


def test_the_rendered_litestream_config_holds_placeholders_not_credentials(tmp_path):
    from infra import assets

    text = assets.render_template("litestream.yml.j2", s3_settings())
    assert "${LITESTREAM_SECRET_ACCESS_KEY}" in text and SECRET_KEY not in text
    assert "bucket: drill-bucket" in text and "path: backups/prod" in text


def test_an_s3_stack_without_credentials_in_the_environment_cannot_be_drilled():
    with pytest.raises(drill.DrillError) as err:
        drill.drill_settings(drill.read_stack_text(S3_STACK), {"AWS_SECRET_ACCESS_KEY": "x"})
    assert "LITESTREAM_ACCESS_KEY_ID and LITESTREAM_SECRET_ACCESS_KEY" in str(err.value)


def test_a_credential_in_plain_text_is_refused_as_the_program_refuses_it_and_never_echoed():
    plain = S3_STACK.replace(
        "s3SecretAccessKey:\n    secure: v1:BBBBencrypted", "s3SecretAccessKey: plain-text-secret"
    )
    with pytest.raises(SettingsError) as err:
        drill.drill_settings(drill.read_stack_text(plain), CREDENTIALS)
    assert "s3SecretAccessKey" in str(err.value) and "--secret" in str(err.value)
    assert "plain-text-secret" not in str(err.value) and SECRET_KEY not in str(err.value)


def test_a_file_target_on_fly_says_where_the_backup_is_and_what_to_do(tmp_path, capsys):
    (tmp_path / "Pulumi.files.yaml").write_text(
        "config:\n  letter-unboxed-db:appName: files\n  letter-unboxed-db:backupTarget: file\n"
    )
    code = drill.main(["files", "--project-dir", str(tmp_path)], environ={"PATH": "/usr/bin"})
    err = capsys.readouterr().err
    assert code == drill.EXIT_UNUSABLE
    assert "backup lives on the primary's volume (/data/backups)" in err and "--data-dir" in err


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_a_tigris_stack_needs_a_key_that_reads_its_bucket_and_says_where_to_get_one(
    stack, capsys
):
    code = drill.main([stack, "--project-dir", str(ROOT)], environ={"PATH": "/usr/bin"})
    err = capsys.readouterr().err
    assert code == drill.EXIT_UNUSABLE
    assert "backupTarget is tigris: set LITESTREAM_ACCESS_KEY_ID and" in err
    assert "read-only key for the bucket in the Tigris dashboard" in err


def test_a_tigris_stack_drills_its_own_bucket_at_tigris_unless_told_otherwise():
    settings = drill.load_stack(ROOT, "prod", CREDENTIALS)
    env = drill.litestream_env(settings, Path("/tmp/d"), {**CREDENTIALS, "AWS_REGION": "x"})
    assert env["BUCKET_NAME"] == "letter-unboxed-db-backup"
    assert env["AWS_ENDPOINT_URL_S3"] == "https://fly.storage.tigris.dev"
    assert env["AWS_REGION"] == "auto"
    assert env["LITESTREAM_SECRET_ACCESS_KEY"] == SECRET_KEY
    adopted = drill.litestream_env(settings, Path("/tmp/d"), {**CREDENTIALS, "BUCKET_NAME": "b2"})
    assert adopted["BUCKET_NAME"] == "b2"


def test_an_unknown_stack_or_a_bad_limit_is_a_usage_error(tmp_path, capsys):
    assert drill.main(["nope", "--project-dir", str(tmp_path)], environ={}) == 2
    assert "no stack file Pulumi.nope.yaml" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        drill.main(["prod", "--max-age", "soon"], environ={})
    assert exit_.value.code == 2


# --- Litestream's listing ------------------------------------------------------------------------


def row(level, min_txid, max_txid, timestamp):
    return {
        "level": level,
        "min_txid": f"{min_txid:016x}",
        "max_txid": f"{max_txid:016x}",
        "size": 100,
        "timestamp": timestamp,
    }


def test_the_newest_transaction_is_the_highest_txid_timed_by_its_level_0_file():
    listing = [
        row(0, 0x1F, 0x1F, "2026-11-30T10:00:05Z"),
        row(0, 0x20, 0x20, "2026-11-30T10:00:09Z"),
        row(1, 0x01, 0x20, "2026-11-30T10:00:30Z"),  # compacted later: not the commit's time
        row(9, 0x01, 0x1F, "2026-11-30T10:00:06Z"),
    ]
    newest = drill.newest_transaction(listing)
    assert newest == drill.Transaction(0x20, datetime(2026, 11, 30, 10, 0, 9, tzinfo=UTC), 0)


def test_without_its_level_0_file_the_newest_transaction_is_timed_by_the_earliest_holder():
    listing = [
        row(1, 1, 0x40, "2026-11-30T10:05:00Z"),
        row(9, 1, 0x40, "2026-11-30T10:01:00Z"),
        row(2, 1, 0x3F, "2026-11-30T09:00:00Z"),
    ]
    newest = drill.newest_transaction(listing)
    assert (newest.txid, newest.level, newest.at.minute) == (0x40, 1, 1)


def test_an_empty_listing_is_no_backup():
    assert drill.newest_transaction([]) is None


# --- the restored database and the verdict -------------------------------------------------------


def make_database(path: Path, corrupt_index: bool = False) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT)")
    conn.execute('CREATE TABLE "odd ""name""" (x)')
    conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT)")  # sqlite_sequence
    conn.execute("INSERT INTO events DEFAULT VALUES")
    conn.execute("CREATE INDEX orders_item ON orders (item)")
    conn.executemany("INSERT INTO orders (item) VALUES (?)", [(f"item {i}",) for i in range(25)])
    conn.commit()
    if corrupt_index:
        mismatch_orders_index(conn)
    conn.close()
    return path


def test_a_healthy_database_checks_ok_with_a_count_per_table(tmp_path):
    check = drill.check_database(make_database(tmp_path / "db"))
    assert check.ok and check.integrity == ["ok"]
    assert check.counts == {"events": 1, 'odd "name"': 0, "orders": 25}  # SQLite's own: not


def test_a_corrupt_database_fails_the_check_and_still_counts(tmp_path):
    check = drill.check_database(make_database(tmp_path / "db", corrupt_index=True))
    assert not check.ok
    assert "row 1 missing from index orders_item" in check.integrity
    assert check.counts["orders"] == 25


def test_a_file_that_is_no_database_fails_the_check(tmp_path):
    (tmp_path / "db").write_bytes(b"not a database at all" * 500)
    check = drill.check_database(tmp_path / "db")
    assert not check.ok and check.integrity[0].startswith("cannot check:")


def result(check: drill.DatabaseCheck, age: float, limit: float = 30) -> drill.DrillResult:
    newest = drill.Transaction(0x2A, datetime.now(UTC) - timedelta(seconds=age), 0)
    return drill.DrillResult(
        stack="prod",
        location="s3://b/p",
        litestream_version="0.5.17",
        stack_litestream_version="0.5.17",
        restored_txid=f"{0x2A:016x}",
        restore_seconds=0.5,
        restored_bytes=8192,
        newest=newest,
        age_seconds=age,
        max_age_seconds=limit,
        max_age_reason="10 x backupSyncInterval 1s, at least 30s",
        check=check,
    )


def test_the_verdict_fails_on_a_failed_check_and_on_an_old_backup_and_only_then():
    healthy = drill.DatabaseCheck(["ok"], {"orders": 25})
    assert drill.failures(result(healthy, age=29)) == []
    assert drill.failures(result(healthy, age=31)) == [
        "the newest backed-up transaction is 31s old, older than the limit of 30s"
    ]
    broken = drill.DatabaseCheck([f"row {i} missing from index i" for i in range(1, 15)])
    [failure] = drill.failures(result(broken, age=1))
    assert failure.startswith("integrity_check failed: row 1 missing from index i; row 2")
    assert failure.endswith("(and 4 more)")
    assert len(drill.failures(result(broken, age=100))) == 2


def test_the_report_prints_the_counts_and_the_age_against_its_limit():
    report = drill.format_report(result(drill.DatabaseCheck(["ok"], {"orders": 1250}), age=4))
    assert "integrity_check: ok" in report
    assert "  orders        1,250" in report
    assert "newest backed-up transaction: txid 000000000000002a" in report
    assert "4s ago (limit 30s: 10 x backupSyncInterval 1s, at least 30s)" in report
    older = drill.DrillResult(
        **{**result(drill.DatabaseCheck(["ok"]), 4).__dict__, "litestream_version": "0.5.16"}
    )
    assert "litestream 0.5.16 (WARNING: the stack runs 0.5.17)" in drill.format_report(older)


def test_secrets_are_scrubbed_from_anything_printed():
    text = f"error: signature for {SECRET_ID} with {SECRET_KEY} at {SECRET_KEY[:-1]}"
    assert drill.redact(text, [SECRET_ID, SECRET_KEY, ""]) == (
        f"error: signature for [secret] with [secret] at {SECRET_KEY[:-1]}"
    )
