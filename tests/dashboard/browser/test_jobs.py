"""Signing in, the overview, the jobs page with its filters, and one job's page: its progress
bar moving, cancelling it while it runs, its dependency graph; jobs run by a real worker."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from taskito import Queue
from tests.dashboard.browser.conftest import Screenshots
from tests.dashboard.browser.helpers import loaded, show, sign_in
from tests.dashboard.browser.project import App
from tests.helpers import wait_until

pytestmark = pytest.mark.slow


def status_of(queue: Queue, job_id: str) -> str:
    job = queue.get_job(job_id)
    assert job is not None
    return job.status


def test_sign_in_and_see_the_jobs_a_worker_ran(
    page: Page, queue: Queue, worker: None, screenshots: Screenshots
) -> None:
    added = [queue.enqueue("add", args=(i, i)) for i in range(5)]
    queue.enqueue("add", args=(1, 2), queue="emails")
    dead = queue.enqueue("boom", args=("disk full",), max_retries=0)
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login$"))
    screenshots.take(page, "login")
    sign_in(page)
    health = page.locator(".health")
    expect(health).to_have_attribute("data-status", "ready")
    expect(health).to_contain_text("Healthy")
    expect(health).to_contain_text("1 live worker")
    cards = page.locator("#stat-cards")
    expect(cards.locator('[data-status="completed"] .stat-value')).to_have_text("6")
    expect(cards.locator('[data-status="dead"] .stat-value')).to_have_text("1")
    recent = page.get_by_role("table", name=None).last
    expect(recent).to_contain_text("boom")
    expect(page.get_by_role("link", name=dead.id[-8:])).to_be_visible()
    for job in added:
        assert status_of(queue, job.id) == "complete"
    screenshots.take(page, "signed-in")


def test_the_jobs_page_keeps_its_filters_in_the_url(
    page: Page, queue: Queue, worker: None, screenshots: Screenshots
) -> None:
    for i in range(23):
        queue.enqueue("add", args=(i, 1), metadata=f'{{"batch": "b{i % 2}"}}')
    failing = [queue.enqueue("boom", args=(f"bad input {i}",), max_retries=0) for i in range(2)]
    queue.enqueue("add", args=(0, 0), queue="emails")
    wait_until(
        lambda: queue.stats()["completed"] == 24 and queue.stats()["dead"] == 2, timeout_s=20
    )
    sign_in(page)
    page.get_by_role("link", name="Jobs", exact=True).click()
    loaded(page)
    rows = page.locator("#jobs-table tbody tr")
    expect(rows).to_have_count(20)
    page.get_by_role("button", name="Next →").click()
    expect(page).to_have_url(re.compile(r"[?&]page=2"))
    expect(rows).to_have_count(6)

    form = page.get_by_role("search", name="Filter jobs")
    form.get_by_label("Status").select_option("dead")
    form.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"[?&]status=dead"))
    expect(page).not_to_have_url(re.compile(r"page=2"))
    expect(rows).to_have_count(2)
    for job in failing:
        expect(page.locator("#jobs-table")).to_contain_text(job.id[-8:])

    form.get_by_label("Status").select_option("")
    form.get_by_label("Queue").fill("emails")
    form.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"[?&]queue=emails"))
    expect(rows).to_have_count(1)

    page.goto("/jobs?status=complete&metadata=b1&task=add")
    loaded(page)
    form = page.get_by_role("search", name="Filter jobs")
    expect(form.get_by_label("Status")).to_have_value("complete")
    expect(form.get_by_label("Metadata")).to_have_value("b1")
    expect(rows).to_have_count(11)
    page.go_back()
    loaded(page)
    expect(page).to_have_url(re.compile(r"[?&]queue=emails"))
    expect(rows).to_have_count(1)
    page.goto("/jobs?error=bad+input+1")
    loaded(page)
    expect(rows).to_have_count(1)
    expect(page.locator("#jobs-table")).to_contain_text(failing[1].id[-8:])
    page.goto("/jobs")
    loaded(page)
    screenshots.take(page, "jobs")


def test_a_job_page_shows_its_progress_bar_move(
    page: Page, app: App, queue: Queue, worker: None, screenshots: Screenshots
) -> None:
    job = queue.enqueue("stepper", args=(app.gate_dir,), max_retries=0)
    sign_in(page)
    show(page, f"/jobs/{job.id}")
    progress = page.locator("#job-progress")
    expect(progress).to_have_attribute("value", "25")
    expect(page.locator(".job-head")).to_contain_text("running")
    page.get_by_role("tab", name="Logs").click()
    expect(page).to_have_url(re.compile(r"[?&]tab=logs"))
    expect(page.locator(".tab-body")).to_contain_text("step 1 of 4")
    app.open_gate(1)
    expect(progress).to_have_attribute("value", "50")
    expect(page.locator(".tab-body")).to_contain_text("step 2 of 4")
    screenshots.take(page, "job-detail")
    app.open_gate(2)
    expect(progress).to_have_attribute("value", "75")
    app.open_gate(3)
    expect(progress).to_have_attribute("value", "100")
    expect(page.locator(".job-head .badge")).to_have_text("complete")
    expect(page.locator(".progress-text")).to_have_text("100%")
    expect(page.get_by_role("button", name="Replay")).to_be_enabled()
    assert status_of(queue, job.id) == "complete"


def test_cancel_a_running_job_from_its_page(
    page: Page, queue: Queue, worker: None, screenshots: Screenshots
) -> None:
    job = queue.enqueue("wait_for_cancel", max_retries=0)
    wait_until(lambda: status_of(queue, job.id) == "running", timeout_s=20)
    sign_in(page)
    show(page, f"/jobs/{job.id}")
    expect(page.get_by_role("button", name="Force-cancel")).to_be_enabled()
    page.get_by_role("button", name="Cancel", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Cancel this job?")
    dialog.get_by_role("button", name="Cancel job").click()
    expect(page.locator(".toast")).to_contain_text("Cancellation requested")
    expect(page.locator(".job-head .badge")).to_have_text("cancelled")
    expect(page.get_by_role("button", name="Cancel", exact=True)).to_have_count(0)
    expect(page.get_by_role("button", name="Replay")).to_be_visible()
    assert status_of(queue, job.id) == "cancelled"
    screenshots.take(page, "job-cancelled")


def test_a_job_page_draws_its_dependency_graph(
    page: Page, queue: Queue, worker: None, screenshots: Screenshots
) -> None:
    first = queue.enqueue("add", args=(1, 1))
    second = queue.enqueue("add", args=(2, 2), depends_on=first.id)
    third = queue.enqueue("add", args=(3, 3), depends_on=[first.id, second.id])
    wait_until(lambda: status_of(queue, third.id) == "complete", timeout_s=20)
    sign_in(page)
    show(page, f"/jobs/{second.id}?tab=dag")
    graph = page.locator("svg.dag")
    expect(graph.locator(".dag-node")).to_have_count(3)
    expect(graph.locator(".dag-edge")).to_have_count(3)
    expect(graph.locator(".dag-node.current")).to_have_attribute("data-job", second.id)
    expect(page.locator("#job-arguments")).to_contain_text("[2,2]")
    expect(page.locator("#job-result")).to_have_text("4")
    screenshots.take(page, "job-graph")
    graph.locator(f'.dag-node[data-job="{third.id}"]').click()
    expect(page).to_have_url(re.compile(third.id))
    loaded(page)
    expect(page.locator(".job-head")).to_contain_text(third.id)
