"""Static checks of the committed notebooks; nbval itself runs in `make test` through
`python -m lab dev nbval`."""

from __future__ import annotations

import ast
import configparser
import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from lab.support.config import PROJECT_ROOT
from lab.support.course.exercises import STEPS
from lab.support.course.notebooks import SANITIZE, notebook_paths, sanitize_outputs
from lab.support.course.reference import copy_checkout

NOTEBOOKS = notebook_paths()


def load(path):
    return json.loads(path.read_text())


def test_every_step_has_its_notebook_and_every_notebook_a_step():
    assert sorted({PROJECT_ROOT / step.notebook for step in STEPS}) == NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_kernelspec_is_python3(path):
    assert load(path)["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_outputs_come_from_one_run_in_order(path):
    cells = [c for c in load(path)["cells"] if c["cell_type"] == "code"]
    counts = [c["execution_count"] for c in cells]
    assert counts == list(range(1, len(cells) + 1)), "re-run it: python -m lab dev execute"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_only_cells_tagged_raises_exception_have_errors(path):
    for cell in load(path)["cells"]:
        if cell["cell_type"] != "code":
            continue
        errors = [o for o in cell["outputs"] if o["output_type"] == "error"]
        tagged = "raises-exception" in cell["metadata"].get("tags", [])
        assert bool(errors) == tagged, "".join(cell["source"])[:200]


@pytest.mark.parametrize("step", STEPS, ids=lambda s: s.number)
def test_each_notebook_checks_its_step_and_links_the_next(step):
    text = (PROJECT_ROOT / step.notebook).read_text()
    assert f'check_step(\\"{step.number}\\")' in text
    later = [s for s in STEPS if s.number > step.number and s.notebook != step.notebook]
    if later:
        assert later[0].notebook.removeprefix("notebooks/") in text


def test_sanitize_rules_are_ascii_and_complete():
    raw = (PROJECT_ROOT / SANITIZE).read_bytes()
    raw.decode("ascii")  # nbval reads this file with the platform's default encoding
    config = configparser.ConfigParser()
    config.read_string(raw.decode())
    assert config.sections()
    for name in config.sections():
        assert set(config[name]) == {"regex", "replace"}, name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_outputs_hold_no_paths_of_the_machine_that_ran_them(path):
    text = path.read_text()
    for machine_specific in (str(PROJECT_ROOT), "site-packages", "/tmp/workbook-"):
        assert machine_specific not in text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_outputs_are_sanitized_as_the_text_says(path):
    """What a learner reads in a stored output is what nbval compares: ids, times and ports
    show as JOB-ID, TIMESTAMP, 127.0.0.1:PORT (`python -m lab dev execute` sanitizes)."""
    notebook = nbformat.read(path, as_version=4)
    stored = nbformat.writes(notebook)
    sanitize_outputs(notebook)
    assert nbformat.writes(notebook) == stored, (
        f"{path.name} holds volatile text the sanitizer would replace; run"
        " `python -m lab dev execute` (it sanitizes the outputs it saves)"
    )


def tiny_notebook(*cells: tuple[str, str]) -> nbformat.NotebookNode:
    """A notebook of code cells (source, the stdout stored for it)."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    for number, (source, stdout) in enumerate(cells, start=1):
        cell = nbformat.v4.new_code_cell(source, execution_count=number)
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=stdout)]
        notebook.cells.append(cell)
    return notebook


def test_nbval_on_a_learners_copy_ends_with_one_line_per_notebook(tmp_path, python_m):
    """What an instructor reads: passed, or the first cell that failed and why."""
    root = copy_checkout(tmp_path / "checkout", lab="solutions")
    shutil.rmtree(root / "notebooks")
    (root / "notebooks").mkdir()
    notebooks = {
        "01_good": tiny_notebook(("print(1 + 1)", "2\n"), ("print('x')", "x\n")),
        "02_differs": tiny_notebook(("print('ok')", "ok\n"), ("print('their words')", "ours\n")),
        "03_raises": tiny_notebook(("raise KeyError('job')", "")),
    }
    # Jupyter counts every cell: the report names "cell 3 of 3", not nbval's "Cell 1"
    notebooks["02_differs"].cells.insert(0, nbformat.v4.new_markdown_cell("# Step 02"))
    for name, notebook in notebooks.items():
        nbformat.write(notebook, root / "notebooks" / f"{name}.ipynb")
    ran = python_m("lab", "nbval", root=root, timeout=300)
    assert ran.returncode == 1, ran.stdout[-2000:] + ran.stderr[-2000:]
    summary = ran.stdout.split("nbval on your lab/, one line per notebook:\n")[-1].splitlines()
    assert summary == [
        "notebooks/01_good.ipynb: passed (2 cells)",
        "notebooks/02_differs.ipynb: FAILED at cell 3 of 3: `print('their words')`: output"
        " differs:"
        " expected 'ours', got 'their words'",
        "notebooks/03_raises.ipynb: FAILED at cell 1 of 1: `raise KeyError('job')`: raised"
        " KeyError: 'job'",
    ], ran.stdout[-3000:]


RUN_UNTIL_ERROR = """
import sys
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

notebook = nbformat.read(sys.argv[1], as_version=4)
try:
    NotebookClient(notebook, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": "notebooks"}}).execute()
except CellExecutionError as exc:
    print(str(exc).strip().splitlines()[-1])
"""


@pytest.mark.parametrize(
    ("notebook", "done", "named"),
    [
        ("02_producer", ["connection", "tasks"], "trigger_email() in lab/producer.py"),
        (
            "04_blocking_vs_queued",
            ["connection", "tasks", "producer", "worker", "status", "failures"],
            "send_blocking_async() in lab/strategies.py",
        ),
    ],
)
def test_a_notebook_run_against_a_stub_names_the_function_to_write(
    tmp_path, redis_url, python_m, notebook, done, named
):
    """The learner's first run of a step's notebook, before its exercise: the first failing
    cell names the function to write, at once (no race with the API's log)."""
    root = copy_checkout(tmp_path / "checkout", lab="stubs")
    for name in done:
        shutil.copy2(root / "solutions" / f"{name}.py", root / "lab" / f"{name}.py")
    (root / "run_until_error.py").write_text(RUN_UNTIL_ERROR)
    ran = python_m("run_until_error", f"notebooks/{notebook}.ipynb", root=root, timeout=300)
    said = ran.stdout.strip().splitlines()[-1] if ran.stdout.strip() else ran.stderr[-2000:]
    assert f"the API answered 501: {named} is not written yet" in said, said


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_a_notebook_that_starts_the_api_stops_it(path):
    """nbval ends a kernel without its atexit handlers, so an API the notebook started and did
    not stop outlives the run (notebook 08's did, once per run)."""
    code = [
        cell.source for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"
    ]
    if any("notebook_api(" in source for source in code):
        assert any("api.stop()" in source for source in code), f"{path.name} never calls api.stop()"


#: "notebook 07", "Notebooks 05 and 06", "notebooks 02, 03 or 04": the numbers it names.
MENTION = re.compile(r"\b[Nn]otebooks? (\d\d\b(?:(?:, | and | or )\d\d\b)*)")


def test_every_notebook_mentioned_exists():
    """A "notebook NN" in the README or in any notebook names a notebooks/NN_*.ipynb."""
    existing = {path.name[:2] for path in NOTEBOOKS}
    missing = []
    for path in [PROJECT_ROOT / "README.md", *NOTEBOOKS]:
        for match in MENTION.finditer(path.read_text()):
            for number in re.findall(r"\d\d", match.group(1)):
                if number not in existing:
                    missing.append(f"{path.name}: {match.group(0)!r}")
    assert not missing, f"these name a notebook that does not exist: {missing}"


def test_the_mention_pattern_finds_every_number():
    found = [re.findall(r"\d\d", m.group(1)) for m in MENTION.finditer(
        "see notebook 07; Notebooks 05 and 06; notebooks 02, 03 or 11. notebook 100 is no one"
    )]  # fmt: skip
    assert found == [["07"], ["05", "06"], ["02", "03", "11"]]


def learner_wording() -> dict[str, str]:
    """Phrases (12+ characters) of the strings in the functions the learner writes, as the
    solutions word them, with the step: the learner's copy may word them otherwise. Those
    that a test requires word for word (the interface) are left out."""
    tests = (PROJECT_ROOT / "tests").glob("test_*.py")
    required = "\n".join(p.read_text() for p in tests if p.name != "test_notebooks.py")
    phrases = {}
    for step in STEPS:
        for function in step.functions:
            path, name = function.split(":")
            tree = ast.parse((PROJECT_ROOT / "solutions" / Path(path).name).read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
                    doc = ast.get_docstring(node, clean=False)
                    for sub in ast.walk(node):
                        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                            parts = re.split(r"\{|%\w", sub.value) if sub.value != doc else ()
                            for part in parts:
                                if len(part.strip()) >= 12 and " " in part.strip():
                                    phrases[part.strip()] = f"step {step.number}, {name}()"
    return {p: where for p, where in phrases.items() if p not in required}


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda p: p.name)
def test_nbval_compares_no_words_the_learner_chooses(path):
    """nbval is fair to a learner's copy (issue 25): no output it compares holds a message
    the learner words themselves (08e's 'no Signature header' failed a copy whose
    `lab check` passed). Such a cell is tagged nbval-ignore-output and asserts instead."""
    wording = learner_wording()
    assert "no Signature header" in wording, "the phrases are no longer found"
    notebook = nbformat.read(path, as_version=4)
    unfair = []
    for number, cell in enumerate(notebook.cells, start=1):
        if cell.cell_type != "code" or "nbval-ignore-output" in cell.metadata.get("tags", []):
            continue
        shown = "".join(out.get("text", "") for out in cell.outputs)
        unfair += [f"cell {number}: {p!r} ({w})" for p, w in wording.items() if p in shown]
    assert not unfair, f"{path.name} compares the learner's own words: {unfair}"
