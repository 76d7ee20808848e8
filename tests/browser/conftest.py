"""Browser tests: Playwright's sync API driving Debian's Chromium against the live server.

Chromium comes from apt (/usr/bin/chromium), not from `playwright install`, so the tests run
on a closed network. Where it is missing they skip locally and fail in CI, so a CI image that
lost its browser cannot pass by running nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page
    from pytest_django.live_server_helper import LiveServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
TABLET = {"width": 768, "height": 1024}
TIMEOUT_MS = 10_000


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is missing: install Debian's chromium package to run browser tests."
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    _require_chromium()
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop running in this thread; Django would take
    # every ORM call the test makes for one made from async code and refuse it.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(autouse=True)
def _roles(request: pytest.FixtureRequest) -> None:
    """Recreate the role groups: a transactional test's flush empties the tables that the data
    migrations filled, so a second browser test would otherwise find no roles."""
    if "live_server" not in request.fixturenames:
        return
    request.getfixturevalue("transactional_db")
    from clinicops.core.roles import sync_roles

    sync_roles()


@dataclass
class ConsoleLog:
    """What the page said on its console: CSP violations and script errors, kept per test."""

    messages: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def record(self, message: ConsoleMessage) -> None:
        self.messages.append(f"[{message.type}] {message.text} ({message.location.get('url')})")

    @property
    def csp_violations(self) -> list[str]:
        return [m for m in self.messages if "Content Security Policy" in m]

    @property
    def errors(self) -> list[str]:
        """Console errors and uncaught exceptions, less htmx's note of a superseded request.

        `hx-sync="this:replace"` aborts a request that a newer one replaces, and htmx logs the
        abort (and the aborted request's end) as errors. Failed requests still show: htmx logs
        those as htmx:responseError or htmx:sendError.
        """
        superseded = ("[error] htmx:sendAbort", "[error] htmx:afterRequest")
        return [
            m for m in self.messages if m.startswith("[error]") and not m.startswith(superseded)
        ] + self.page_errors


@pytest.fixture
def console() -> ConsoleLog:
    return ConsoleLog()


@pytest.fixture
def page(browser: Browser, live_server: LiveServer, console: ConsoleLog) -> Iterator[Page]:
    """A fresh browser context (no cookies) per test, at desktop size, on the live server."""
    context = browser.new_context(viewport=DESKTOP, base_url=live_server.url)
    context.set_default_timeout(TIMEOUT_MS)
    new_page = context.new_page()
    new_page.on("console", console.record)
    new_page.on("pageerror", lambda error: console.page_errors.append(str(error)))
    yield new_page
    context.close()


def take_screenshot(page: Page, name: str) -> list[Path]:
    """Save the page as artifacts/screenshots/<name>-desktop.png and <name>-tablet.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size or DESKTOP
    paths = []
    for label, size in (("desktop", DESKTOP), ("tablet", TABLET)):
        page.set_viewport_size(size)
        path = SCREENSHOTS / f"{name}-{label}.png"
        # caret="initial": Playwright's caret hiding leaves an empty style attribute on the
        # page's inputs (the header's "Flag a problem" form is on every page), which an htmx
        # settle then copies, and the CSP refuses that as an inline style.
        page.screenshot(path=str(path), full_page=True, caret="initial")
        paths.append(path)
    page.set_viewport_size(original)
    return paths


@pytest.fixture
def screenshot() -> Callable[[Page, str], list[Path]]:
    return take_screenshot


# axe-core, vendored from npm (axe-core 4.14.1, tests/browser/vendor/, MPL-2.0): the
# accessibility check runs offline, evaluated through the DevTools protocol (the page's strict
# CSP does not apply to it, and the page is not changed for the tests).
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
LAPTOP = {"width": 1366, "height": 768}
AXE_SIZES = (("1366x768", LAPTOP), ("768x1024", TABLET))


def axe_violations(page: Page, *, impacts: tuple[str, ...] = ("serious", "critical")) -> list[str]:
    """axe's serious and critical violations on the page as it is now, at 1366x768 and at
    768x1024 (the viewport is put back after), one line per rule and element."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())
    original = page.viewport_size or DESKTOP
    found = []
    for label, size in AXE_SIZES:
        page.set_viewport_size(size)
        result = page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        )
        for violation in result:
            if violation.get("impact") not in impacts:
                continue
            for node in violation["nodes"]:
                found.append(f"{label} {violation['id']}: {node['target']} {violation['help']}")
    page.set_viewport_size(original)
    return found


def htmx_settled(page: Page) -> None:
    """Wait until htmx has finished every request, swap and settle on the page.

    htmx shows swapped-in content at once but binds its triggers in the settle step about 20 ms
    later; a test that types into a just-swapped input inside that window loses the event (a
    person cannot type that fast). Call this after a swap and before using what it brought."""
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )
