"""Renders assets/ into the build context that `fly deploy` ships, and fingerprints it.

The digest covers every byte that ships, so the deploy step runs again exactly when something
that reaches the machine changed, and never otherwise.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import jinja2
from pydantic import SecretStr

from infra.settings import ADMIN_PORT, LITESTREAM_METRICS_PORT, StackSettings

ASSETS_DIR = Path(__file__).resolve().parents[1] / "assets"
# Relative to the project (where `pulumi up` runs): state must not depend on the checkout's path.
BUILD_ROOT = Path("build")

# Output name -> template under assets/ (the Dockerfile only takes the pinned versions).
TEMPLATES = {
    "Dockerfile": "Dockerfile",
    "fly.toml": "fly.toml.j2",
    "litestream.yml": "litestream.yml.j2",
}
# Only for a stack with restoreFrom (a clone): where its primary reads the other stack's backup.
RESTORE_FROM_TEMPLATES = {"restore-from.yml": "restore-from.yml.j2"}
# Shipped byte for byte: shell's `${#x}` would read as a Jinja comment.
COPIED = ("run.sh", "metrics.pl")
EXECUTABLE = {"run.sh", "metrics.pl"}

_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(ASSETS_DIR),
    undefined=jinja2.StrictUndefined,  # a misspelt variable is an error, not an empty string
    keep_trailing_newline=True,
    autoescape=False,
)


def template_context(settings: StackSettings) -> dict:
    """What templates may see: every setting except secrets, which never reach a file,
    restoreFrom's bucket and path, and the machine's fixed loopback ports."""
    secrets = {name for name, field in type(settings).model_fields.items()
               if field.annotation is SecretStr}  # fmt: skip
    return {
        **settings.model_dump(exclude=secrets),
        "restore_from_bucket": settings.restore_from_bucket,
        "restore_from_path": settings.restore_from_path,
        "admin_port": ADMIN_PORT,
        "litestream_metrics_port": LITESTREAM_METRICS_PORT,
    }


def render_template(name: str, settings: StackSettings) -> str:
    return _environment.get_template(name).render(template_context(settings))


def render_files(settings: StackSettings) -> dict[str, str]:
    """Build-context file name -> rendered text."""
    templates = {**TEMPLATES, **(RESTORE_FROM_TEMPLATES if settings.restore_from else {})}
    files = {out: render_template(src, settings) for out, src in templates.items()}
    files.update({name: (ASSETS_DIR / name).read_text() for name in COPIED})
    return files


def digest(files: dict[str, str]) -> str:
    """sha256 over names and contents, independent of dict order (build files, or secrets:
    a change of either must redeploy)."""
    h = hashlib.sha256()
    for name in sorted(files):
        data = files[name].encode()
        h.update(f"{name}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def build_dir(stack: str) -> Path:
    """Where a stack's build context is rendered; `fly deploy` ships this folder."""
    return BUILD_ROOT / stack


def write_build_context(settings: StackSettings, out_dir: Path) -> str:
    """Render every shipped file into out_dir (replacing what was there); return the digest."""
    files = render_files(settings)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.iterdir():
        if stale.is_file() and stale.name not in files:
            stale.unlink()
    for name, text in files.items():
        path = out_dir / name
        path.write_text(text)
        path.chmod(0o755 if name in EXECUTABLE else 0o644)
    return digest(files)
