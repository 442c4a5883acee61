"""Static checks of the committed notebooks; nbval itself runs in `make test` through
`python -m lab dev nbval`."""

from __future__ import annotations

import configparser
import json

import pytest

from lab.support.config import PROJECT_ROOT
from lab.support.exercises import STEPS
from lab.support.notebooks import SANITIZE, notebook_paths

NOTEBOOKS = notebook_paths()


def load(path):
    return json.loads(path.read_text())


def test_every_step_has_its_notebook_and_every_notebook_a_step():
    assert sorted(PROJECT_ROOT / step.notebook for step in STEPS) == NOTEBOOKS


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
    later = [s for s in STEPS if s.number > step.number]
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
