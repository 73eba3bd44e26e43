"""The Overrides page in a real browser, with a real worker process: an admin pauses a task
(its new job stays pending while the worker runs), then resumes it (the job completes)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from taskito import JobResult, Queue
from taskito.job import JobStatus
from tests.dashboard.browser.helpers import show, sign_in
from tests.dashboard.browser.project import App
from tests.helpers import wait_until

pytestmark = pytest.mark.slow


def _put_back(queue: Queue, job_id: str) -> bool:
    """The worker claimed the job and put it back to pending, due later."""
    record = queue._storage.get_job(job_id)
    return (
        record is not None
        and record.status is JobStatus.PENDING
        and record.scheduled_at > record.created_at
    )


def _settled(queue: Queue, job: JobResult) -> bool:
    """Put back by the paused worker, or run before the worker saw the pause. A JobResult's
    ``status`` is the snapshot taken when it was read: refresh it to see the worker's work."""
    if _put_back(queue, job.id):
        return True
    job.refresh()
    return job.status != "pending"


def test_pause_and_resume_a_task(page: Page, queue: Queue, worker: None, app: App) -> None:
    # The dashboard's Queue knows the task as the app's worker does (``taskito dashboard
    # --app`` loads the same app).
    @queue.task(name="add")
    def add(a: int, b: int) -> int:
        return a + b

    sign_in(page)
    show(page, "/overrides")
    row = page.locator('tr[data-task="add"]')
    expect(row.locator(".badge")).to_have_text("active")
    row.get_by_role("button", name="Pause").click()
    expect(page.locator(".toast")).to_contain_text("Task add paused.")
    expect(row.locator(".badge")).to_have_text("paused")
    override = queue.get_task_override("add")
    assert override is not None and override.paused

    # The worker process re-reads overrides once a second: a job enqueued before it did may
    # still run, so enqueue until one is claimed and put back.
    def put_back_job() -> JobResult | None:
        job = queue.enqueue("add", args=(2, 3))
        wait_until(lambda: _settled(queue, job), timeout_s=20)
        return job if _put_back(queue, job.id) else None

    job = wait_until(put_back_job, timeout_s=30)
    job.refresh()
    assert job.status == "pending"
    row.get_by_role("button", name="Resume").click()
    expect(row.locator(".badge")).to_have_text("active")
    assert job.result(timeout=20) == 5
