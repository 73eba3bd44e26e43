"""The jobs page pages by key: Next starts after the last row shown, Previous goes back
through the cursors kept in the URL; with a filter, across rows enqueued meanwhile, a reload
and the browser's back button, no row repeats and none is skipped."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from taskito import Queue
from tests.dashboard.browser.conftest import Screenshots
from tests.dashboard.browser.helpers import loaded, show, sign_in

pytestmark = pytest.mark.slow

FILTERED = 50  # three pages of 20: 20, 20 and 10


def shown_ids(page: Page, first: int, last: int) -> list[str]:
    """The full ids of the rows shown, once the page says it shows rows ``first``-``last``."""
    expect(page.get_by_role("status").filter(has_text="Showing")).to_contain_text(
        f"Showing {first:,}\u2013{last:,}"
    )
    ids: list[str] = page.locator("#jobs-table tbody tr td:first-child a").evaluate_all(
        "(links) => links.map((a) => a.title)"
    )
    assert len(ids) == last - first + 1, ids
    return ids


def newest_first(queue: Queue, ids: list[str]) -> list[str]:
    rows = [queue.get_job(i).to_dict(refresh=False) for i in ids]  # type: ignore[union-attr]
    rows.sort(key=lambda r: (r["created_at"], r["id"]), reverse=True)
    return [r["id"] for r in rows]


def test_page_forward_and_back_by_key_with_a_filter(
    page: Page, queue: Queue, screenshots: Screenshots
) -> None:
    # Enqueued in one burst: many share a millisecond, so the id breaks the ties.
    wanted = [queue.enqueue("add", args=(i, i), queue="reports").id for i in range(FILTERED)]
    for i in range(15):
        queue.enqueue("add", args=(i, 0), queue="emails")
    order = newest_first(queue, wanted)
    sign_in(page)
    show(page, "/jobs?queue=reports")
    next_page = page.get_by_role("button", name="Next →")
    previous = page.get_by_role("button", name="← Previous")
    expect(previous).to_be_disabled()
    first = shown_ids(page, 1, 20)
    assert first == order[:20]

    # Newer jobs arrive at the top: an offset would now repeat five rows on page 2.
    arrived = [queue.enqueue("add", args=(0, i), queue="reports").id for i in range(5)]
    next_page.click()
    expect(page).to_have_url(re.compile(r"[?&]after=\d+%2C"))
    expect(page).to_have_url(re.compile(r"[?&]page=2"))
    expect(page).to_have_url(re.compile(r"[?&]queue=reports"))
    second = shown_ids(page, 21, 40)
    next_page.click()
    expect(page).to_have_url(re.compile(r"[?&]trail="))
    third = shown_ids(page, 41, 50)
    expect(next_page).to_be_disabled()
    seen = first + second + third
    assert len(set(seen)) == len(seen), "a row repeats"
    assert seen == order, "a row is skipped or out of order"
    screenshots.take(page, "jobs-paging")

    # A reload keeps the place; Previous goes back through the cursors.
    page.reload()
    loaded(page)
    assert shown_ids(page, 41, 50) == third
    previous.click()
    assert shown_ids(page, 21, 40) == second
    previous.click()
    expect(previous).to_be_disabled()
    expect(page).not_to_have_url(re.compile(r"after="))
    assert shown_ids(page, 1, 20) == newest_first(queue, arrived + wanted)[:20]

    # The browser's back button walks the same pages.
    page.go_back()
    loaded(page)
    assert shown_ids(page, 21, 40) == second
    page.go_back()
    loaded(page)
    assert shown_ids(page, 41, 50) == third

    # A job opened from there leads back to that page by its breadcrumb.
    page.get_by_role("link", name=third[0][-8:]).click()
    loaded(page)
    expect(page.locator(".job-head")).to_contain_text("add")
    page.locator("#crumbs").get_by_role("link", name="Jobs").click()
    loaded(page)
    expect(page).to_have_url(re.compile(r"[?&]queue=reports"))
    assert shown_ids(page, 41, 50) == third


def test_cursors_in_the_url_bad_or_too_many(page: Page, queue: Queue) -> None:
    ids = [queue.enqueue("add", args=(i, i)).id for i in range(3)]
    sign_in(page)
    show(page, "/jobs?after=yesterday&trail=x&page=7")
    assert sorted(shown_ids(page, 1, 3)) == sorted(ids)
    expect(page.get_by_role("button", name="← Previous")).to_be_disabled()
    # A well-formed cursor of no job: the rows after that point, by key.
    show(page, "/jobs?after=1%2Czzz&page=2")
    expect(page.locator("#jobs-table")).to_contain_text("No more jobs on this page.")

    # Past the newest job, every job is on the page; the URL keeps only the last 100
    # cursors (it must fit in a request line), and the page number says how deep it is.
    future = "99999999999999,z"
    trail = "".join(f"&trail={future}" for _ in range(120))
    show(page, f"/jobs?after={future}{trail}&page=150")
    assert sorted(shown_ids(page, 2981, 2983)) == sorted(ids)
    page.get_by_role("button", name="← Previous").click()
    expect(page).to_have_url(re.compile(r"[?&]page=149"))
    shown_ids(page, 2961, 2963)
    query = parse_qs(urlsplit(page.url).query)
    assert len(query["trail"]) == 99
