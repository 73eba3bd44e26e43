"""The command palette (opened with Ctrl+K): every page of the sidebar, the theme and the
refresh interval, a job by its id; the keyboard alone drives it, focus stays inside, and a
viewer is offered nothing that changes things. Also the type-to-confirm it shares with the
pages, the "backend offline" banner when the dashboard's server stops, and the skeletons a
page shows until its first answer."""

from __future__ import annotations

import re
from contextlib import ExitStack

import pytest
from playwright.sync_api import Browser, Locator, Page, Route, expect

from taskito import Queue
from taskito.dashboard import Users, create_app
from tests.dashboard.browser.conftest import Screenshots, open_page
from tests.dashboard.browser.helpers import loaded, show, sign_in
from tests.dashboard.harness import VIEWER, serve
from tests.helpers import wait_until

pytestmark = pytest.mark.slow

NAV_LABELS_JS = (
    "() => [...document.querySelectorAll('#nav a[data-page]')].map((a) => a.textContent)"
)


def open_palette(page: Page) -> tuple[Locator, Locator]:
    page.keyboard.press("Control+k")
    dialog = page.get_by_role("dialog", name="Command palette")
    expect(dialog).to_be_visible()
    field = dialog.get_by_role("combobox", name="Page, action or job id")
    expect(field).to_be_focused()
    return dialog, field


def test_the_palette_opens_pages_and_jobs_from_the_keyboard(
    page: Page, queue: Queue, screenshots: Screenshots
) -> None:
    job = queue.enqueue("add", args=(2, 3))
    sign_in(page)
    dialog, field = open_palette(page)
    options = dialog.get_by_role("option")
    labels = page.evaluate(NAV_LABELS_JS)
    for label in labels:  # every page of the sidebar
        expect(options.filter(has_text=re.compile(f"^{re.escape(label)}Page$"))).to_have_count(1)
    expect(dialog.locator("[data-command=theme]")).to_contain_text("Switch to the")
    expect(dialog.locator("[data-command=purge-dead-letters]")).to_have_count(1)
    screenshots.take(page, "palette")

    # Arrows move the choice (and wrap); Tab stays in the dialog; Escape closes it.
    field.type("o")
    first = options.first
    expect(first).to_have_attribute("aria-selected", "true")
    page.keyboard.press("ArrowDown")
    expect(first).to_have_attribute("aria-selected", "false")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    expect(options.last).to_have_attribute("aria-selected", "true")
    active = field.get_attribute("aria-activedescendant")
    assert active == options.last.get_attribute("id")
    page.keyboard.press("Tab")
    expect(field).to_be_focused()
    page.keyboard.press("Shift+Tab")
    expect(field).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page).not_to_have_url(re.compile(r"/workers$"))

    # A page by its name.
    dialog, field = open_palette(page)
    field.fill("worker")  # not "work": Workflows matches that too
    expect(dialog.get_by_role("option")).to_have_count(1)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/workers$"))
    expect(dialog).to_be_hidden()
    loaded(page)
    expect(page.locator("#crumbs")).to_have_text("Workers")

    # A job by its id, pasted with the spaces and quotes a copy brings along.
    dialog, field = open_palette(page)
    field.fill(f' "{job.id.upper()}" ')
    expect(dialog.get_by_role("option").first).to_have_text(re.compile(f"Open job {job.id}"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(f"/jobs/{job.id}$"))
    loaded(page)
    expect(page.locator(".job-head")).to_contain_text("add")
    crumbs = page.locator("#crumbs")
    expect(crumbs.get_by_role("link", name="Jobs")).to_have_attribute("href", "/jobs")
    expect(crumbs).to_contain_text(job.id[-8:])

    # A full id pasted into the empty field opens the job without Enter.
    other = queue.enqueue("add", args=(4, 5))
    dialog, field = open_palette(page)
    field.evaluate(
        """(input, text) => {
            const data = new DataTransfer();
            data.setData("text/plain", text);
            input.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data,
                bubbles: true, cancelable: true }));
        }""",
        f"{other.id}\n",
    )
    expect(page).to_have_url(re.compile(f"/jobs/{other.id}$"))
    expect(dialog).to_be_hidden()
    loaded(page)

    # Words that name nothing say so; the theme switches from the palette.
    dialog, field = open_palette(page)
    field.fill("no such thing")
    expect(dialog).to_contain_text("Nothing matches.")
    theme = page.evaluate("document.documentElement.dataset.theme")
    field.fill("theme")
    page.keyboard.press("Enter")
    expect(page.locator("html")).not_to_have_attribute("data-theme", theme)
    # The header's button opens it too; the refresh interval is set from it.
    page.get_by_role("button", name="Open the command palette").click()
    field.fill("stop refreshing")
    page.keyboard.press("Enter")
    expect(page.locator("#refresh")).to_have_value("0")


def test_a_viewer_is_offered_no_mutation(page: Page, queue: Queue) -> None:
    sign_in(page, VIEWER)
    dialog, field = open_palette(page)
    expect(dialog.get_by_role("option").first).to_be_visible()
    expect(dialog.locator("[data-mutation]")).to_have_count(0)
    field.fill("purge")
    expect(dialog).to_contain_text("Nothing matches.")


def test_purge_from_the_palette_refuses_a_wrong_word(page: Page, queue: Queue) -> None:
    sign_in(page)
    dialog, field = open_palette(page)
    field.fill("purge")
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    confirm = page.get_by_role("dialog").filter(has_text="Purge every dead letter?")
    button = confirm.get_by_role("button", name="Purge")
    typed = confirm.get_by_label("Type purge to confirm")
    expect(typed).to_be_focused()
    expect(button).to_be_disabled()
    for wrong in ("Purge", "purg", "delete"):
        typed.fill(wrong)
        expect(button).to_be_disabled()
    page.keyboard.press("Enter")  # Enter cannot press a disabled button
    expect(confirm).to_be_visible()
    confirm.get_by_role("button", name="Cancel").click()
    expect(confirm).to_be_hidden()
    expect(page.locator(".toast")).to_have_count(0)


def test_the_offline_banner_when_the_server_stops(
    browser: Browser, queue: Queue, users: Users, screenshots: Screenshots
) -> None:
    ids = [queue.enqueue("add", args=(i, i)).id for i in range(3)]
    with ExitStack() as server:
        port = server.enter_context(serve(create_app(queue)))
        context, page = open_page(browser, f"http://127.0.0.1:{port}")
        try:
            sign_in(page)
            show(page, "/jobs")
            rows = page.locator("#jobs-table tbody tr")
            expect(rows).to_have_count(3)
            banner = page.locator("#offline")
            expect(banner).to_be_hidden()
            server.close()  # uvicorn stops and its thread is joined
            expect(banner).to_be_visible()
            expect(banner).to_contain_text("Backend offline")
            expect(banner).to_contain_text("did not answer")
            # What was shown stays, with the time it was last brought up to date.
            expect(rows).to_have_count(3)
            expect(page.locator("#jobs-table")).to_contain_text(ids[0][-8:])
            expect(page.locator("#refreshed")).to_contain_text("Updated")
            screenshots.take(page, "offline-stopped")
        finally:
            context.close()


def test_a_page_shows_skeletons_until_its_first_answer(page: Page, queue: Queue) -> None:
    queue.enqueue("add", args=(1, 1))
    sign_in(page)
    held: list[Route] = []
    # The jobs list waits for the test.
    page.route(re.compile(r"/api/jobs\?"), lambda route: held.append(route))
    page.get_by_role("link", name="Jobs", exact=True).click()
    main = page.locator("#page")
    expect(main).to_have_attribute("aria-busy", "true")
    expect(page.locator("#jobs-table")).to_have_css("min-height", re.compile(r"^[1-9]"))
    # Each evaluate lets Playwright hand over the held request.
    wait_until(lambda: page.evaluate("true") and len(held) == 1, timeout_s=10)
    held[0].continue_()
    loaded(page)
    expect(main).not_to_have_attribute("aria-busy", "true")
    expect(page.locator("#jobs-table tbody tr")).to_have_count(1)
