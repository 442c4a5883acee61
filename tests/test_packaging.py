"""The ways in: environment.yml (the conda path), pyproject.toml, the README's quick start,
the Makefile targets it names, and CI calling the same command.

conda cannot run here, so environment.yml is checked as a file: it must bring Python,
pip and a Redis server from conda-forge and pip-install this project with the lock's pins
(requirements.txt, tests/test_lock.py), without repeating pyproject.toml's list.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml  # PyYAML: installed with jupyter (jupyter_events needs it)

from lab.support.config import PROJECT_ROOT
from lab.support.course.exercises import learner_modules
from lab.support.course.reference import copy_checkout

ROOT = PROJECT_ROOT
ENVIRONMENT = ROOT / "environment.yml"
PYPROJECT = ROOT / "pyproject.toml"
MAKEFILE = ROOT / "Makefile"

QUICK_START = (
    "make lab     # creates .venv, installs everything, starts a local Redis,"
    " opens JupyterLab on notebooks/",
    "make test    # the same set-up, then every test and every notebook (nbval)",
)

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def normalize(name: str) -> str:
    """A package name as PyPI and conda compare them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def name_of(spec: str) -> str:
    """ "fastapi>=0.115" -> "fastapi", "python>=3.10,<3.14" -> "python"."""
    found = NAME.match(spec.strip())
    assert found, f"cannot read a package name in {spec!r}"
    return normalize(found.group())


def project_table() -> dict:
    """The [project] table of pyproject.toml (tomllib on 3.11+, a small parser on 3.10)."""
    text = PYPROJECT.read_text()
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: read the two entries these tests need
        block = re.search(r"^dependencies\s*=\s*\[(.*?)^\]", text, re.M | re.S)
        assert block, "no `dependencies = [...]` in pyproject.toml"
        lines = [line for line in block.group(1).splitlines() if not line.strip().startswith("#")]
        python = re.search(r'^requires-python\s*=\s*"([^"]*)"', text, re.M)
        return {
            "dependencies": re.findall(r'"([^"]*)"', "\n".join(lines)),
            "requires-python": python.group(1) if python else "",
        }
    return tomllib.loads(text)["project"]


@pytest.fixture(scope="module")
def environment() -> dict:
    data = yaml.safe_load(ENVIRONMENT.read_text())
    assert isinstance(data, dict), "environment.yml is not a mapping"
    return data


def conda_specs(environment: dict) -> list[str]:
    return [item for item in environment.get("dependencies", []) if isinstance(item, str)]


def pip_section(environment: dict) -> list[str]:
    sections = [
        item["pip"]
        for item in environment.get("dependencies", [])
        if isinstance(item, dict) and "pip" in item
    ]
    assert len(sections) == 1, f"expected one `pip:` section, found {len(sections)}"
    return sections[0]


def test_environment_is_conda_forge_only(environment: dict) -> None:
    assert environment.get("name") == "task-queue-workbook"
    assert environment.get("channels") == ["conda-forge"]


def test_environment_brings_python_redis_server_and_pip(environment: dict) -> None:
    names = {name_of(spec) for spec in conda_specs(environment)}
    assert {"python", "redis-server", "pip"} <= names, f"conda packages: {sorted(names)}"


def test_environment_python_matches_requires_python(environment: dict) -> None:
    python = [spec for spec in conda_specs(environment) if name_of(spec) == "python"]
    assert len(python) == 1, python
    lower = re.search(r">=\s*([\d.]+)", project_table()["requires-python"])
    assert lower, "pyproject.toml has no requires-python lower bound"
    assert f">={lower.group(1)}" in python[0].replace(" ", ""), (
        f"environment.yml asks for {python[0]!r}; pyproject.toml needs Python >={lower.group(1)}"
    )


def test_environment_pip_installs_the_locked_set(environment: dict) -> None:
    """conda's pip installs requirements.txt (the lock's pins), which holds this project."""
    assert pip_section(environment) == ["-r requirements.txt"]
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    assert "-e ." in lines, "requirements.txt should install this project (uv export does)"


def test_environment_does_not_repeat_the_dependency_list(environment: dict) -> None:
    dependencies = {name_of(spec) for spec in project_table()["dependencies"]}
    assert {"fastapi", "rq", "redis", "nbval"} <= dependencies, "pyproject.toml was misread"
    listed = {name_of(spec) for spec in conda_specs(environment)}
    listed |= {name_of(spec) for spec in pip_section(environment) if not spec.startswith("-")}
    repeated = sorted(dependencies & listed)
    assert not repeated, f"already in pyproject.toml, do not list in environment.yml: {repeated}"


def test_pyproject_packages_and_readme_exist() -> None:
    """setuptools finds the packages lab* and solutions: every folder of Python files in
    them is a package (an __init__.py), or its modules would be left out of an install."""
    text = PYPROJECT.read_text()
    include = re.search(
        r"^\[tool\.setuptools\.packages\.find\]\ninclude\s*=\s*\[([^\]]*)\]", text, re.M
    )
    assert include, "no `[tool.setuptools.packages.find] include = [...]` in pyproject.toml"
    assert re.findall(r'"([^"]+)"', include.group(1)) == ["lab*", "solutions"]
    for top in ("lab", "solutions"):
        for folder in {path.parent for path in (ROOT / top).rglob("*.py")}:
            if "__pycache__" in folder.parts:
                continue
            assert (folder / "__init__.py").is_file(), (
                f"{folder.relative_to(ROOT)} has no __init__.py"
            )
    readme = re.search(r'^readme\s*=\s*"([^"]+)"', text, re.M)
    assert readme and (ROOT / readme.group(1)).is_file(), "pyproject.toml's readme is missing"


def test_readme_quick_start_is_the_two_commands() -> None:
    lines = [line.rstrip() for line in (ROOT / "README.md").read_text().splitlines()]
    for command in QUICK_START:
        assert command in lines, f"README.md lacks the quick-start line: {command}"
    assert lines.index(QUICK_START[0]) + 1 == lines.index(QUICK_START[1])


def test_ci_runs_the_readme_test_command() -> None:
    commands = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    assert any(re.fullmatch(r"(exec\s+)?make test( STRICT=--strict)?", c) for c in commands), (
        f".ci/run should call the README's `make test`; it runs {commands}"
    )


@pytest.mark.parametrize("target", ["lab", "test"])
def test_makefile_has_the_quick_start_targets(target: str) -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(rf"^{target}\s*:", makefile, re.M), f"Makefile has no `{target}:` target"


def test_the_pip_path_installs_this_project_quietly(tmp_path) -> None:
    """The pip path's install line (`make lab INSTALL=pip`), run as it is on this project
    alone (its pins are installed already): it prints no warning a learner would take for
    an error, such as setuptools' BuildBackendWarning about editable installs."""
    recipe = re.search(r"^\$\(VENV\)/\.lab-pip:.*\n((?:\t.*\n)+)", MAKEFILE.read_text(), re.M)
    assert recipe, "the Makefile has no pip path ($(VENV)/.lab-pip)"
    lines = [line.strip() for line in recipe.group(1).splitlines() if "-m pip install" in line]
    assert len(lines) == 1 and lines[0].endswith("-r requirements.txt"), lines
    only_this = tmp_path / "project.txt"
    only_this.write_text("-e .\n")
    venv = tmp_path / "venv"
    command = lines[0].replace("$(PY)", f"{venv}/bin/python")
    command = command.replace("requirements.txt", f"{only_this} --no-deps")
    checkout = copy_checkout(tmp_path / "checkout", lab="stubs")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    ran = subprocess.run(command, shell=True, cwd=checkout, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    said = [
        line
        for line in (ran.stdout + ran.stderr).splitlines()
        if "is ignored: it is neither a file nor a directory" not in line  # this machine
    ]
    assert not any("Warning" in line or "!!" in line for line in said), (
        "the pip path should install without warnings; it printed:\n" + "\n".join(said)
    )


def test_lint_in_make_test_leaves_the_learners_files_alone(tmp_path, python_m) -> None:
    """`make test` runs ruff: it must pass on a learner's copy however they wrote lab/."""
    root = copy_checkout(tmp_path / "checkout", lab="solutions")
    for name in learner_modules():  # every learner file, the newest step's too
        mine = root / "lab" / f"{name}.py"
        mine.write_text(
            mine.read_text()
            + "x = 'a line far longer than a hundred characters, "
            + "y" * 80
            + "'\nimport os\n"
        )
    for command in (["ruff", "check", "."], ["ruff", "format", "--check", "."]):
        ran = python_m(*command, root=root)
        assert ran.returncode == 0, f"{' '.join(command)} judged the learner's lab/:\n{ran.stdout}"
