"""The viewer role (every mutation disabled in the page and refused by the server), the theme
toggle (remembered), a phone-width screen, and the "backend offline" banner."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from taskito import Queue
from taskito.dashboard import Users, create_app
from tests.dashboard.browser.conftest import PageWatch, Screenshots, open_page
from tests.dashboard.browser.helpers import fetch, loaded, show, sign_in
from tests.dashboard.harness import VIEWER, Forwarder, serve
from tests.helpers import wait_until

pytestmark = pytest.mark.slow

#: Every mutation route, with a body where it needs one: a viewer gets 403 from each.
MUTATIONS = [
    ("POST", "/api/jobs/{job}/cancel", {"force": False}),
    ("POST", "/api/jobs/{job}/replay", None),
    ("POST", "/api/queues/default/pause", None),
    ("POST", "/api/queues/default/resume", None),
    ("POST", "/api/dead-letters/{dead}/retry", None),
    ("POST", "/api/dead-letters/retry-group", {"task_name": "boom", "exception": "ValueError"}),
    ("POST", "/api/dead-letters/purge", {"older_than": 0}),
    ("PUT", "/api/settings/reports.owner", {"value": "mallory"}),
    ("DELETE", "/api/settings/reports.owner", None),
]


def mutation_buttons_disabled(page: Page, at_least: int) -> None:
    buttons = page.locator("[data-mutation]")
    expect(buttons.first).to_be_visible()
    count = buttons.count()
    assert count >= at_least, f"{page.url}: {count} mutation buttons, expected {at_least}+"
    for i in range(count):
        expect(buttons.nth(i)).to_be_disabled()
        expect(buttons.nth(i)).to_have_attribute("title", re.compile("viewer"))


def test_a_viewer_sees_every_mutation_disabled_and_the_server_refuses_them(
    page: Page, queue: Queue, worker: None, screenshots: Screenshots
) -> None:
    running = queue.enqueue("wait_for_cancel", max_retries=0)
    dead = queue.enqueue("boom", args=("bad row",), max_retries=0)
    queue.set_setting("reports.owner", "ops@example.com")
    wait_until(lambda: queue.stats()["dead"] == 1 and queue.stats()["running"] == 1, timeout_s=20)
    (letter,) = queue.dead_letters()
    sign_in(page, VIEWER)
    expect(page.locator("#who")).to_have_text("vic (viewer)")

    show(page, f"/jobs/{running.id}")
    expect(page.locator(".job-head .badge")).to_have_text("running")
    mutation_buttons_disabled(page, 2)  # Cancel, Force-cancel
    show(page, f"/jobs/{dead.id}")
    mutation_buttons_disabled(page, 1)  # Replay
    show(page, "/queues")
    mutation_buttons_disabled(page, 1)  # Pause
    show(page, "/dead-letters")
    mutation_buttons_disabled(page, 3)  # Purge, Retry all, Retry
    show(page, "/settings")
    mutation_buttons_disabled(page, 3)  # Add, Edit, Delete
    expect(page.get_by_role("form", name="Add a setting").get_by_label("Key")).to_be_disabled()
    screenshots.take(page, "viewer")

    for method, path, body in MUTATIONS:
        answer = fetch(page, method, path.format(job=running.id, dead=letter["id"]), body)
        assert answer == {"status": 403, "body": {"error": "forbidden"}}, (method, path, answer)
    assert queue.get_setting("reports.owner") == "ops@example.com"
    assert queue.paused_queues() == []
    assert queue.get_job(running.id).status == "running"  # type: ignore[union-attr]
    assert len(queue.dead_letters()) == 1
    queue.cancel(running.id)


def test_the_theme_toggle_is_remembered(page: Page, queue: Queue, screenshots: Screenshots) -> None:
    queue.enqueue("add", args=(1, 2))
    page.emulate_media(color_scheme="light")
    sign_in(page)
    root = page.locator("html")
    expect(root).to_have_attribute("data-theme", "light")
    light_bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    page.get_by_role("button", name="Switch to the dark theme").click()
    expect(root).to_have_attribute("data-theme", "dark")
    dark_bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert dark_bg != light_bg
    page.reload()
    loaded(page)
    expect(root).to_have_attribute("data-theme", "dark")
    screenshots.take(page, "overview-dark")
    show(page, "/settings")
    page.locator("#pref-theme").select_option("light")
    expect(root).to_have_attribute("data-theme", "light")
    page.reload()
    expect(root).to_have_attribute("data-theme", "light")


def test_the_refresh_interval_is_chosen_and_remembered(
    page: Page, queue: Queue, screenshots: Screenshots
) -> None:
    page.clock.install()  # the page's timers run when the test says
    sign_in(page)
    refresh = page.locator("#refresh")
    shown = page.locator('[data-status="pending"] .stat-value')
    expect(refresh).to_have_value("2")  # the fixture's choice
    queue.enqueue("add", args=(1, 2))
    page.clock.run_for(2100)
    expect(shown).to_have_text("1")  # refreshed by the 2 s timer, without a reload

    refresh.select_option("0")
    page.reload()
    loaded(page)
    expect(refresh).to_have_value("0")
    expect(shown).to_have_text("1")
    queue.enqueue("add", args=(3, 4))
    page.clock.run_for(30_000)
    page.wait_for_load_state("networkidle")  # a refresh the timers started would show here
    expect(shown).to_have_text("1")

    refresh.select_option("10")
    expect(shown).to_have_text("2")  # a new choice refreshes at once
    queue.enqueue("add", args=(5, 6))
    page.clock.run_for(10_100)
    expect(shown).to_have_text("3")
    screenshots.take(page, "refresh-interval")


def test_a_phone_width_screen(
    browser: Browser, base_url: str, queue: Queue, screenshots: Screenshots
) -> None:
    for i in range(3):
        queue.enqueue("add", args=(i, i))
    context, page = open_page(
        browser, base_url, viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True
    )
    watch = PageWatch()
    page.on("pageerror", watch.on_error)
    try:
        sign_in(page)
        nav = page.locator("#nav")
        expect(nav).not_to_be_in_viewport()
        for path in ("/", "/jobs", "/queues", "/dead-letters", "/settings"):
            show(page, path)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 375, f"{path} is {width} px wide on a 375 px screen"
        show(page, "/")
        screenshots.take(page, "phone")
        page.get_by_role("button", name="Show the pages").click()
        expect(nav).to_be_in_viewport()
        screenshots.take(page, "phone-menu")
        nav.get_by_role("link", name="Jobs").click()
        expect(page).to_have_url(re.compile(r"/jobs$"))
        expect(nav).not_to_be_in_viewport()
        loaded(page)
        expect(page.locator("#jobs-table tbody tr")).to_have_count(3)
    finally:
        context.close()
    assert not watch.problems, watch.problems


def test_unknown_jobs_and_pages_say_so(page: Page, screenshots: Screenshots) -> None:
    sign_in(page)
    show(page, "/jobs/01900000-0000-7000-8000-000000000000")
    expect(page.locator(".job-head")).to_contain_text("Job not found")
    show(page, "/no/such/page")
    expect(page.locator("main")).to_contain_text("There is no such page")
    screenshots.take(page, "not-found")
    page.get_by_role("link", name="Back to the overview").click()
    loaded(page)
    expect(page.locator("#stat-cards")).to_be_visible()


@pytest.fixture
def forwarded(queue: Queue, users: Users) -> Iterator[tuple[Forwarder, str]]:
    """The dashboard behind a TCP forwarder the test can cut."""
    with serve(create_app(queue)) as port:
        forwarder = Forwarder(("127.0.0.1", port))
        try:
            yield forwarder, f"http://127.0.0.1:{forwarder.port}"
        finally:
            forwarder.cut()


def test_the_backend_offline_banner(
    browser: Browser, forwarded: tuple[Forwarder, str], screenshots: Screenshots
) -> None:
    forwarder, url = forwarded
    context, page = open_page(browser, url)
    try:
        sign_in(page)
        banner = page.locator("#offline")
        expect(banner).to_be_hidden()
        forwarder.cut()
        expect(banner).to_be_visible()
        expect(banner).to_contain_text("Backend offline")
        screenshots.take(page, "offline")
    finally:
        context.close()
