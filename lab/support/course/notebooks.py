"""PROVIDED: validate the notebooks with nbval, or regenerate their committed outputs.

- `validate(reference=True)`: nbval on a copy of this checkout whose lab/ holds the
  solutions: the committed outputs must come out again (`make test`).
- `validate(reference=False)`: nbval on this checkout as it is (an instructor checking a
  learner's copy), ending with one line per notebook: passed, or the first cell that
  differed and why.
- `execute()`: run the notebooks against the solutions and write their outputs back into
  notebooks/, through nbval's sanitizer (a stored output shows `JOB-ID` where the text
  says so).
"""

from __future__ import annotations

import configparser
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import nbformat

from lab.support.config import PROJECT_ROOT
from lab.support.course.check import read_report
from lab.support.course.reference import copy_checkout
from lab.support.servers import redis_server
from lab.support.servers.processes import child_env

SANITIZE = "tests/nbval_sanitize.cfg"
NBVAL_ARGS = ("--nbval", "--nbval-current-env", "--nbval-sanitize-with", SANITIZE)
CELL_TIMEOUT = 300


def notebook_paths(root: Path = PROJECT_ROOT) -> list[Path]:
    return sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _relative(paths: Sequence[str]) -> list[str]:
    """Notebook arguments as paths from the checkout's root, so they work in a copy."""
    inside = lambda path: path.is_relative_to(PROJECT_ROOT)  # noqa: E731
    resolved = [(raw, Path(raw).resolve()) for raw in paths]
    return [str(p.relative_to(PROJECT_ROOT)) if inside(p) else raw for raw, p in resolved]


def sanitizers(root: Path = PROJECT_ROOT) -> list[tuple[re.Pattern, str]]:
    """The (regex, replacement) rules of tests/nbval_sanitize.cfg, read as nbval does."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(root / SANITIZE, encoding="ascii")
    return [(re.compile(parser[s]["regex"]), parser[s]["replace"]) for s in parser.sections()]


def sanitize(text: str, rules: list[tuple[re.Pattern, str]]) -> str:
    for pattern, replacement in rules:
        text = pattern.sub(replacement, text)
    return text


def sanitize_outputs(notebook: nbformat.NotebookNode, root: Path = PROJECT_ROOT) -> None:
    """Replace volatile text (ids, times, ports) in `notebook`'s text outputs in place."""
    rules = sanitizers(root)
    for cell in notebook.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                out.text = sanitize(out.text, rules)
            elif out.output_type in ("execute_result", "display_data"):
                if "text/plain" in out.data:
                    out.data["text/plain"] = sanitize(out.data["text/plain"], rules)
            elif out.output_type == "error":
                out.evalue = sanitize(out.evalue, rules)
                out.traceback = [sanitize(line, rules) for line in out.traceback]


ANSI = re.compile(r"(\x1b|#x1B)\[[0-9;]*m")  # colours, as pytest writes them (escaped in XML)


def reason(text: str) -> str:
    """Why nbval failed a cell, in one line, from the failure's text."""
    lines = [line.rstrip() for line in ANSI.sub("", text).splitlines()]
    source = lines[lines.index("Input:") + 1].strip() if "Input:" in lines[:-1] else ""
    where = f"`{source[:60]}`: " if source else ""
    if any("Cell outputs differ" in line for line in lines):
        diff = lines[next((i for i, line in enumerate(lines) if "reference_output" in line), 0) :]
        expected = next((x.strip()[2:] for x in diff if x.strip().startswith("+ ")), "?")
        got = next((x.strip()[2:] for x in diff if x.strip().startswith("- ")), "?")
        return f"{where}output differs: expected {expected[:100]!r}, got {got[:100]!r}"
    raised = [line.strip() for line in lines if re.match(r"^\s*\w*(Error|Exception)\b", line)]
    if raised:
        return f"{where}raised {raised[-1][:160]}"
    return where + next((line.strip() for line in lines if line.strip()), "failed")[:160]


def jupyter_cell(notebook: Path, name: str) -> str:
    """nbval's "Cell N" (N counts code cells only, from 0) as Jupyter shows the notebook:
    the cell's number among all its cells, from 1 ("cell 7 of 30")."""
    match = re.fullmatch(r"Cell (\d+)", name)
    if not match or not notebook.exists():
        return name
    cells = nbformat.read(notebook, as_version=4).cells
    code = [i for i, cell in enumerate(cells) if cell.cell_type == "code"]
    n = int(match.group(1))
    return f"cell {code[n] + 1} of {len(cells)}" if n < len(code) else name


def summary(report: Path, targets: Sequence[str], root: Path) -> list[str]:
    """One line per notebook from nbval's JUnit report: passed, or its first failing cell."""
    cases: dict[str, list[tuple[str, str | None]]] = {}
    for outcome in read_report(report) if report.exists() else []:
        why = (outcome.text or outcome.message) if outcome.state == "failed" else None
        cases.setdefault(outcome.file, []).append((outcome.name, why))
    lines = []
    for notebook in [p.relative_to(root).as_posix() for p in notebook_paths(root)]:
        if not any(notebook.startswith(t.rstrip("/")) for t in targets):
            continue
        ran = cases.get(notebook, [])
        failed = [(name, why) for name, why in ran if why is not None]
        if not ran:
            lines.append(f"{notebook}: did not run")
        elif not failed:
            lines.append(f"{notebook}: passed ({len(ran)} cells)")
        else:
            name, why = failed[0]
            more = f" ({len(failed) - 1} more cells failed after it)" if len(failed) > 1 else ""
            where = jupyter_cell(root / notebook, name)
            lines.append(f"{notebook}: FAILED at {where}{more}: {reason(why)}")
    return lines


def validate(paths: Sequence[str] = (), reference: bool = True, extra: Sequence[str] = ()) -> int:
    """nbval over `paths` (default: every notebook); returns pytest's exit code."""
    targets = _relative(paths) or ["notebooks"]

    def run(root: Path) -> int:
        with tempfile.TemporaryDirectory(prefix="workbook-nbval-") as tmp:
            report = Path(tmp) / "report.xml"
            command = [
                sys.executable, "-m", "pytest", *NBVAL_ARGS,
                "--nbval-cell-timeout", str(CELL_TIMEOUT), "-o", "junit_family=xunit1",
                f"--junitxml={report}", *extra, *targets,
            ]  # fmt: skip
            env = child_env({"PYTHONPATH": str(root)})
            code = subprocess.run(command, cwd=root, env=env, check=False).returncode
            if not reference:  # an instructor reads this
                print("\nnbval on your lab/, one line per notebook:")
                print("\n".join(summary(report, targets, root)), flush=True)
        return code

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
            executed = nbformat.read(target, as_version=4)
            sanitize_outputs(executed)
            nbformat.write(executed, target)
    return targets
