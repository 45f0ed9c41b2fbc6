"""A real browser (Debian's chromium driven by Playwright) and live gateways for the console.

- ``browser``: one headless Chromium per test module. Its own download is not used: the system
  ``chromium`` (``apt-get install chromium``; ``.ci/run`` installs it) is started by path.
- ``page``: a fresh browser context and tab per test. It records uncaught script errors and
  Content-Security-Policy violations, and the test fails if there were any.
- ``shots``: where screenshots go (``$CONSOLE_SCREENSHOTS``, else ``.artifacts/console/``; not
  committed; CI keeps them as artifacts).
- ``fake_gateway`` / ``open_gateway``: in-process gateways in front of the fake Ollama, with a
  key and without one.
- ``live`` (tests/console/test_live.py): a ``serve`` process with the real small model.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ollama_gateway.app import create_app
from tests.support.live import serve
from tests.support.secrets import KEY_A

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
KEY = KEY_A

# Collects what the page's own code could not do: CSP violations, as the browser reports them.
WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(`${event.violatedDirective} ${event.blockedURI} ${event.sample}`);
});
"""


# One browser per test module, not per session: while Playwright's sync API is active it marks an
# event loop as running in this thread, so asyncio.run() in the tests that follow would fail.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            "the console's browser tests need Chromium: apt-get install -y chromium "
            "(.ci/run installs it)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Tab:
    """A tab and what went wrong in it (uncaught errors, CSP violations)."""

    def __init__(self, context: Any) -> None:
        self.context = context
        self.page = context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def violations(self) -> list[str]:
        if self.page.is_closed():
            return []
        return self.page.evaluate("window.__violations || []")

    def check(self) -> None:
        assert self.errors == []
        assert self.violations() == []


@pytest.fixture
def new_tab(browser) -> Iterator[Callable[..., Any]]:
    """``new_tab(**context_options)``: a page in a fresh context (its own session storage)."""
    tabs: list[Tab] = []

    def make(**options: Any) -> Any:
        context = browser.new_context(**{"viewport": {"width": 1280, "height": 800}, **options})
        context.add_init_script(WATCH_VIOLATIONS)
        context.set_default_timeout(30_000)
        tab = Tab(context)
        tabs.append(tab)
        return tab.page

    yield make
    try:
        for tab in tabs:
            tab.check()
    finally:
        for tab in tabs:
            tab.context.close()


@pytest.fixture
def page(new_tab) -> Any:
    return new_tab()


@pytest.fixture(scope="session")
def shots() -> Path:
    where = Path(os.environ.get("CONSOLE_SCREENSHOTS") or ROOT / ".artifacts" / "console")
    where.mkdir(parents=True, exist_ok=True)
    return where


@pytest.fixture
def fake_gateway(ollama, make_settings) -> Iterator[str]:
    settings = make_settings(backend="ollama", ollama_url=ollama.url, api_keys=KEY, model="echo")
    before = list(ollama.models)
    ollama.models[:] = ["echo", "thinker", "llama2:latest"]
    try:
        with serve(create_app(settings)) as url:
            yield url
    finally:
        ollama.models[:] = before


@pytest.fixture
def open_gateway(ollama, make_settings) -> Iterator[str]:
    settings = make_settings(backend="ollama", ollama_url=ollama.url, model="llama2")
    with serve(create_app(settings)) as url:
        yield url


def sign_in(page: Any, url: str, key: str = KEY) -> None:
    page.goto(url + "/ui/")
    page.fill("#key", key)
    page.press("#key", "Enter")
    page.wait_for_selector("nav a", state="attached")


def offer_model(page: Any, name: str) -> None:
    """Add ``name`` to the playground's model list (one the server does not list) and pick it."""
    page.wait_for_selector("#model option", state="attached")
    page.evaluate(
        """(name) => {
            const select = document.querySelector("#model");
            select.append(new Option(name, name));
            select.value = name;
            select.dispatchEvent(new Event("change"));
        }""",
        name,
    )


def eventually(check: Callable[[], Any], timeout: float = 30.0, every: float = 0.1) -> Any:
    """Poll ``check`` until it returns something truthy; fail with its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still {value!r} after {timeout} s")
        time.sleep(every)
