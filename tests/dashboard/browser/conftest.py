"""Fixtures of the browser tests: headless Chromium (Debian's ``chromium``, driven by
Playwright without any browser download), the application of ``project.py`` with a real
worker process, the dashboard served by a real uvicorn, and screenshots.

Without Chromium or Playwright these tests skip, saying how to install them; with ``CI`` set
that is a failure. ``TASKITO_DOCS_SCREENSHOTS=<dir>`` writes each test's screenshot there
under a stable name (docs/images/dashboard/ is made that way); otherwise screenshots go to
the test's temporary directory.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from taskito import Queue
from taskito.dashboard import Users, create_app
from tests.dashboard.browser.project import App, make_app, wait_for_worker
from tests.dashboard.harness import ADMIN, TEST_PASSWORD_COST, VIEWER, serve
from tests.helpers import running_in_ci

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

#: Where Chromium is looked for (Debian's package puts it here).
CHROMIUM_ENV = "TASKITO_TEST_CHROMIUM"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS_ENV = "TASKITO_DOCS_SCREENSHOTS"
#: How long an expectation waits for the page (a refresh every 2 s, a worker that runs jobs).
EXPECT_TIMEOUT_MS = 20_000
DESKTOP = {"width": 1280, "height": 800}
INSTALL_HINT = (
    "install Chromium with `apt-get install chromium` (Debian) and Playwright with "
    "`pip install playwright` (in the dev extra; no browser download is needed), or set "
    f"{CHROMIUM_ENV} to a Chromium executable"
)


def chromium_path() -> str:
    return os.environ.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM


def _require_browser() -> None:
    problem = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = "Playwright is not installed"
    if problem is None and not os.access(chromium_path(), os.X_OK):
        problem = f"no Chromium at {chromium_path()}"
    if problem is None:
        return
    reason = f"browser tests need a browser: {problem}; {INSTALL_HINT}"
    if running_in_ci():
        pytest.fail(f"CI is set and {reason}", pytrace=False)
    pytest.skip(reason)


# Module scope, not session: while sync_playwright() is open, an asyncio loop runs on this
# thread, and later tests that call asyncio.run() here would fail.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    _require_browser()
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    made = make_app(tmp_path)
    try:
        yield made
    finally:
        made.stop_workers()


@pytest.fixture
def queue(app: App) -> Iterator[Queue]:
    """The test's own Queue on the application's database: it enqueues and serves."""
    opened = Queue(db_path=str(app.db_path))
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def users(queue: Queue) -> Users:
    store = Users(queue, password_cost=TEST_PASSWORD_COST)
    store.create(*ADMIN, role="admin")
    store.create(*VIEWER, role="viewer")
    return store


@pytest.fixture
def base_url(queue: Queue, users: Users) -> Iterator[str]:
    """The dashboard (with an admin and a viewer) on a free port."""
    with serve(create_app(queue)) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def worker(app: App, queue: Queue) -> Iterator[None]:
    """A real ``taskito worker`` process on the application, registered before the test."""
    app.start_worker()
    try:
        wait_for_worker(queue)
    except AssertionError:
        raise AssertionError("the worker did not start:\n" + app.worker_output()) from None
    yield
    app.stop_workers()


class PageWatch:
    """What went wrong in a page: uncaught script errors and CSP violations."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def on_error(self, error: Any) -> None:
        self.problems.append(f"script error: {error}")

    def on_console(self, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.problems.append(f"CSP violation: {message.text}")


def open_page(browser: Browser, base_url: str, **context_options: Any) -> tuple[Any, Page]:
    """A fresh browser context (no cookies) with the refresh set to 2 s, and its page."""
    options: dict[str, Any] = {"viewport": DESKTOP, "base_url": base_url}
    options.update(context_options)
    context = browser.new_context(**options)
    context.add_init_script(
        "if (localStorage.getItem('taskito.refresh') === null) "
        "localStorage.setItem('taskito.refresh', '2');"
    )
    return context, context.new_page()


@pytest.fixture
def page(browser: Browser, base_url: str) -> Iterator[Page]:
    context, opened = open_page(browser, base_url)
    watch = PageWatch()
    opened.on("pageerror", watch.on_error)
    opened.on("console", watch.on_console)
    try:
        yield opened
    finally:
        context.close()
    assert not watch.problems, "\n".join(watch.problems)


class Screenshots:
    """Each test's screenshot: ``take(page, name)`` writes ``<name>.png``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def take(self, page: Page, name: str, *, full_page: bool = False) -> Path:
        if not re.fullmatch(r"[a-z0-9-]+", name):
            raise ValueError(f"screenshot names are lowercase words and dashes, got {name!r}")
        path = self.folder / f"{name}.png"
        page.mouse.move(0, 0)  # no hover effect in the picture
        # Written here, not by Playwright: its file writes start executor threads that
        # outlive the test (and the leak guard would count them).
        image = page.screenshot(full_page=full_page, animations="disabled")
        assert image.startswith(b"\x89PNG") and len(image) > 1000, f"screenshot {name} is empty"
        path.write_bytes(image)
        return path


@pytest.fixture
def screenshots(tmp_path: Path) -> Screenshots:
    folder = os.environ.get(SCREENSHOTS_ENV)
    return Screenshots(Path(folder) if folder else tmp_path / "screenshots")
