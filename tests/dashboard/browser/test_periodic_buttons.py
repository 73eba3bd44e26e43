"""The Periodic page's buttons in a real browser, with a real worker process: an admin pauses,
resumes and deletes the schedule the worker stored."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from taskito import Queue
from tests.dashboard.browser.helpers import show, sign_in
from tests.helpers import wait_until

pytestmark = pytest.mark.slow


def _enabled(queue: Queue) -> bool:
    (schedule,) = queue.list_periodic()
    return schedule.enabled


def test_pause_resume_and_delete_a_schedule(page: Page, queue: Queue, worker: None) -> None:
    wait_until(queue.list_periodic, timeout_s=20)  # stored by the worker as it starts
    sign_in(page)
    show(page, "/periodic")
    row = page.locator('tr[data-schedule="yearly_report"]')
    expect(row.locator(".badge")).to_have_text("enabled")
    row.get_by_role("button", name="Pause").click()
    expect(page.locator(".toast")).to_contain_text("Schedule yearly_report paused.")
    expect(row.locator(".badge")).to_have_text("paused")
    assert _enabled(queue) is False
    row.get_by_role("button", name="Resume").click()
    expect(row.locator(".badge")).to_have_text("enabled")
    assert _enabled(queue) is True
    row.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.locator("#periodic-table")).to_contain_text("No periodic schedule is stored")
    assert queue.list_periodic() == []
