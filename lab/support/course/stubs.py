"""PROVIDED (maintainers): the learner's stubs in lab/, generated from solutions/.

In each solutions/<name>.py, every region between a `# BEGIN SOLUTION[: hint]` line and
its `# END SOLUTION` line becomes, at the same indentation, `# TODO: <hint>` and
`raise NotImplementedError("<function>() in lab/<name>.py is not written yet")`.
`--check` fails when a stub differs from what the solutions generate; a stub a learner
edited is theirs and not compared (`make test` passes on a learner's copy) unless
`--strict` (CI). A stub is replaced only while untouched - the stub as last generated,
whose SHA-256 the manifest (lab/support/stubs.sha256, as `sha256sum` writes) records -
or with `force`, after a copy to .backups/.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from lab.support.config import PROJECT_ROOT

DEF = re.compile(r"^(?P<indent>\s*)(?:async\s+)?def\s+(?P<name>\w+)")
BEGIN = re.compile(r"^(?P<indent>\s*)# BEGIN SOLUTION(?::\s*(?P<hint>.*?))?\s*$")
END = re.compile(r"^\s*# END SOLUTION\s*$")
DEFAULT_HINT = "write this part"
#: Every stub's NotImplementedError says this after its function and file, wherever it
#: surfaces (an API answer, a job's error, a test); `lab check`: a function not started.
NOT_DONE = "is not written yet"
MANIFEST = Path("lab/support/stubs.sha256")


def make_stub(source: str, name: str) -> str:
    """The stub text for one solution file's text (`name`: its path, for messages)."""
    out: list[str] = []
    inside = False
    defs: list[tuple[int, str]] = []  # (indentation, name) of the enclosing functions
    where = f"lab/{Path(name).name}"
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        begin, define = BEGIN.match(line), DEF.match(line)
        if define and not inside:
            depth = len(define["indent"])
            defs = [d for d in defs if d[0] < depth] + [(depth, define["name"])]
        if begin:
            if inside:
                raise ValueError(f"{name}:{number}: BEGIN SOLUTION inside another region")
            inside = True
            indent, hint = begin["indent"], begin["hint"] or DEFAULT_HINT
            enclosing = [n for depth, n in defs if depth < len(indent)]
            if not enclosing:
                raise ValueError(f"{name}:{number}: BEGIN SOLUTION outside a function")
            out.append(f"{indent}# TODO: {hint}\n")
            out.append(f'{indent}raise NotImplementedError("{not_done(enclosing[-1], where)}")\n')
        elif END.match(line):
            if not inside:
                raise ValueError(f"{name}:{number}: END SOLUTION without BEGIN SOLUTION")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{name}: BEGIN SOLUTION is never closed")
    return "".join(out)


def not_done(function: str, path: str) -> str:
    """The message of the stub of `function` in `path` (lab/<name>.py)."""
    return f"{function}() in {path} {NOT_DONE}"


def exercise_files(root: Path = PROJECT_ROOT) -> list[Path]:
    """The solution modules that have a stub: every solutions/*.py but __init__.py."""
    return sorted(p for p in (root / "solutions").glob("*.py") if p.name != "__init__.py")


def expected_stubs(root: Path = PROJECT_ROOT) -> dict[Path, str]:
    """{lab/<name>.py: the text it should have}."""
    return {
        root / "lab" / path.name: make_stub(path.read_text(), str(path.relative_to(root)))
        for path in exercise_files(root)
    }


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def manifest_text(stubs: dict[Path, str], root: Path) -> str:
    """The manifest for `stubs`: one `<sha256>  lab/<name>.py` line each, as sha256sum writes."""
    return "".join(
        f"{sha256(text)}  {path.relative_to(root).as_posix()}\n" for path, text in stubs.items()
    )


def read_manifest(root: Path = PROJECT_ROOT) -> dict[str, str]:
    """{"lab/<name>.py": the SHA-256 of the stub as last generated}."""
    path = root / MANIFEST
    if not path.exists():
        return {}
    pairs = (line.split(maxsplit=1) for line in path.read_text().splitlines())
    return {pair[1].strip(): pair[0] for pair in pairs if len(pair) == 2}  # skip what is not


def edited(path: Path, root: Path = PROJECT_ROOT) -> bool:
    """Whether lab/<name>.py `path` is a learner's work: neither missing nor the stub as
    the manifest says it was last generated."""
    if not path.exists():
        return False
    recorded = read_manifest(root).get(path.relative_to(root).as_posix())
    return sha256(path.read_text()) != recorded


def stale_stubs(root: Path = PROJECT_ROOT, strict: bool = True) -> list[Path]:
    """The stubs whose text differs from what the solutions generate (unless `strict`, not
    those a learner edited), and the manifest if it does not record them."""
    stubs = expected_stubs(root)
    stale = [
        path
        for path, text in stubs.items()
        if (not path.exists() or path.read_text() != text) and (strict or not edited(path, root))
    ]
    manifest = root / MANIFEST
    if not manifest.exists() or manifest.read_text() != manifest_text(stubs, root):
        stale.append(manifest)
    return stale


@dataclass
class Written:
    """What write_stubs() did: (stub, backup of the file it replaced or None) for each file
    `written`; the edited files `kept` as they were (without force)."""

    written: list[tuple[Path, Path | None]] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)


def write_stubs(root: Path = PROJECT_ROOT, force: bool = False) -> Written:
    """Regenerate the stubs and the manifest; keep every edited file unless `force`."""
    stubs = expected_stubs(root)
    generated = read_manifest(root)
    done = Written()
    for path, text in stubs.items():
        current = path.read_text() if path.exists() else None
        if current == text:
            continue
        untouched = current is None or sha256(current) == generated.get(
            path.relative_to(root).as_posix()
        )
        if not untouched and not force:
            done.kept.append(path)
            continue
        backup = None
        if not untouched:  # an edited file, replaced because of force
            backup = root / ".backups" / f"{path.stem}-{time.strftime('%Y%m%d-%H%M%S')}.py"
            backup.parent.mkdir(exist_ok=True)
            shutil.copy2(path, backup)
        path.write_text(text)
        done.written.append((path, backup))
    # The manifest records what was generated, also for a kept file: once its learner
    # puts the stub back, it counts as untouched again.
    (root / MANIFEST).write_text(manifest_text(stubs, root))
    return done


def main(
    check: bool = False, force: bool = False, strict: bool = False, root: Path = PROJECT_ROOT
) -> int:
    """`python -m lab dev stubs [--check [--strict]] [--force]`; returns the exit code."""
    if check:
        stale = stale_stubs(root, strict)
        for path in stale:
            print(f"stale: {path.relative_to(root)}; run `python -m lab dev stubs`")
        if not strict:
            for path in expected_stubs(root):
                if edited(path, root):
                    print(f"not compared: {path.relative_to(root)} holds your work")
        return 1 if stale else 0
    done = write_stubs(root, force)
    for path, backup in done.written:
        saved = f" (the edited file is in .backups/{backup.name})" if backup else ""
        print(f"wrote {path.relative_to(root)}{saved}")
    for path in done.kept:
        print(f"kept {path.relative_to(root)}: it has edits; --force replaces it (with a backup)")
    return 1 if done.kept else 0
