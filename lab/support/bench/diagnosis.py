"""PROVIDED: why a request or a process of the bench failed, in one line.

The bench stops with one line, no traceback: the last line of what a process printed,
or, when the API logged a NotImplementedError, that a TODO is not written yet.
"""

from __future__ import annotations

from ..background import Background


def last_line(text: str) -> str:
    """The last line of `text` that is not blank, stripped ("" if none)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def why(api: Background, package: str) -> tuple[str, bool]:
    """What the API logged about a request that failed (call it just after the answer),
    and whether it was a TODO of `package` not written yet."""
    log = api.settled_output()  # the server logs the traceback after it sent the 500
    if "NotImplementedError" in log:
        return (
            f"a TODO in {package}/ is not written yet (NotImplementedError);"
            " `python -m lab check` shows which",
            True,
        )
    return last_line(log), False
