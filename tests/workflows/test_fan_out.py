"""Fan-out and fan-in (workflows spec 2.7; spec 4, "fan_out")."""

from __future__ import annotations

import pytest

from taskito.workflows import NodeStatus, Workflow, WorkflowState
from tests.helpers import wait_until
from tests.workflows.harness import RUN_TIMEOUT_S, WorkflowApp


def fan(app: WorkflowApp, *items: object, name: str = "fan") -> Workflow:
    wf = Workflow(name=name)
    wf.step("source", app.numbers, args=items)
    wf.step("each", app.double, after="source", fan_out="each")
    wf.step("gather", app.collect, after="each", fan_in="all")
    return wf


def gathered(app: WorkflowApp, job_id: str | None) -> object:
    handle = app.queue.get_job(job_id or "")
    assert handle is not None
    return handle.result(timeout=5)


@pytest.mark.parametrize(
    ("items", "expected"), [((10, 20, 30), [20, 40, 60]), ((), []), ((21.5,), [43.0])]
)
def test_each_then_all(app: WorkflowApp, items: tuple[object, ...], expected: list[object]) -> None:
    run = app.queue.submit_workflow(fan(app, *items))
    with app.worker():
        final = run.wait(RUN_TIMEOUT_S)
    assert final.state is WorkflowState.COMPLETED
    assert gathered(app, final.nodes["gather"].job_id) == expected
    children = [name for name in final.nodes if name.startswith("each[")]
    assert children == [f"each[{i}]" for i in range(len(items))]
    for name in children:
        assert final.nodes[name].status is NodeStatus.COMPLETED
        assert final.nodes[name].job_id is not None


def test_results_keep_the_item_order(app: WorkflowApp) -> None:
    wf = Workflow(name="order")
    wf.step("source", app.numbers, args=("x", "y", "z"))
    wf.step("each", app.echo, after="source", fan_out="each")
    wf.step("gather", app.collect, after="each", fan_in="all")
    run = app.queue.submit_workflow(wf)
    with app.worker():
        final = run.wait(RUN_TIMEOUT_S)
    assert gathered(app, final.nodes["gather"].job_id) == ["x", "y", "z"]
    assert run.node_status("each[2]") is NodeStatus.COMPLETED


def test_steps_after_the_fan_in_run_in_order(app: WorkflowApp) -> None:
    wf = fan(app, 1, 2, name="downstream")
    wf.step("report", app.tag, args=("report",), after="gather")
    run = app.queue.submit_workflow(wf)
    with app.worker():
        final = run.wait(RUN_TIMEOUT_S)
    assert final.state is WorkflowState.COMPLETED
    order = ["source", "gather", "report"]
    jobs = [app.queue._storage.get_job(final.nodes[n].job_id or "") for n in order]
    times = [(j.started_at, j.completed_at) for j in jobs if j is not None]
    assert len(times) == 3
    assert times[0][1] <= times[1][0] and times[1][1] <= times[2][0]  # type: ignore[operator]


def test_a_failed_source_skips_the_fan_out_and_fan_in(app: WorkflowApp) -> None:
    wf = Workflow(name="source_fails")
    wf.step("source", app.boom)
    wf.step("each", app.double, after="source", fan_out="each")
    wf.step("gather", app.collect, after="each", fan_in="all")
    run = app.queue.submit_workflow(wf)
    with app.worker():
        final = run.wait(RUN_TIMEOUT_S)
    assert final.state is WorkflowState.FAILED
    assert final.nodes["each"].status is NodeStatus.SKIPPED
    assert final.nodes["gather"].status is NodeStatus.SKIPPED


def test_a_result_that_is_not_iterable_fails_the_fan_out(app: WorkflowApp) -> None:
    wf = Workflow(name="not_iterable")
    wf.step("source", app.add, args=(1,))
    wf.step("each", app.double, after="source", fan_out="each")
    run = app.queue.submit_workflow(wf)
    with app.worker():
        final = run.wait(RUN_TIMEOUT_S)
    assert final.nodes["each"].status is NodeStatus.FAILED
    assert final.nodes["each"].error == "fan_out='each' requires an iterable result, got int"


def test_cancel_in_the_middle_of_a_fan_out(app: WorkflowApp) -> None:
    wf = Workflow(name="cancel_mid")
    wf.step("source", app.numbers, args=("hold", "hold"))
    wf.step("each", app.wait_for_file, after="source", fan_out="each")
    wf.step("gather", app.collect, after="each", fan_in="all")
    run = app.queue.submit_workflow(wf)
    with app.worker():
        wait_until(lambda: app.calls("wait_for_file") == 2, RUN_TIMEOUT_S, message="children run")
        run.cancel()
        final = run.wait(RUN_TIMEOUT_S)
        assert final.state is WorkflowState.CANCELLED
        for name in ("each[0]", "each[1]"):
            job_id = final.nodes[name].job_id or ""
            wait_until(
                lambda job_id=job_id: app.queue.get_job(job_id).status == "cancelled",  # type: ignore[union-attr]
                RUN_TIMEOUT_S,
                message="the running child to be cancelled",
            )
    assert run.status().state is WorkflowState.CANCELLED  # late outcomes change nothing


def test_a_step_name_with_a_bracket_is_refused(app: WorkflowApp) -> None:
    with pytest.raises(ValueError, match=r"\["):
        Workflow().step("each[0]", app.double)
