"""The layout of lab/support/api/: modules by concern, no import cycle between them, and a
facade (its __init__.py) that holds exactly the names the learner's files import."""

from __future__ import annotations

import ast
import re

import lab.support.api as facade
from lab.support.config import PROJECT_ROOT

API = PROJECT_ROOT / "lab" / "support" / "api"
SOLUTIONS = PROJECT_ROOT / "solutions"


def imported_modules(path) -> set[str]:
    """The lab.support modules that the file at `path` imports, anywhere in it (in a function
    too: a lazy import is an edge of the graph all the same)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lab.support"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("lab.support")}
    return found


def test_the_api_modules_import_each_other_without_a_cycle():
    graph = {
        f"lab.support.api.{path.stem}": imported_modules(path)
        for path in API.glob("*.py")
        if path.name != "__init__.py"
    }
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        assert module not in path, "import cycle: " + " -> ".join([*path, module])
        if module in done:
            return
        for other in sorted(graph.get(module, ())):
            visit(other, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    # The dashboard needs the app's queue and the 503's words, not the app that mounts it.
    assert "lab.support.api.app" not in graph["lab.support.api.dashboard"]


def test_the_facade_holds_exactly_what_the_learner_files_import():
    imported: set[str] = set()
    for path in sorted(SOLUTIONS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "lab.support.api"
            ):
                assert node.module == "lab.support.api", (
                    f"{path.name} imports from {node.module}: import from lab.support.api"
                )
                imported |= {alias.name for alias in node.names}
    assert sorted(facade.__all__) == sorted(imported)
    for name in facade.__all__:
        assert re.search(rf"\b{name}\b", facade.__doc__), f"{name} is not in the facade's docstring"


def test_no_api_module_is_over_400_lines():
    sizes = {path.name: len(path.read_text().splitlines()) for path in API.glob("*.py")}
    assert max(sizes.values()) <= 400, sizes
