"""PROVIDED: generate the learner's stubs in lab/ from the reference in solutions/.

In each solutions/<name>.py, every region between a `# BEGIN SOLUTION[: hint]` line and
its `# END SOLUTION` line becomes, at the same indentation,

    # TODO: <hint>
    raise NotImplementedError("not written yet: see the TODO here")

and the result is lab/<name>.py. `python -m lab stubs` writes them; `--check` only
compares, and fails when a stub differs from what the solutions generate.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

from .config import PROJECT_ROOT

BEGIN = re.compile(r"^(?P<indent>\s*)# BEGIN SOLUTION(?::\s*(?P<hint>.*?))?\s*$")
END = re.compile(r"^\s*# END SOLUTION\s*$")
DEFAULT_HINT = "write this part"
NOT_DONE = "not written yet: see the TODO here"


def make_stub(source: str, name: str = "<source>") -> str:
    """The stub text for one solution file's text."""
    out: list[str] = []
    inside = False
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        begin = BEGIN.match(line)
        if begin:
            if inside:
                raise ValueError(f"{name}:{number}: BEGIN SOLUTION inside another region")
            inside = True
            indent, hint = begin["indent"], begin["hint"] or DEFAULT_HINT
            out.append(f"{indent}# TODO: {hint}\n")
            out.append(f'{indent}raise NotImplementedError("{NOT_DONE}")\n')
        elif END.match(line):
            if not inside:
                raise ValueError(f"{name}:{number}: END SOLUTION without BEGIN SOLUTION")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{name}: BEGIN SOLUTION is never closed")
    return "".join(out)


def exercise_files(root: Path = PROJECT_ROOT) -> list[Path]:
    """The solution modules that have a stub: every solutions/*.py but __init__.py."""
    return sorted(p for p in (root / "solutions").glob("*.py") if p.name != "__init__.py")


def expected_stubs(root: Path = PROJECT_ROOT) -> dict[Path, str]:
    """{lab/<name>.py: the text it should have}."""
    return {
        root / "lab" / path.name: make_stub(path.read_text(), str(path.relative_to(root)))
        for path in exercise_files(root)
    }


def stale_stubs(root: Path = PROJECT_ROOT) -> list[Path]:
    """The stubs whose text differs from what the solutions generate."""
    return [
        path
        for path, text in expected_stubs(root).items()
        if not path.exists() or path.read_text() != text
    ]


def write_stubs(root: Path = PROJECT_ROOT) -> list[tuple[Path, Path | None]]:
    """Regenerate every stub; return (stub, backup) for each one that changed.

    A file that is replaced is first copied to .backups/ (ignored by git), so that
    running this in a learner's checkout loses no work.
    """
    changed = []
    for path, text in expected_stubs(root).items():
        if path.exists() and path.read_text() == text:
            continue
        backup = None
        if path.exists():
            stamp = time.strftime("%Y%m%d-%H%M%S")
            backup = root / ".backups" / f"{path.stem}-{stamp}{path.suffix}"
            backup.parent.mkdir(exist_ok=True)
            shutil.copy2(path, backup)
        path.write_text(text)
        changed.append((path, backup))
    return changed
