"""The stub generator: lab/ stubs come from solutions/ and never drift from them."""

from __future__ import annotations

import ast
import json
import re
import shutil

import pytest

from lab.support.config import PROJECT_ROOT
from lab.support.course.check import is_todo
from lab.support.course.exercises import STEPS, learner_modules
from lab.support.course.reference import copy_checkout
from lab.support.course.stubs import (
    MANIFEST,
    NOT_DONE,
    exercise_files,
    expected_stubs,
    make_stub,
    stale_stubs,
    write_stubs,
)

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
    assert make_stub(SOLUTION, "solutions/x.py") == (
        "def f(x):\n"
        '    """Double x."""\n'
        "    # TODO: return twice x\n"
        f'    raise NotImplementedError("f() in lab/x.py {NOT_DONE}")\n'
        "\n\nclass A:\n"
        "    def g(self):\n"
        "        # TODO: write this part\n"
        f'        raise NotImplementedError("g() in lab/x.py {NOT_DONE}")\n'
    ), "each stub names its function and file, so the error says what to write"


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


def test_each_region_belongs_to_one_step_function_and_each_step_function_has_one(tmp_path):
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
    stubs = copy_checkout(tmp_path / "checkout", lab="stubs")
    for function in listed:
        assert is_todo(stubs, function), f"{function} is not a stub in the generated lab/"


@pytest.fixture
def dev_stubs(python_m):
    """dev_stubs(root, *args): `python -m lab dev stubs *args` in the checkout `root`."""
    return lambda root, *args: python_m("lab", "dev", "stubs", *args, root=root)


def test_stubs_are_up_to_date_with_the_solutions(dev_stubs):
    result = dev_stubs(PROJECT_ROOT, "--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_edited_solution_regenerates_its_untouched_stub(tmp_path, dev_stubs):
    """The maintainer's case: lab/tasks.py is the stub as last generated, so it follows."""
    root = copy_checkout(tmp_path / "checkout", lab="stubs")
    assert stale_stubs(root) == []
    solution = root / "solutions" / "tasks.py"
    solution.write_text(solution.read_text().replace("Pretend to send", "Fake"))
    assert stale_stubs(root) == [root / "lab" / "tasks.py", root / MANIFEST]
    result = dev_stubs(root)
    assert result.returncode == 0, result.stdout
    assert result.stdout == "wrote lab/tasks.py\n"
    assert "Fake" in (root / "lab" / "tasks.py").read_text()
    assert stale_stubs(root) == []
    assert not (root / ".backups").exists()


def test_a_learners_edit_survives_unless_forced(tmp_path, dev_stubs):
    """The learner's case: a line added to lab/tasks.py is kept, and named; --force
    replaces the file, keeping a copy in .backups/, and then the stubs are up to date."""
    root = copy_checkout(tmp_path / "checkout", lab="stubs")
    learner_work = root / "lab" / "tasks.py"
    edited = learner_work.read_text() + "# my notes\n"
    learner_work.write_text(edited)

    kept = dev_stubs(root)
    assert kept.returncode == 1
    assert "kept lab/tasks.py: it has edits; --force replaces it" in kept.stdout
    assert learner_work.read_text() == edited
    assert dev_stubs(root, "--check", "--strict").returncode == 1

    forced = dev_stubs(root, "--force")
    assert forced.returncode == 0, forced.stdout
    assert "wrote lab/tasks.py (the edited file is in .backups/tasks-" in forced.stdout
    [backup] = (root / ".backups").iterdir()
    assert backup.read_text() == edited
    assert learner_work.read_text() == make_stub(
        (root / "solutions" / "tasks.py").read_text(), "tasks.py"
    )
    assert dev_stubs(root, "--check").returncode == 0


def test_a_learner_file_edited_and_its_solution_changed_is_kept(tmp_path):
    root = copy_checkout(tmp_path / "checkout", lab="stubs")
    (root / "lab" / "tasks.py").write_text("# all my own work\n")
    solution = root / "solutions" / "tasks.py"
    solution.write_text(solution.read_text().replace("Pretend to send", "Fake"))
    done = write_stubs(root)
    assert done.kept == [root / "lab" / "tasks.py"] and done.written == []
    assert (root / "lab" / "tasks.py").read_text() == "# all my own work\n"


def test_the_learners_help_lists_no_command_that_writes_lab(python_m):
    shown = python_m("lab", "--help").stdout
    assert "{redis,check,hint,report,nbval,bench,soak,recover}" in shown
    for maintainer_only in ("stubs", "execute", "dev"):
        assert not re.search(rf"\b{maintainer_only}\b", shown), maintainer_only
    dev = python_m("lab", "dev", "--help").stdout
    assert "{stubs,execute,nbval,time-check,newer-than-lock,fake-class}" in dev


LEARNER_FILES = [f"lab/{name}.py" for name in learner_modules()]
STEPS_OF = {file: [step for step in STEPS if file in step.modules] for file in LEARNER_FILES}


@pytest.mark.parametrize("file", LEARNER_FILES)
def test_each_learner_file_says_whose_it_is_and_stays_small(file):
    """A learner file names its step(s) and the functions that are the learner's in its
    docstring, is at most 150 lines, and holds no provided block over 25 lines. (The stub
    as generated: lab/ may hold a learner's work.)"""
    source = expected_stubs()[PROJECT_ROOT / file]
    tree = ast.parse(source)
    docstring = ast.get_docstring(tree) or ""
    assert docstring.startswith(f"Step {STEPS_OF[file][0].number} - YOUR FILE ({file})")
    for step in STEPS_OF[file]:
        assert re.search(rf"\bstep {step.number}\b", docstring, re.I), (file, step.number)
        for function in step.functions:
            path, name = function.split(":")
            if path == file:
                assert f"{name}()" in docstring, f"{file}'s docstring does not name {name}()"
    assert len(source.splitlines()) <= 150, f"{file} has {len(source.splitlines())} lines"
    learners = {f.split(":")[1] for step in STEPS_OF[file] for f in step.functions}
    for node in tree.body[1:]:
        if isinstance(node, (ast.Import, ast.ImportFrom)) or getattr(node, "name", "") in learners:
            continue
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        assert node.end_lineno - start < 25, f"{file}:{start}: a provided block of 25+ lines"


PROBE = """
import json
from fastapi.testclient import TestClient
from lab import producer, strategies

answers = {}
with TestClient(producer.app) as client:
    answers["GET /send-email"] = client.get("/send-email/a@example.com")
    answers["POST /emails"] = client.post("/emails", json={"email": "a@example.com"})
    answers["keyed POST /emails"] = client.post(
        "/emails", json={"email": "a@example.com"}, headers={"Idempotency-Key": "k1"}
    )
    answers["GET /jobs/x"] = client.get("/jobs/x")
with TestClient(strategies.app) as client:
    answers["POST /blocking/def"] = client.post("/blocking/def", json={"email": "a@example.com"})
print(json.dumps({k: [r.status_code, r.json()] for k, r in answers.items()}))
"""


@pytest.mark.parametrize(
    ("request_", "function"),
    [
        ("GET /send-email", "trigger_email() in lab/producer.py"),
        ("POST /emails", "create_email() in lab/producer.py"),
        ("keyed POST /emails", "claim_key() in lab/failures.py"),
        ("GET /jobs/x", "fetch_job() in lab/status.py"),
        ("POST /blocking/def", "send_blocking_def() in lab/strategies.py"),
    ],
)
def test_an_unwritten_stub_answers_501_naming_its_function(
    tmp_path, redis_url, python_m, request_, function
):
    """With only step 00 written, each endpoint answers 501 with the name of the function
    to write (not a bare 500 whose reason is in the server's log, or not yet)."""
    root = copy_checkout(tmp_path / "checkout", lab="stubs")
    shutil.copy2(root / "solutions" / "connection.py", root / "lab" / "connection.py")
    (root / "probe.py").write_text(PROBE)
    ran = python_m("probe", root=root)
    assert ran.returncode == 0, ran.stderr[-2000:]
    status, body = json.loads(ran.stdout.splitlines()[-1])[request_]
    assert (status, body) == (501, {"detail": f"{function} {NOT_DONE} (see its TODO)"}), (
        f"{request_} against the stubs should answer 501 naming {function}; got {status} {body}"
    )


def test_check_passes_on_a_learners_copy_unless_strict(tmp_path, dev_stubs):
    """`make test` runs `dev stubs --check`: a learner's work in lab/ is theirs, not a stale
    stub; CI's --strict still catches a stub edited by hand, and a changed solution whose
    stubs were not regenerated fails either way."""
    root = copy_checkout(tmp_path / "checkout", lab="solutions")  # every step done
    lenient = dev_stubs(root, "--check")
    assert lenient.returncode == 0, lenient.stdout
    assert "not compared: lab/tasks.py holds your work" in lenient.stdout
    assert dev_stubs(root, "--check", "--strict").returncode == 1
    solution = root / "solutions" / "tasks.py"
    solution.write_text(solution.read_text().replace("Pretend to send", "Fake"))
    stale = dev_stubs(root, "--check")
    assert stale.returncode == 1 and "stale: lab/support/stubs.sha256" in stale.stdout, stale.stdout
