"""A throwaway copy of the Pulumi project, so a test can run `up`, edit assets or write build/
and .pulumi-local/ without touching the checkout."""

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "letter-unboxed-db"


def copy_project(dest: Path) -> Path:
    """Copy what `pulumi up` reads (Pulumi.yaml, the program, infra/, assets/) into
    dest/project. With Pulumi.yaml beside the program the harness applies the CLI's config
    checks, as `pulumi up` does before the program runs."""
    project = dest / "project"
    for folder in ("assets", "infra"):
        shutil.copytree(
            ROOT / folder, project / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "__main__.py", project)
    shutil.copy(ROOT / "Pulumi.yaml", project)
    return project
