"""Browser fixtures: the four pages in a real headless Chromium, against a real server.

``server`` starts ``mcburger run --speed 300 --workers 2 --seed 5`` (``tests.e2e.processes``) for
one test and stops it at teardown. ``open_page(path)`` opens a page of that server in a fresh
browser context of one Chromium: Debian's ``/usr/bin/chromium`` driven by Playwright by
path. Playwright never downloads a browser here (no ``playwright install``). Without that
Chromium or the ``playwright`` package the tests are skipped, naming ``scripts/install-chromium``.

``screenshot(page, name)`` saves a full-page PNG under ``test-artifacts/screenshots/``. When a test
fails, its report gets the server's log, each page's script errors and console errors, and a
screenshot of every page it left open (``test-artifacts/screenshots/failures/``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.processes import Launcher, Server
from tests.support.servers import STAFF_TOKEN

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright

# Nothing in this tier may fetch a browser build: the tests use Debian's Chromium by path.
os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update"]
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1920, "height": 1080}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 30_000  # every auto-waiting assertion and action: generous for a loaded 2-core CI
SERVER_FLAGS = ("--speed", "300", "--workers", "2", "--seed", "5")
INSTALL_HINT = ("run scripts/install-chromium (Debian's chromium at /usr/bin/chromium) and "
                "install the dev extras (pip install -e '.[dev]', which brings playwright)")

SERVERS = pytest.StashKey[list[Server]]()
PAGES = pytest.StashKey[list["WatchedPage"]]()


@dataclass
class WatchedPage:
    """A page and what went wrong in it: uncaught script errors, console errors, failed loads."""

    page: Page
    name: str
    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)

    def problems(self) -> str:
        lines = [f"uncaught: {e}" for e in self.page_errors]
        lines += [f"console.error: {e}" for e in self.console_errors]
        lines += [f"failed request: {e}" for e in self.failed_requests]
        return "\n".join(lines) or "(none)"


@pytest.fixture(scope="package")
def chromium() -> Iterator[Browser]:
    """A headless Chromium (Debian's) for this package's tests, closed after the last one, or a
    skip naming scripts/install-chromium."""
    if importlib.util.find_spec("playwright") is None:
        pytest.skip(f"playwright (Python) is not installed: {INSTALL_HINT}")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is missing: {INSTALL_HINT}")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    playwright: Playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            timeout=TIMEOUT_MS)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()


@pytest.fixture
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Server]:
    """A fresh ``mcburger run`` for this test (its log goes to the report if the test fails)."""
    def attach(started: Server) -> None:
        request.node.stash.setdefault(SERVERS, []).append(started)
    launcher = Launcher(tmp_path, on_start=attach)
    try:
        yield launcher(*SERVER_FLAGS)
    finally:
        launcher.stop_all()


class PageOpener:
    """``open_page(path, phone=False, init_script=None, setup=None)`` -> a loaded ``Page``.

    Each call gets its own browser context (own storage, like a separate device), 1920x1080 or,
    with ``phone=True``, 390x844. ``init_script`` runs in every document before the page's own
    scripts; ``setup(context)`` runs before the page opens (routes, say); staff pages are signed
    in with ``staff_token`` (None: not signed in). Script errors, console errors and failed
    requests are recorded (``watched``); only the test's server may be reached: any other
    address is refused and recorded.
    """

    def __init__(self, browser: Browser, server: Server, watched: list[WatchedPage]) -> None:
        self._browser = browser
        self._server = server
        self.watched = watched
        self.contexts: list[BrowserContext] = []

    def __call__(self, path: str, *, phone: bool = False, init_script: str | None = None,
                 setup: Callable[[BrowserContext], None] | None = None,
                 staff_token: str | None = STAFF_TOKEN) -> Page:
        options: dict[str, Any] = {"viewport": PHONE if phone else DESKTOP,
                                   "base_url": self._server.url, "service_workers": "block"}
        if phone:
            options.update(device_scale_factor=2, is_mobile=True, has_touch=True)
        context = self._browser.new_context(**options)
        self.contexts.append(context)
        context.set_default_timeout(TIMEOUT_MS)
        if staff_token is not None:  # as if signed in on this tab (staff.js keeps it there)
            context.add_init_script(
                f"sessionStorage.setItem('mcburger.staffToken', {json.dumps(staff_token)})")
        if init_script is not None:
            context.add_init_script(init_script)
        if setup is not None:
            setup(context)
        # Offline: nothing but this test's server may be asked for anything.
        context.route(_NOT_LOCAL, lambda route: route.abort())
        page = context.new_page()
        record = WatchedPage(page, f"{len(self.watched) + 1}-{path.strip('/') or 'kiosk'}"
                             f"{'-phone' if phone else ''}")
        self.watched.append(record)
        page.on("pageerror", lambda error: record.page_errors.append(str(error)))
        page.on("console", lambda message: record.console_errors.append(
            f"{message.text} ({message.location.get('url', '')})")
            if message.type == "error" else None)
        # (a request the page itself cancels, a closed stream say, is ERR_ABORTED: not a failure)
        page.on("requestfailed", lambda req: record.failed_requests.append(
            f"{req.method} {req.url}: {req.failure}")
            if "ERR_ABORTED" not in (req.failure or "") else None)
        page.on("response", lambda response: record.failed_requests.append(
            f"{response.request.method} {response.url}: HTTP {response.status}")
            if response.status >= 400 and not response.url.endswith("/favicon.ico") else None)
        page.goto(path, wait_until="load")
        return page


_NOT_LOCAL = re.compile(r"^(?!(https?|wss?)://127\.0\.0\.1[:/]|data:|blob:|about:)")


@pytest.fixture
def open_page(chromium: Browser, server: Server,
              request: pytest.FixtureRequest) -> Iterator[PageOpener]:
    """A ``PageOpener`` for this test's server; a failing test's pages are screenshotted."""
    opener = PageOpener(chromium, server, request.node.stash.setdefault(PAGES, []))
    yield opener
    if getattr(request.node, "browser_call_failed", False):
        for record in request.node.stash.get(PAGES, []):
            if record.page.is_closed():
                continue
            try:
                name = re.sub(r"[^\w.-]+", "_", f"{request.node.name}-{record.name}")
                target = SCREENSHOTS / "failures" / f"{name}.png"
                record.page.screenshot(path=str(target), full_page=True, timeout=5_000)
            except Exception as error:  # a screenshot must not hide the test's own failure
                record.console_errors.append(f"(failure screenshot not taken: {error})")
    for context in opener.contexts:
        # A route handler still answering a poll (route.fetch) when the page goes would raise
        # "Response has been disposed" into the NEXT test's first Playwright call
        context.unroute_all(behavior="ignoreErrors")
        context.close()


def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Save a PNG of ``page`` (the whole page, or only what the viewport shows) as
    ``test-artifacts/screenshots/<name>.png``."""
    path = SCREENSHOTS / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    return path


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
        item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    if report.when == "call" and report.failed:
        item.browser_call_failed = True  # type: ignore[attr-defined]  # read by open_page
    if report.failed:
        for started in item.stash.get(SERVERS, []):
            report.sections.append(
                (f"mcburger log {started.log_path.name} (pid {started.pid})",
                 started.log_tail()))
        for record in item.stash.get(PAGES, []):
            report.sections.append((f"browser page {record.name} ({record.page.url})",
                                    record.problems()))
    return report
