"""The web console in a real headless Chromium (Debian's), against the local platform.

Each test gets a fresh browser context (no saved session) and a page that records every console
error, uncaught exception and Content-Security-Policy violation; a test fails if any happened that
it did not expect. Screenshots go to out/artifacts/console/.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.local_platform import ROOT, RunningPlatform

SCREENSHOTS = ROOT / "out" / "artifacts" / "console"
# The package's binary: its `chromium` wrapper script prints shell warnings in containers.
CHROMIUM = Path("/usr/lib/chromium/chromium")
# Without the background-networking flags Chromium keeps trying to reach Google on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Written into every page before its own scripts run: policy violations become console messages.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) =>
  console.error(`CSP violation: ${event.violatedDirective} ${event.blockedURI} ${event.sourceFile}`));
"""
# The browser logs every HTTP error a fetch receives; the console shows those to the user itself.
EXPECTED_NOISE = ("Failed to load resource: the server responded with a status of",)

pytestmark = pytest.mark.browser


@dataclass
class Console:
    """A page and what went wrong on it."""

    page: Page
    url: str
    problems: list[str] = field(default_factory=list)

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=path, full_page=True)
        return path


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    executable = CHROMIUM if CHROMIUM.exists() else Path(shutil.which("chromium") or CHROMIUM)
    launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
    yield launched
    launched.close()


def open_console(browser: Browser, url: str, **context_options: Any) -> Console:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, accept_downloads=True, **context_options)
    context.set_default_timeout(30_000)
    context.add_init_script(REPORT_VIOLATIONS)
    page = context.new_page()
    console = Console(page, url)

    def note(message: Any) -> None:
        if message.type == "error" and not message.text.startswith(EXPECTED_NOISE):
            console.problems.append(message.text)

    page.on("console", note)
    page.on("pageerror", lambda error: console.problems.append(f"uncaught: {error}"))
    page.goto(url)
    return console


@pytest.fixture
def console(browser: Browser, running_platform: RunningPlatform) -> Iterator[Console]:
    opened = open_console(browser, running_platform.api_url + "/")
    yield opened
    problems = list(opened.problems)
    opened.page.context.close()
    assert problems == [], "the page logged errors"
