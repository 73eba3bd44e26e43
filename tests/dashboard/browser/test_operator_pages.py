"""The operator's buttons in a real browser: deleting one dead letter and purging a task's on
the dead-letters page, requeueing a running job on its page, and the retention windows with
their purge preview on the settings page."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from taskito import Queue
from taskito.job import now_ms
from tests.dashboard.browser.helpers import show, sign_in
from tests.helpers import wait_until

pytestmark = pytest.mark.slow


def test_delete_a_dead_letter_and_purge_a_task(page: Page, queue: Queue, worker: None) -> None:
    for i in range(2):
        queue.enqueue("boom", args=(f"row {i}",), max_retries=0, queue="imports")
    queue.enqueue("other_boom", max_retries=0, queue="imports")
    wait_until(lambda: queue.stats()["dead"] == 3, timeout_s=20)
    sign_in(page)
    show(page, "/dead-letters")
    letters = page.locator("#dead-letters tbody tr")
    expect(letters).to_have_count(3)
    letters.filter(has_text="KeyError").get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.locator(".toast")).to_contain_text("Dead letter deleted.")
    expect(letters).to_have_count(2)

    group = page.locator("#dead-groups tbody tr").filter(has_text="boom")
    group.get_by_role("button", name="Purge task…").click()
    page.get_by_role("dialog").get_by_role("button", name="Purge task").click()
    expect(page.locator(".toast").last).to_contain_text("Purged 2 dead letters.")
    expect(page.locator("#dead-groups")).to_contain_text("No dead letters")
    assert queue.dead_letters() == []


def test_requeue_a_running_job_and_see_the_retention_windows(page: Page, queue: Queue) -> None:
    job = queue.enqueue("add", args=(1, 1))
    queue._storage.claim("hung-worker", None, None, 10, now_ms(), 600_000)
    sign_in(page)
    show(page, f"/jobs/{job.id}")
    page.get_by_role("button", name="Requeue").click()
    page.get_by_role("dialog").get_by_role("button", name="Requeue").click()
    expect(page.locator(".toast")).to_contain_text("Requeued as a new attempt.")
    wait_until(lambda: queue.get_job(job.id).status == "pending")  # type: ignore[union-attr]

    show(page, "/settings")
    retention = page.locator("#retention")
    expect(retention).to_contain_text("Retention is off")
    expect(retention.locator("tbody tr")).to_have_count(5)
    expect(retention).to_contain_text("keep forever")
