"""The kit's layers (pyproject.toml's [tool.importlinter] contracts), checked by import-linter:
on the kit as it is, and on a copy with an upward import, which must break them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from lab.support.config import PROJECT_ROOT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache", "--config", root / "pyproject.toml"],
        cwd=root, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_kit_keeps_its_layers_and_has_no_cycles():
    result = lint(PROJECT_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout, result.stdout


def test_an_upward_import_breaks_the_layers(tmp_path):
    """servers/ importing the API (a lower layer importing a higher one) is refused."""
    shutil.copytree(
        PROJECT_ROOT / "lab", tmp_path / "lab", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(PROJECT_ROOT / "pyproject.toml", tmp_path)
    cluster = tmp_path / "lab" / "support" / "servers" / "cluster.py"
    cluster.write_text(cluster.read_text() + "\nimport lab.support.api  # noqa: E402\n")
    result = lint(tmp_path)
    assert result.returncode != 0, result.stdout
    assert "by layer" in result.stdout and "BROKEN" in result.stdout, result.stdout
    assert "lab.support.servers.cluster -> lab.support.api" in result.stdout, result.stdout
