"""The stub generator: lab/ stubs come from solutions/ and never drift from them."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from lab.support.check import is_todo
from lab.support.config import PROJECT_ROOT
from lab.support.exercises import STEPS
from lab.support.reference import copy_checkout
from lab.support.stubs import NOT_DONE, exercise_files, make_stub, stale_stubs, write_stubs

SOLUTION = '''def f(x):
    """Double x."""
    # BEGIN SOLUTION: return twice x
    y = x * 2
    return y
    # END SOLUTION


class A:
    def g(self):
        # BEGIN SOLUTION
        return 1
        # END SOLUTION
'''


def test_regions_become_todos_at_the_same_indentation():
    assert make_stub(SOLUTION) == (
        "def f(x):\n"
        '    """Double x."""\n'
        "    # TODO: return twice x\n"
        f'    raise NotImplementedError("{NOT_DONE}")\n'
        "\n\nclass A:\n"
        "    def g(self):\n"
        "        # TODO: write this part\n"
        f'        raise NotImplementedError("{NOT_DONE}")\n'
    )


@pytest.mark.parametrize(
    "source",
    [
        "# BEGIN SOLUTION\nx = 1\n",
        "x = 1\n# END SOLUTION\n",
        "# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION\n",
    ],
    ids=["unclosed", "unopened", "nested"],
)
def test_unbalanced_markers_are_refused(source):
    with pytest.raises(ValueError, match="SOLUTION"):
        make_stub(source, "x.py")


def test_each_region_belongs_to_one_step_function_and_each_step_function_has_one():
    """exercises.STEPS lists exactly the functions whose body holds a solution region."""
    listed = [function for step in STEPS for function in step.functions]
    assert len(listed) == len(set(listed)), "a function is listed in two steps"
    with_regions = set()
    for solution in exercise_files():
        source = solution.read_text()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if "# BEGIN SOLUTION" in (ast.get_source_segment(source, node) or ""):
                    with_regions.add(f"lab/{solution.name}:{node.name}")
    assert set(listed) == with_regions
    for function in listed:
        assert is_todo(PROJECT_ROOT, function), f"{function} is not a stub in lab/"


def test_stubs_are_up_to_date_with_the_solutions():
    result = subprocess.run(
        [sys.executable, "-m", "lab", "stubs", "--check"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_edited_solution_makes_its_stub_stale_until_regenerated(tmp_path):
    root = copy_checkout(tmp_path / "checkout", lab="stubs")
    assert stale_stubs(root) == []
    solution = root / "solutions" / "tasks.py"
    solution.write_text(solution.read_text().replace("Pretend to send", "Fake"))
    learner_work = root / "lab" / "tasks.py"
    learner_work.write_text(learner_work.read_text() + "# my notes\n")
    assert stale_stubs(root) == [learner_work]
    [(written, backup)] = write_stubs(root)
    assert written == learner_work and stale_stubs(root) == []
    assert "Fake" in learner_work.read_text()
    assert backup is not None and backup.read_text().endswith("# my notes\n")
