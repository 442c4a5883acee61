"""PROVIDED: validate the notebooks with nbval, or regenerate their committed outputs.

- `validate(reference=True)`: nbval on a copy of this checkout whose lab/ holds the
  solutions - the committed outputs must come out again (what `make test` runs).
- `validate(reference=False)`: nbval on this checkout as it is - does this lab/
  reproduce the expected outputs? (an instructor checking a learner's copy)
- `execute()`: run every notebook top to bottom against the solutions and write the
  outputs back into notebooks/ (a maintainer, after changing a notebook).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from . import redis_server
from .background import child_env
from .config import PROJECT_ROOT
from .reference import copy_checkout

SANITIZE = "tests/nbval_sanitize.cfg"
NBVAL_ARGS = ("--nbval", "--nbval-current-env", "--nbval-sanitize-with", SANITIZE)
CELL_TIMEOUT = 300


def notebook_paths(root: Path = PROJECT_ROOT) -> list[Path]:
    return sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _relative(paths: Sequence[str]) -> list[str]:
    """Notebook arguments as paths from the checkout's root, so they work in a copy."""
    out = []
    for raw in paths:
        path = Path(raw).resolve()
        out.append(
            str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else raw
        )
    return out


def validate(paths: Sequence[str] = (), reference: bool = True, extra: Sequence[str] = ()) -> int:
    """nbval over `paths` (default: every notebook); returns pytest's exit code."""
    targets = _relative(paths) or ["notebooks"]

    def run(root: Path) -> int:
        command = [
            sys.executable, "-m", "pytest", *NBVAL_ARGS,
            "--nbval-cell-timeout", str(CELL_TIMEOUT), *extra, *targets,
        ]  # fmt: skip
        env = child_env({"PYTHONPATH": str(root)})
        return subprocess.run(command, cwd=root, env=env, check=False).returncode

    if not reference:
        return redis_server.run_with_redis(lambda: run(PROJECT_ROOT))
    with tempfile.TemporaryDirectory(prefix="workbook-reference-") as tmp:
        root = copy_checkout(Path(tmp) / "checkout", lab="solutions")
        return redis_server.run_with_redis(lambda: run(root))


def execute(paths: Sequence[str] = ()) -> list[Path]:
    """Re-run notebooks against the solutions and save their outputs into notebooks/."""
    targets = [PROJECT_ROOT / p for p in _relative(paths)] or notebook_paths()
    with tempfile.TemporaryDirectory(prefix="workbook-execute-") as tmp:
        root = copy_checkout(Path(tmp) / "checkout", lab="solutions")
        script = (
            "import sys, nbformat\n"
            "from nbclient import NotebookClient\n"
            "src, dst = sys.argv[1], sys.argv[2]\n"
            "nb = nbformat.read(src, as_version=4)\n"
            "nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'Python 3',"
            " 'language': 'python'}\n"
            f"NotebookClient(nb, timeout={CELL_TIMEOUT}, kernel_name='python3',"
            " record_timing=False, resources={'metadata': {'path': str(__import__('pathlib')"
            ".Path(src).parent)}}).execute()\n"
            "for cell in nb.cells:\n"
            "    for out in cell.get('outputs', []):\n"
            "        if out.output_type == 'error':  # no paths of this machine in the file\n"
            "            out.traceback = [f'{out.ename}: {out.evalue}']\n"
            "nbformat.write(nb, dst)\n"
        )
        for target in targets:
            copy = root / "notebooks" / target.name
            env = child_env({"PYTHONPATH": str(root)})

            def run(copy=copy, target=target, env=env) -> None:
                subprocess.run(
                    [sys.executable, "-c", script, str(copy), str(target)],
                    cwd=root, env=env, check=True,
                )  # fmt: skip

            print(f"executing {target.relative_to(PROJECT_ROOT)} ...", flush=True)
            redis_server.run_with_redis(run)
    return targets
