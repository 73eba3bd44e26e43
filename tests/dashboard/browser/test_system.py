"""The System page: the interception table (each strategy applied at enqueue) and the proxy
table (what this process's worker rebuilt), from a Queue that intercepts arguments, served by
the dashboard in the same process as a real worker thread."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from taskito import InterceptionError, Queue
from tests.api.backends.support import worker_thread
from tests.dashboard.browser.conftest import Screenshots
from tests.dashboard.browser.helpers import loaded, show, sign_in
from tests.dashboard.browser.project import App

pytestmark = pytest.mark.slow


@pytest.fixture
def queue(app: App, request: pytest.FixtureRequest) -> Iterator[Queue]:
    """The queue the dashboard serves: one that intercepts arguments (strict), unless the
    test asks for ``None`` (interception off)."""
    mode = getattr(request, "param", "strict")
    options = {} if mode is None else {"interception": mode}
    opened = Queue(db_path=str(app.db_path), **options)
    try:
        yield opened
    finally:
        opened.close()


def test_the_system_page_shows_interception_and_proxy_figures(
    page: Page, queue: Queue, screenshots: Screenshots
) -> None:
    @queue.task(name="stamp", max_retries=0)
    def stamp(log: logging.Logger, when: dt.date) -> str:
        return f"{log.name} {when.isoformat()}"

    sign_in(page)
    page.get_by_role("link", name="System", exact=True).click()
    loaded(page)
    expect(page.locator("#proxy-table")).to_contain_text("No proxy rebuilt in this process yet")
    expect(page.locator("#interception-summary")).to_contain_text("0 calls intercepted")

    jobs = [stamp.delay(logging.getLogger(f"billing.{n}"), dt.date(2024, 5, n)) for n in (1, 2)]
    with pytest.raises(InterceptionError):
        stamp.delay(threading.Lock(), dt.date(2024, 5, 3))
    with worker_thread(queue):
        assert [job.result(20) for job in jobs] == ["billing.1 2024-05-01", "billing.2 2024-05-02"]

    show(page, "/system")
    strategies = page.locator("#interception-table")
    expect(page.locator("#interception-summary")).to_contain_text("3 calls intercepted")
    # Two loggers proxied, three dates converted (the refused call's too), the lock rejected.
    expect(strategies.locator("tr.strategy-proxy td").nth(1)).to_have_text("2")
    expect(strategies.locator("tr.strategy-convert td").nth(1)).to_have_text("3")
    expect(strategies.locator("tr.strategy-reject td").nth(1)).to_have_text("1")
    expect(strategies.locator("tr.strategy-redirect td").nth(1)).to_have_text("0")
    row = page.locator("#proxy-table tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(0)).to_have_text("logger")
    expect(row.locator("td").nth(1)).to_have_text("2")  # rebuilt
    expect(row.locator("td").nth(2)).to_have_text("0")  # errors
    assert page.locator("nav#nav a[data-page=system]").get_attribute("aria-current") == "page"
    screenshots.take(page, "system")


@pytest.mark.parametrize("queue", [None], indirect=True)
def test_the_system_page_says_when_interception_is_off(page: Page, queue: Queue) -> None:
    sign_in(page)
    show(page, "/system")
    expect(page.locator("#interception-table")).to_contain_text("Argument interception is off")
    expect(page.locator("#proxy-table")).to_contain_text("No proxy rebuilt")
