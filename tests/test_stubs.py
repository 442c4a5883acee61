"""The stub generator: lab/ stubs come from solutions/ and never drift from them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lab.support.config import PROJECT_ROOT
from lab.support.exercises import STEPS
from lab.support.reference import copy_checkout
from lab.support.stubs import NOT_DONE, make_stub, stale_stubs, write_stubs

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


def test_every_step_has_a_solution_with_regions_and_a_stub():
    for step in STEPS:
        for module in step.modules:
            solution = PROJECT_ROOT / "solutions" / module.removeprefix("lab/")
            assert "# BEGIN SOLUTION" in solution.read_text(), solution
            assert NOT_DONE in (PROJECT_ROOT / module).read_text(), module


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
