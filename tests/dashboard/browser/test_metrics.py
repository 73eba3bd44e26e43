"""The metrics page and the overview's throughput chart, from the attempts a real worker
recorded: the range and task selectors kept in the URL, the charts drawn, the per-task table."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from taskito import Queue
from tests.dashboard.browser.conftest import Screenshots
from tests.dashboard.browser.helpers import loaded, show, sign_in
from tests.helpers import wait_until

pytestmark = pytest.mark.slow


def run_some_jobs(queue: Queue) -> None:
    for i in range(6):
        queue.enqueue("add", args=(i, i))
    for i in range(2):
        queue.enqueue("boom", args=(f"bad {i}",), max_retries=0)
    queue.enqueue("chatty", args=(3,))
    wait_until(lambda: queue.stats()["completed"] == 7 and queue.stats()["dead"] == 2, timeout_s=20)
    wait_until(lambda: sum(m["count"] for m in queue.metrics().values()) == 9, timeout_s=20)


def test_the_metrics_page_with_its_selectors_in_the_url(
    page: Page, queue: Queue, worker: None, screenshots: Screenshots
) -> None:
    run_some_jobs(queue)
    sign_in(page)
    page.get_by_role("link", name="Metrics").click()
    loaded(page)
    table = page.locator("#metrics-table tbody tr")
    expect(table).to_have_count(3)
    add = table.filter(has_text="add")
    expect(add.locator("td").nth(1)).to_have_text("6")
    expect(add.locator("td").nth(2)).to_have_text("6")
    boom = table.filter(has_text="boom")
    expect(boom.locator("td").nth(3)).to_have_text("2")
    expect(boom.locator("td").nth(4)).to_have_text("100.0%")
    outcomes = page.locator("#outcome-chart svg")
    expect(outcomes.locator("rect.series-success")).not_to_have_count(0)
    expect(outcomes.locator("rect.series-failure")).not_to_have_count(0)
    expect(page.locator("#latency-chart svg circle.series-p99")).not_to_have_count(0)
    screenshots.take(page, "metrics")

    page.get_by_label("Task", exact=True).select_option("boom")
    expect(page).to_have_url(re.compile(r"[?&]task=boom"))
    expect(outcomes.locator("rect.series-success")).to_have_count(0)
    expect(outcomes.locator("rect.series-failure")).not_to_have_count(0)
    page.get_by_label("Range", exact=True).select_option("24h")
    expect(page).to_have_url(re.compile(r"[?&]range=24h"))
    page.reload()
    loaded(page)
    expect(page.get_by_label("Range", exact=True)).to_have_value("24h")
    expect(page.get_by_label("Task", exact=True)).to_have_value("boom")
    expect(page.locator("#outcome-chart svg")).to_have_attribute(
        "aria-label", re.compile("of boom, last 24h")
    )
    table.filter(has_text="add").get_by_role("button", name="add").click()
    expect(page).to_have_url(re.compile(r"[?&]task=add"))
    expect(outcomes.locator("rect.series-failure")).to_have_count(0)


def test_the_overview_draws_the_last_hour(
    page: Page, queue: Queue, worker: None, screenshots: Screenshots
) -> None:
    run_some_jobs(queue)
    sign_in(page)
    chart = page.locator("#throughput")
    expect(chart).to_contain_text("9 attempts finished in the last hour")
    expect(chart.locator("rect.series-success")).not_to_have_count(0)
    expect(chart.locator("rect.series-failure")).not_to_have_count(0)
    show(page, "/")
    screenshots.take(page, "overview")
