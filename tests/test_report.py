"""`python -m lab report`: an instructor's table of a class, learner x step, from copies
checked in checkouts of their own, with a time limit each."""

from __future__ import annotations

import subprocess

from plugins.groups import LAB_CHECK

from lab.support.config import PROJECT_ROOT
from lab.support.course.check import FULL, QUICK
from lab.support.course.exercises import STEPS
from lab.support.course.report import LEARNER_FILES, PROBE, fake_class


@LAB_CHECK
def test_a_class_of_four_copies(tmp_path, python_m, redis_url):
    """Step 00 done; step 00 wrong; a git clone of the first (read like a folder); a folder
    that does not exist; and, in a run of its own, a copy whose code never ends."""
    solved = (PROJECT_ROOT / "solutions" / "connection.py").read_text()
    copies = {
        "ada": solved,
        "bob": solved.replace("socket_timeout=", "retry=None, x="),
        "eve": solved + "\nwhile True:  # never ends, at import\n    pass\n",
    }
    for name, text in copies.items():
        (tmp_path / name / "lab").mkdir(parents=True)
        (tmp_path / name / "lab" / "connection.py").write_text(text)
        (tmp_path / name / "lab" / "notes.txt").write_text("not a learner file")
    git = ["git", "-C", str(tmp_path / "ada")]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run(
        [*git, "-c", "user.name=a", "-c", "user.email=a@b.c", "commit", "-qm", "x"], check=True
    )
    paths = [str(tmp_path / n) for n in ("ada", "bob")] + [str(tmp_path / "ada" / ".git")]
    out = tmp_path / "report"
    result = python_m("lab", "report", *paths, "nowhere", "--out", str(out), timeout=900)
    assert result.returncode == 0, result.stderr
    rows = {line.split(" | ")[0].removeprefix("| "): line for line in result.stdout.splitlines()}
    cells = {name: rows[name].split(" | ")[1:] for name in ("ada", "bob", "nowhere")}
    assert cells["ada"][0] == "passed" and cells["ada"][1] == "not started", rows["ada"]
    assert cells["bob"][0].startswith("failing ("), rows["bob"]
    assert "could not be read: no folder nowhere" in rows["nowhere"], rows["nowhere"]
    # Alone, with a short limit: killed, with its pytest workers.
    late = python_m("lab", "report", str(tmp_path / "eve"), "--out", str(tmp_path / "late"),
                    "--timeout", "5")  # fmt: skip
    assert "timed out after 5 s" in late.stdout, late.stdout + late.stderr
    assert rows["total passed"].split(" | ")[1] == "2", result.stdout  # ada, and its clone
    assert (out / "report.md").read_text() in result.stdout
    page = (out / "report.html").read_text()
    assert page.count("<tr>") == 1 + 4 + 3 and "background:#d1fae5" in page


def test_fake_class_mixes_complete_part_way_and_broken_copies(tmp_path):
    copies = fake_class(tmp_path, 6)
    assert [c.name for c in copies] == [f"learner-{i:02d}" for i in range(1, 7)]
    for copy in copies:
        assert sorted(str(p.relative_to(copy)) for p in copy.rglob("*.py")) == sorted(LEARNER_FILES)
    solved = PROJECT_ROOT / "solutions" / "tasks.py"
    assert (copies[0] / "lab" / "tasks.py").read_text() == solved.read_text()
    assert "NotImplementedError" in (copies[1] / "lab" / "tasks.py").read_text()
    assert "def broken(:" in (copies[2] / "lab" / "stats.py").read_text()
    assert len(STEPS) > 6


def test_the_probe_runs_the_tests_the_report_was_asked_for():
    """Quick tests by default, every exercise test with --full: the probe a copy runs."""
    for marks in (QUICK, FULL):
        probe = PROBE.format(marks)
        compile(probe, "probe", "exec")
        assert f"progress(marks={marks!r})" in probe
