"""PROVIDED: a real headless browser for notebooks and tests: Playwright driving the
Chromium (or Chrome) installed on this machine.

    with open_page(f"{api.url}/dashboard/queues", credentials=(user, password)) as (page, errors):
        page.wait_for_selector("#queues tbody tr")
        assert not errors

    png = screenshot(f"{api.url}/dashboard/queues", wait_for="#queues tbody tr",
                     credentials=(user, password))

No browser is downloaded (`playwright install` is not needed): `find_chromium()` looks for
one on this machine. On Debian/Ubuntu `sudo apt install chromium`; on macOS install Google
Chrome; or set CHROMIUM=/path/to/chrome.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import ConsoleMessage, Page

#: Commands that start Chromium or Chrome, looked for on PATH in this order.
COMMANDS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: Where macOS keeps them.
MAC_APPS = (
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
)
#: What to say when none is found.
INSTALL_HINT = (
    "No Chromium or Chrome found: on Debian/Ubuntu `sudo apt install chromium`, on macOS"
    " install Google Chrome, or set CHROMIUM=/path/to/chrome."
)
#: Flags for a headless run that asks nothing of the network but the page's own server:
#: --no-sandbox as root (CI); the background-networking flags stop Chromium's calls to
#: Google's hosts (updates, sync, field trials), which a closed network refuses.
FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def find_chromium() -> str | None:
    """The path of a Chromium or Chrome: $CHROMIUM, else one of COMMANDS on PATH, else a
    macOS application; None when there is none."""
    given = os.environ.get("CHROMIUM", "").strip()
    if given:
        return shutil.which(given)  # None for a path that is not an executable
    found = (shutil.which(command) for command in COMMANDS)
    return next(filter(None, found), None) or next(filter(os.path.isfile, MAC_APPS), None)


def playwright_installed() -> bool:
    """Whether Playwright is installed: `make test` installs it (the dev group), `make lab`
    does not."""
    return importlib.util.find_spec("playwright") is not None


def missing_browser() -> str:
    """Why no browser was found, and how to install one."""
    given = os.environ.get("CHROMIUM", "").strip()
    wrong = f"CHROMIUM={given} is not a program that can run here. " if given else ""
    return wrong + INSTALL_HINT


class BrowserNotFound(RuntimeError):
    """No Chromium or Chrome on this machine: the message says how to install one."""


@contextmanager
def open_page(
    url: str,
    width: int = 1280,
    height: int = 720,
    timeout: float = 10.0,
    credentials: tuple[str, str] | None = None,
) -> Iterator[tuple[Page, list[str]]]:
    """A headless Chromium page that has loaded `url`, and the list of errors it has met
    so far (console errors, uncaught exceptions, failed requests), which keeps growing while
    the page is open. `page.goto()` may load other addresses. `credentials`, (user,
    password), answer a server's HTTP Basic challenge, as a person would in the browser's
    dialog (the dashboard's DASHBOARD_USER and DASHBOARD_PASSWORD)."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 (only where used)

    executable = find_chromium()
    if executable is None:
        raise BrowserNotFound(missing_browser())
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=list(FLAGS)
        )
        try:
            login = credentials and {"username": credentials[0], "password": credentials[1]}
            page = browser.new_page(
                viewport={"width": width, "height": height}, http_credentials=login or None
            )
            page.set_default_timeout(timeout * 1000)
            errors: list[str] = []
            page.on("console", lambda message: errors.extend(console_error(message)))
            page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
            failed = lambda request: f"request failed: {request.url} ({request.failure})"  # noqa: E731
            page.on("requestfailed", lambda request: errors.append(failed(request)))
            page.goto(url)
            yield page, errors
        finally:
            browser.close()


def console_error(message: ConsoleMessage) -> list[str]:
    """[what a console error says, and where], or [] for another kind of console message."""
    if message.type != "error":
        return []
    where = message.location.get("url") or "?"
    return [f"console: {message.text} ({where})"]


def screenshot(url: str, wait_for: str | None = None, **options) -> bytes:
    """A PNG of `url` as headless Chromium shows it, once `wait_for` (a CSS selector) is on
    the page; raise if the page met an error. `options` go to open_page(). In a thread of
    its own: Playwright's sync API refuses a thread with an asyncio loop (a notebook's)."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(_screenshot, url, wait_for, options).result()


def _screenshot(url: str, wait_for: str | None, options: dict) -> bytes:
    with open_page(url, **options) as (page, errors):
        if wait_for:
            page.wait_for_selector(wait_for)
        page.wait_for_load_state("networkidle")
        if errors:
            raise RuntimeError(f"{url} met errors: {errors}")
        return page.screenshot(full_page=True)
