"""PROVIDED: a copy of this checkout whose lab/ holds the reference solutions (or the
untouched stubs), so that notebooks and tests can run against them without changing
a tracked file."""

from __future__ import annotations

import shutil
from pathlib import Path

from lab.support.config import PROJECT_ROOT
from lab.support.course.stubs import exercise_files, expected_stubs

SKIP = shutil.ignore_patterns(
    ".git", ".venv", ".venv-*", ".redis", ".backups", "__pycache__", "*.egg-info",
    ".ipynb_checkpoints", ".pytest_cache", ".hypothesis", "build", ".ruff_cache",
    ".import_linter_cache", ".hints.json", "class-report",
)  # fmt: skip


def copy_checkout(dest: Path, lab: str = "solutions", root: Path = PROJECT_ROOT) -> Path:
    """Copy `root` to `dest` and fill its lab/ from "solutions" or fresh "stubs"."""
    if lab not in ("solutions", "stubs"):
        raise ValueError(f"lab must be 'solutions' or 'stubs', not {lab!r}")
    shutil.copytree(root, dest, ignore=SKIP)
    if lab == "solutions":
        for path in exercise_files(dest):
            shutil.copy2(path, dest / "lab" / path.name)
    else:
        for path, text in expected_stubs(dest).items():
            path.write_text(text)
    return dest
