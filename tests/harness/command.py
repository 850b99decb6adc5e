"""What pulumi-command 1.2.1's provider does for `command:local:Command` and `local.run`.

Taken from pulumi/pulumi-command v1.2.1:
- provider/pkg/provider/local/commandOutputs.go `run`: argv = interpreter (default
  ["/bin/sh", "-c"]) + [command]; cwd = `dir` or the provider's cwd; env = the provider's
  whole environment, then `environment`, then PULUMI_COMMAND_STDOUT/_STDERR from the previous
  outputs when non-empty and `addPreviousOutputInEnv` is not false; stdin only when non-empty
  (else /dev/null, Go's exec default); cmd.Wait() waits for the process AND for its
  stdout/stderr pipes to close; the error is `<exit error>: running <%q command>:\n<stdout and
  stderr interleaved>`; outputs are stdout/stderr with ONE trailing "\n" trimmed.
- provider/pkg/provider/local/logging.go: logging nil => stdout and stderr are logged.
- provider/pkg/provider/util/util.go `LogOutput`: one log line per line of output.
- provider/pkg/provider/local/commandController.go: Create runs `create` (nothing if unset);
  Update runs `update`, else `create`, keeping the old stdout/stderr as "previous output";
  Delete runs the `delete` stored in state with the stored inputs (env, dir, stdin...).

Not modelled: `archivePaths` (refused with an error), Windows' `cmd /C` default.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .values import ASSET_SIG, SIG_KEY, go_quote, unwrap

DEFAULT_INTERPRETER = ["/bin/sh", "-c"]


class CommandError(Exception):
    """A failed run, with the message pulumi-command would return to the engine."""


@dataclass
class CommandRun:
    stdout: str
    stderr: str
    assets: dict | None = None
    log_lines: list[tuple[str, str]] = field(default_factory=list)


def should_log(logging_mode: str | None, stream: str) -> bool:
    if logging_mode is None:
        return True
    if stream == "stdout":
        return logging_mode in ("stdout", "stdoutAndStderr")
    return logging_mode in ("stderr", "stdoutAndStderr")


def build_env(
    provider_env: dict[str, str], inputs: dict, previous_stdout: str, previous_stderr: str
) -> dict[str, str]:
    env = dict(provider_env)
    env.update({k: str(v) for k, v in (unwrap(inputs.get("environment")) or {}).items()})
    if unwrap(inputs.get("addPreviousOutputInEnv")) is not False:
        if previous_stdout:
            env["PULUMI_COMMAND_STDOUT"] = previous_stdout
        if previous_stderr:
            env["PULUMI_COMMAND_STDERR"] = previous_stderr
    return env


def _reader(pipe, stream: str, sink: Callable[[str, bytes], None]) -> None:
    for chunk in iter(lambda: pipe.read1(65536), b""):
        sink(stream, chunk)
    pipe.close()


def run(
    command: str,
    inputs: dict,
    provider_env: dict[str, str],
    previous_stdout: str = "",
    previous_stderr: str = "",
    timeout: float = 120.0,
    pipe_close_timeout: float = 5.0,
    on_log: Callable[[str, str], None] | None = None,
) -> CommandRun:
    """Runs one create/update/delete string as pulumi-command's `run` does.

    `timeout` bounds the process; `pipe_close_timeout` bounds the wait for the pipes to
    close after it exited. The real provider has neither: it would hang forever, which a
    test reports as this error instead.
    """
    plain = unwrap(inputs)
    if plain.get("archivePaths"):
        raise CommandError("harness: archivePaths is not modelled")
    interpreter = plain.get("interpreter") or DEFAULT_INTERPRETER
    argv = [*interpreter, command]
    cwd = plain.get("dir") or os.getcwd()
    env = build_env(provider_env, inputs, previous_stdout, previous_stderr)
    stdin_text = plain.get("stdin") or ""
    logging_mode = plain.get("logging")

    buffers = {"stdout": bytearray(), "stderr": bytearray()}
    combined = bytearray()
    pending_line = {"stdout": b"", "stderr": b""}
    log_lines: list[tuple[str, str]] = []
    lock = threading.Lock()

    def emit(stream: str, line: bytes) -> None:
        text = line.decode("utf-8", "replace")
        log_lines.append((stream, text))
        if on_log:
            on_log(stream, text)

    def sink(stream: str, chunk: bytes) -> None:
        with lock:
            buffers[stream] += chunk
            combined.extend(chunk)
            if not should_log(logging_mode, stream):
                return
            data = pending_line[stream] + chunk
            *lines, pending_line[stream] = data.split(b"\n")
            for line in lines:
                emit(stream, line)

    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE if stdin_text else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            # Own process group, so a timed-out command and its children can be ended.
            start_new_session=True,
        )
    except OSError as exc:
        # Go reports a missing dir as "chdir <dir>: no such file or directory".
        reason = f"chdir {cwd}: {exc.strerror.lower()}" if not Path(cwd).is_dir() else str(exc)
        raise CommandError(f"{reason}: running {go_quote(command)}:\n") from exc

    readers = [
        threading.Thread(target=_reader, args=(pipe, name, sink), daemon=True)
        for pipe, name in ((proc.stdout, "stdout"), (proc.stderr, "stderr"))
    ]
    for reader in readers:
        reader.start()
    if stdin_text:
        # Go's exec ignores EPIPE on stdin (exec.go skipStdinCopyError): a script need not read it.
        try:
            proc.stdin.write(stdin_text.encode())
            proc.stdin.close()
        except BrokenPipeError:
            pass

    hang = None
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        hang = f"harness: command still running after {timeout:g}s (pulumi-command has no timeout)"
    if hang is None:
        for reader in readers:
            reader.join(pipe_close_timeout)
        if any(reader.is_alive() for reader in readers):
            hang = (
                "harness: the command exited but its stdout/stderr stayed open for "
                f"{pipe_close_timeout:g}s (a background child holds them); pulumi-command "
                "waits for the pipes to close, so `pulumi up` would hang here"
            )
    if hang is not None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        output = combined.decode("utf-8", "replace")
        raise CommandError(f"{hang}: running {go_quote(command)}:\n{output}")

    with lock:
        for stream in ("stdout", "stderr"):
            if pending_line[stream]:
                emit(stream, pending_line[stream])
                pending_line[stream] = b""

    if proc.returncode != 0:
        if proc.returncode < 0:
            exit_error = f"signal: {signal.Signals(-proc.returncode).name[3:].lower()}"
        else:
            exit_error = f"exit status {proc.returncode}"
        output = combined.decode("utf-8", "replace")
        raise CommandError(f"{exit_error}: running {go_quote(command)}:\n{output}")

    result = CommandRun(
        stdout=_trim_one_newline(buffers["stdout"].decode("utf-8", "replace")),
        stderr=_trim_one_newline(buffers["stderr"].decode("utf-8", "replace")),
        log_lines=log_lines,
    )
    if plain.get("assetPaths") is not None:
        result.assets = glob_assets(Path(cwd), plain["assetPaths"])
    return result


def _trim_one_newline(text: str) -> str:
    # strings.TrimSuffix(s, "\n"): one newline only.
    return text[:-1] if text.endswith("\n") else text


def _glob_to_regex(pattern: str) -> re.Pattern:
    # gobwas/glob with separator '/': `**` crosses '/', `*` and `?` do not.
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def glob_assets(root: Path, globs: list[str]) -> dict[str, Any]:
    """commandOutputs.go globAssets: files only, rules in order, `!` excludes."""
    rules = [(g.startswith("!"), _glob_to_regex(g.removeprefix("!"))) for g in globs]
    assets: dict[str, Any] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        for exclude, regex in rules:
            if not regex.match(rel):
                continue
            if exclude:
                assets.pop(rel, None)
            else:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                assets[rel] = {SIG_KEY: ASSET_SIG, "path": str(path), "hash": digest}
    return assets

