"""PROVIDED (maintainers): how an environment differs from the lock's pins.

`python -m lab dev newer-than-lock requirements-dev.txt` (run by `make test-latest`)
lists each package whose installed version is not the one pinned for this platform, so
that a failure of the newest releases can be traced to the release that changed.
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)\s*(?:;\s*(.+))?$")


def normalize(name: str) -> str:
    """A package name as PyPI compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(text: str) -> dict[str, str]:
    """`name==version` pins of an exported requirements file that apply here (markers)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        pin = PIN.match(line.strip())
        if pin and (pin.group(3) is None or Marker(pin.group(3)).evaluate()):
            found[normalize(pin.group(1))] = pin.group(2)
    return found


def installed() -> dict[str, str]:
    return {normalize(d.metadata["Name"]): d.version for d in metadata.distributions()}


def differences(pinned: dict[str, str], present: dict[str, str]) -> list[str]:
    """One line per pinned package installed at another version, or not installed."""
    return [
        f"  {name}: locked {version}, here {present.get(name) or 'not installed'}"
        for name, version in sorted(pinned.items())
        if present.get(name) != version
    ]


def main(requirements: str) -> int:
    changed = differences(pins(Path(requirements).read_text()), installed())
    if changed:
        print(f"{len(changed)} packages differ from the lock ({requirements}):", *changed, sep="\n")
    else:
        print(f"every package is at its locked version ({requirements})")
    return 0
