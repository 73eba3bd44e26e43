"""The Workflows pages in a real browser: the runs (state filter, paging by key), reached from
the sidebar and the command palette; a run's DAG drawn as SVG with each node filled with its
status's colour and fan-out children under their step; and, with a real worker process, a
gate approved and one rejected with the page's buttons, and a run cancelled."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from taskito import Queue
from taskito.job import now_ms
from tests.dashboard.browser.conftest import Screenshots, open_page
from tests.dashboard.browser.helpers import loaded, show, sign_in
from tests.dashboard.harness import VIEWER
from tests.helpers import wait_until
from tests.workflow_runs import Node, fan_out_run, gate_run, store_run

pytestmark = pytest.mark.slow

#: The fixture runs started an hour ago (the screenshots show recent times).
T0 = now_ms() - 3_600_000
#: The fills of the spec's colour table, as the browser computes them.
FILLS = {
    "completed": "rgb(144, 238, 144)",
    "failed": "rgb(255, 182, 193)",
    "pending": "rgb(211, 211, 211)",
    "running": "rgb(135, 206, 235)",
    "waiting_approval": "rgb(255, 250, 205)",
}


def _fill(page: Page, selector: str) -> str:
    fill: str = page.locator(selector).first.evaluate("(el) => getComputedStyle(el).fill")
    return fill


def test_runs_filtered_and_paged_and_a_run_drawn(
    page: Page, queue: Queue, screenshots: Screenshots
) -> None:
    fan = fan_out_run(queue, started_at=T0)
    gate = gate_run(queue, started_at=T0 + 1)
    tiny = [
        store_run(
            queue,
            "tiny",
            ["a"],
            [],
            [Node("a", "completed")],
            state="completed",
            started_at=T0 + 2 + i,
        )
        for i in range(21)
    ]
    sign_in(page)
    page.keyboard.press("Control+k")
    palette = page.get_by_role("dialog", name="Command palette")
    palette.get_by_role("combobox").fill("workflows")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/workflows$"))
    loaded(page)
    expect(page.locator('#nav a[data-page="workflows"]')).to_have_attribute("aria-current", "page")

    rows = page.locator("#workflow-runs tbody tr")
    expect(rows).to_have_count(20)
    expect(rows.first).to_contain_text(tiny[-1].id[-8:])
    page.get_by_role("button", name="Next →").click()
    expect(rows).to_have_count(3)
    expect(rows.last).to_contain_text("fan")
    expect(page).to_have_url(re.compile(r"cursor="))
    page.get_by_role("button", name="← Previous").click()
    expect(rows).to_have_count(20)

    page.locator("#workflow-state").select_option("running")
    expect(rows).to_have_count(2)
    expect(page).to_have_url(re.compile(r"state=running"))
    expect(rows.first).to_contain_text("release")
    page.reload()
    loaded(page)
    expect(rows).to_have_count(2)  # the filter is in the URL

    rows.last.get_by_role("link").click()
    expect(page).to_have_url(re.compile(f"/workflows/{fan.id}$"))
    loaded(page)
    expect(page.locator('#nav a[data-page="workflows"]')).to_have_attribute("aria-current", "page")
    graph = page.locator("#workflow-dag svg")
    expect(graph.locator(".wf-node")).to_have_count(3)
    expect(graph.locator(".dag-edge")).to_have_count(2)
    for name, status in (("source", "completed"), ("process", "running"), ("total", "pending")):
        node = graph.locator(f'.wf-node[data-node="{name}"]')
        expect(node).to_have_attribute("data-status", status)
        assert _fill(page, f'.wf-node[data-node="{name}"] rect.wf-box') == FILLS[status]
    expect(graph.locator('.wf-node[data-node="source"] .wf-label')).to_have_text("source ✓")
    children = graph.locator('.wf-node[data-node="process"] .wf-child')
    expect(children).to_have_count(3)
    assert [children.nth(i).get_attribute("data-node") for i in range(3)] == [
        "process[0]", "process[1]", "process[2]"
    ]  # fmt: skip
    assert _fill(page, '.wf-child[data-node="process[1]"] rect') == FILLS["failed"]
    steps = page.locator('#workflow-nodes table[aria-label="Nodes"] tbody tr')
    expect(steps).to_have_count(3)
    fold = page.locator('#workflow-nodes details[data-step="process"]')
    expect(fold.locator("summary")).to_have_text("process: 3 fan-out children")
    fold.locator("summary").click()
    expect(fold.locator("tbody tr").nth(1)).to_contain_text("process[1]")
    expect(fold.locator("tbody tr").nth(1)).to_contain_text("boom")
    refreshed = page.locator("#refreshed").get_attribute("data-at") or ""
    expect(page.locator("#refreshed")).not_to_have_attribute("data-at", refreshed)
    expect(fold).to_have_attribute("open", "")  # still unfolded after a refresh
    expect(page.locator("#workflow-gates")).to_be_hidden()
    expect(page.get_by_role("button", name="Cancel run")).to_be_enabled()

    show(page, f"/workflows/{gate.id}")
    gates = page.locator("#workflow-gates")
    expect(gates).to_be_visible()
    expect(gates.locator('[data-gate="review"]')).to_contain_text("waiting_approval")
    assert _fill(page, '.wf-node[data-node="review"] rect.wf-box') == FILLS["waiting_approval"]
    screenshots.take(page, "workflow-run")
    # A run id typed into the palette: the second choice opens the run.
    page.keyboard.press("Control+k")
    palette.get_by_role("combobox").fill(fan.id)
    expect(palette.get_by_role("option").nth(1)).to_have_text(
        re.compile(f"^Open workflow run {fan.id}")
    )
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(f"/workflows/{fan.id}$"))
    loaded(page)
    expect(page.locator(".job-title")).to_contain_text("fan")

    show(page, "/workflows/no-such-run")
    expect(page.locator("#page h2").first).to_have_text("Workflow run not found")


def _add(a: int, b: int) -> int:
    return a + b


def _release(queue: Queue, task: Any) -> str:
    """``build -> review (a gate) -> ship``, both steps the app's ``add`` task."""
    from taskito.workflows import Workflow

    flow = Workflow("release")
    flow.step("build", task, args=(1, 2))
    flow.gate("review", after="build")
    flow.step("ship", task, args=(3, 4), after="review")
    return str(queue.submit_workflow(flow).id)


def _state(queue: Queue, run_id: str) -> str:
    state: str = queue.workflow_run_detail(run_id)["state"]
    return state


def test_gates_approved_and_rejected_and_a_run_cancelled(
    page: Page, queue: Queue, worker: None, base_url: str
) -> None:
    add = queue.task(name="add")(_add)  # the worker's task of that name runs the steps
    approved, rejected, cancelled = (_release(queue, add) for _ in range(3))
    sign_in(page)
    show(page, f"/workflows/{approved}")
    gate = page.locator('#workflow-gates [data-gate="review"]')
    expect(gate).to_contain_text("waiting_approval")
    gate.get_by_role("button", name="Approve").click()
    page.get_by_role("dialog").get_by_role("button", name="Approve").click()
    expect(page.locator(".toast")).to_contain_text("Gate review approved.")
    wait_until(lambda: _state(queue, approved) == "completed", timeout_s=20)
    expect(page.locator(".job-title .badge")).to_have_text("completed")
    expect(page.locator('.wf-node[data-node="ship"]')).to_have_attribute("data-status", "completed")
    expect(page.locator("#workflow-gates")).to_be_hidden()

    show(page, f"/workflows/{rejected}")
    expect(page.locator('#workflow-gates [data-gate="review"]')).to_contain_text("waiting_approval")
    page.locator('#workflow-gates [data-gate="review"]').get_by_role(
        "button", name="Reject"
    ).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("textbox").fill("not today")
    dialog.get_by_role("button", name="Reject").click()
    wait_until(lambda: _state(queue, rejected) == "failed", timeout_s=20)
    expect(page.locator(".job-title .badge")).to_have_text("failed")
    review = page.locator("#workflow-nodes tbody tr", has_text="review")
    expect(review).to_contain_text("not today")

    # A viewer sees the decision buttons, disabled.
    context, viewer_page = open_page(page.context.browser, base_url)  # type: ignore[arg-type]
    try:
        sign_in(viewer_page, VIEWER)
        show(viewer_page, f"/workflows/{cancelled}")
        expect(viewer_page.locator('#workflow-gates [data-gate="review"]')).to_be_visible()
        expect(viewer_page.get_by_role("button", name="Approve")).to_be_disabled()
        expect(viewer_page.get_by_role("button", name="Cancel run")).to_be_disabled()
    finally:
        context.close()

    show(page, f"/workflows/{cancelled}")
    page.get_by_role("button", name="Cancel run").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel run").click()
    expect(page.locator(".toast")).to_contain_text("Workflow run cancelled.")
    expect(page.locator(".job-title .badge")).to_have_text("cancelled")
    assert _state(queue, cancelled) == "cancelled"
    expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)
