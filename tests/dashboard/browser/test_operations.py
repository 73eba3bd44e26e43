"""The operations pages with a real worker: pausing and resuming a queue, retrying and
purging dead letters, the live log tail, workers, circuit breakers and settings."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from taskito import Queue
from tests.dashboard.browser.conftest import Screenshots
from tests.dashboard.browser.helpers import loaded, show, sign_in
from tests.helpers import wait_until

pytestmark = pytest.mark.slow


def status_of(queue: Queue, job_id: str) -> str:
    job = queue.get_job(job_id)
    assert job is not None
    return job.status


def test_pause_and_resume_a_queue(
    page: Page, queue: Queue, worker: None, screenshots: Screenshots
) -> None:
    first = queue.enqueue("add", args=(1, 1), queue="reports")
    queue.enqueue("add", args=(2, 2), queue="emails")
    wait_until(lambda: queue.stats()["completed"] == 2, timeout_s=20)
    sign_in(page)
    page.get_by_role("link", name="Queues", exact=True).click()
    loaded(page)
    row = page.locator('tr[data-queue="reports"]')
    expect(row).to_contain_text("active")
    row.get_by_role("button", name="Pause").click()
    page.get_by_role("dialog").get_by_role("button", name="Pause").click()
    expect(page.locator(".toast")).to_contain_text("Queue reports paused.")
    expect(row.locator(".badge")).to_have_text("paused")
    assert queue.paused_queues() == ["reports"]

    held = queue.enqueue("add", args=(3, 3), queue="reports")
    passed = queue.enqueue("add", args=(4, 4), queue="emails")
    wait_until(lambda: status_of(queue, passed.id) == "complete", timeout_s=20)
    assert status_of(queue, held.id) == "pending"
    expect(row.locator("td").nth(2)).to_have_text("1")  # pending
    screenshots.take(page, "queues")

    row.get_by_role("button", name="Resume").click()
    expect(page.locator(".toast").last).to_contain_text("Queue reports resumed.")
    expect(row.locator(".badge")).to_have_text("active")
    wait_until(lambda: status_of(queue, held.id) == "complete", timeout_s=20)
    expect(row.locator("td").nth(2)).to_have_text("0")  # pending: the held job ran
    assert queue.paused_queues() == []
    assert status_of(queue, first.id) == "complete"


def test_retry_dead_letters_one_by_one_by_group_and_purge(
    page: Page, queue: Queue, worker: None, screenshots: Screenshots
) -> None:
    for i in range(3):
        queue.enqueue("boom", args=(f"row {i} is malformed",), max_retries=0, queue="imports")
    queue.enqueue("other_boom", max_retries=0, queue="imports")
    queue.enqueue("flaky", max_retries=0, queue="imports")
    wait_until(lambda: queue.stats()["dead"] == 5, timeout_s=20)
    queue.pause("imports")  # retried letters stay pending, where the test can see them
    sign_in(page)
    show(page, "/dead-letters")
    groups = page.locator("#dead-groups tbody tr")
    expect(groups).to_have_count(3)
    expect(groups.first).to_contain_text("boom")
    expect(groups.first).to_contain_text("ValueError")
    expect(groups.first.locator("td").nth(2)).to_have_text("3")
    expect(page.locator("#dead-groups")).to_contain_text("KeyError")
    expect(page.locator("#dead-groups")).to_contain_text("ConnectionError")
    screenshots.take(page, "dead-letters")

    letter = page.locator("#dead-letters tbody tr").filter(has_text="KeyError")
    letter.get_by_role("button", name="Retry").click()
    expect(page.locator(".toast")).to_contain_text("Retried as a new job.")
    expect(groups).to_have_count(2)
    assert queue.stats()["pending"] == 1

    groups.first.get_by_role("button", name="Retry all 3").click()
    page.get_by_role("dialog").get_by_role("button", name="Retry all").click()
    expect(page.locator(".toast").last).to_contain_text("Retried 3 letters.")
    expect(groups).to_have_count(1)
    assert queue.stats()["pending"] == 4

    page.get_by_role("button", name="Purge all…").click()
    dialog = page.get_by_role("dialog")
    confirm = dialog.get_by_role("button", name="Purge")
    expect(confirm).to_be_disabled()
    dialog.get_by_label("Type purge to confirm").fill("purg")
    expect(confirm).to_be_disabled()
    dialog.get_by_label("Type purge to confirm").fill("purge")
    confirm.click()
    expect(page.locator(".toast").last).to_contain_text("Purged 1 dead letter.")
    expect(page.locator("#dead-groups")).to_contain_text("No dead letters")
    assert queue.dead_letters() == []


def test_the_log_tail_updates_live_and_filters(
    page: Page, queue: Queue, worker: None, screenshots: Screenshots
) -> None:
    first = queue.enqueue("chatty", args=(10,))
    wait_until(lambda: status_of(queue, first.id) == "complete", timeout_s=20)
    sign_in(page)
    show(page, "/logs")
    lines = page.locator("#log-lines tbody tr")
    expect(lines).to_have_count(3)
    expect(page.locator("#log-lines")).to_contain_text("one row was rejected")
    expect(page.locator("#log-lines")).to_contain_text('{"rows":10}')

    second = queue.enqueue("chatty", args=(20,))
    expect(lines).to_have_count(6)  # no reload: the tail asked for the new lines
    expect(page.locator("#log-lines")).to_contain_text('{"rows":20}')
    expect(page.locator("#log-lines")).to_contain_text(second.id[-8:])

    page.get_by_label("Level").select_option("error")
    expect(page).to_have_url(re.compile(r"[?&]level=error"))
    expect(lines).to_have_count(2)
    page.reload()
    loaded(page)
    expect(page.get_by_label("Level")).to_have_value("error")
    expect(lines).to_have_count(2)
    page.goto("/logs?task=stepper")
    loaded(page)
    expect(page.locator("#log-lines")).to_contain_text("No log lines")
    page.goto("/logs")
    loaded(page)
    expect(lines).to_have_count(6)
    screenshots.take(page, "logs")


def test_workers_page_shows_the_live_worker(
    page: Page, queue: Queue, worker: None, screenshots: Screenshots
) -> None:
    sign_in(page)
    show(page, "/workers")
    row = page.locator("#workers-table tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator(".dot")).to_have_class(re.compile(r"dot-live"))
    expect(row.locator("td").nth(4)).to_have_text("thread")
    expect(row.locator("td").nth(5)).to_have_text("4")
    expect(row).to_contain_text("every queue")
    (listed,) = queue.workers()
    expect(row).to_contain_text(str(listed["pid"]))
    screenshots.take(page, "workers")


def test_circuit_breakers_page_shows_an_open_breaker(
    page: Page, queue: Queue, worker: None, screenshots: Screenshots
) -> None:
    for _ in range(2):
        queue.enqueue("flaky", max_retries=0)
    queue.enqueue("add", args=(1, 2))
    wait_until(lambda: queue.stats()["dead"] == 2, timeout_s=20)
    wait_until(lambda: any(b["state"] == "open" for b in queue.circuit_breakers()), timeout_s=20)
    sign_in(page)
    show(page, "/circuit-breakers")
    row = page.locator("#breakers-table tbody tr").filter(has_text="flaky")
    expect(row.locator(".badge")).to_have_text("open")
    expect(row).to_contain_text("2 / 2")
    expect(row).to_contain_text("1 min")
    expect(row).to_contain_text("10 min")
    screenshots.take(page, "circuit-breakers")


def test_settings_are_added_edited_and_deleted(
    page: Page, queue: Queue, screenshots: Screenshots
) -> None:
    queue.set_setting("reports.owner", "ops@example.com")
    sign_in(page)
    show(page, "/settings")
    table = page.locator("#settings-table")
    expect(table).to_contain_text("reports.owner")
    form = page.get_by_role("form", name="Add a setting")
    form.get_by_label("Key").fill("dashboard.title")
    form.get_by_label("Value").fill("Acme jobs")
    form.get_by_role("button", name="Add").click()
    expect(page.locator(".toast")).to_contain_text("Saved dashboard.title.")
    expect(table).to_contain_text("Acme jobs")
    assert queue.get_setting("dashboard.title") == "Acme jobs"

    row = table.locator("tr").filter(has_text="reports.owner")
    row.get_by_role("button", name="Edit").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Value").fill("<b>night shift</b>")
    dialog.get_by_role("button", name="Save").click()
    expect(row).to_contain_text("<b>night shift</b>")  # shown as text, never as markup
    assert queue.get_setting("reports.owner") == "<b>night shift</b>"
    screenshots.take(page, "settings")

    row.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(table).not_to_contain_text("reports.owner")
    assert queue.get_setting("reports.owner") is None
    page.reload()
    loaded(page)
    expect(page.locator("#brand")).to_have_text("Acme jobs")
    expect(page).to_have_title(re.compile("Acme jobs"))


def test_periodic_schedules_show_their_next_run(
    page: Page, queue: Queue, worker: None, screenshots: Screenshots
) -> None:
    wait_until(queue.list_periodic, timeout_s=20)  # stored by the worker as it starts
    (schedule,) = queue.list_periodic()
    sign_in(page)
    show(page, "/periodic")
    row = page.locator("#periodic-table tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("yearly_report")
    expect(row).to_contain_text("0 0 6 1 1 *")
    expect(row).to_contain_text("reports")
    expect(row).to_contain_text("UTC")
    expect(row.locator(".badge")).to_have_text("enabled")
    expect(row.locator("td").nth(6)).to_contain_text("in ")
    expect(row.locator("td").nth(7)).to_have_text("—")  # never ran yet
    assert schedule.next_run is not None
    screenshots.take(page, "periodic")
