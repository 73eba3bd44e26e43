"""Approval gates (workflows spec 2.8; spec 4, "gates"), with our decision rules."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from taskito.events import EventType
from taskito.workflows import NodeStatus, Workflow, WorkflowState
from tests.helpers import wait_until
from tests.workflows.harness import RUN_TIMEOUT_S, WorkflowApp


def gated(app: WorkflowApp, name: str = "gated", **gate: Any) -> Workflow:
    wf = Workflow(name=name)
    wf.step("a", app.tag, args=("a",))
    wf.gate("approve", after="a", **gate)
    wf.step("b", app.tag, args=("b",), after="approve")
    return wf


def wait_for_gate(app: WorkflowApp, run: Any) -> None:
    wait_until(
        lambda: run.node_status("approve") is NodeStatus.WAITING_APPROVAL,
        RUN_TIMEOUT_S,
        message="the gate to be reached",
    )


def test_a_reached_gate_pauses_the_run(app: WorkflowApp) -> None:
    run = app.queue.submit_workflow(gated(app))
    with app.worker():
        wait_for_gate(app, run)
        snapshot = run.status()
    assert snapshot.state is WorkflowState.RUNNING
    assert snapshot.nodes["b"].status is NodeStatus.PENDING
    assert snapshot.nodes["approve"].job_id is None


def test_approve_runs_the_rest(app: WorkflowApp) -> None:
    run = app.queue.submit_workflow(gated(app))
    with app.worker():
        wait_for_gate(app, run)
        app.queue.approve_gate(run.id, "approve")
        final = run.wait(RUN_TIMEOUT_S)
    assert final.state is WorkflowState.COMPLETED
    assert app.calls("a") == app.calls("b") == 1
    with pytest.raises(ValueError, match="already resolved"):
        app.queue.approve_gate(run.id, "approve")


def test_reject_skips_the_rest_and_fails_the_run(app: WorkflowApp) -> None:
    run = app.queue.submit_workflow(gated(app))
    with app.worker():
        wait_for_gate(app, run)
        app.queue.reject_gate(run.id, "approve", error="not today")
        final = run.wait(RUN_TIMEOUT_S)
    assert final.state is WorkflowState.FAILED
    assert final.nodes["approve"].status is NodeStatus.FAILED
    assert final.nodes["approve"].error == "not today"
    assert final.nodes["b"].status is NodeStatus.SKIPPED


@pytest.mark.parametrize(
    ("on_timeout", "state", "gate_status"),
    [
        ("reject", WorkflowState.FAILED, NodeStatus.FAILED),
        ("approve", WorkflowState.COMPLETED, NodeStatus.COMPLETED),
    ],
)
def test_a_gate_times_out(
    app: WorkflowApp, on_timeout: str, state: WorkflowState, gate_status: NodeStatus
) -> None:
    run = app.queue.submit_workflow(gated(app, timeout=1, on_timeout=on_timeout))
    with app.worker():
        final = run.wait(RUN_TIMEOUT_S)
    assert final.state is state
    assert final.nodes["approve"].status is gate_status
    if on_timeout == "reject":
        assert "timeout" in (final.nodes["approve"].error or "")


def test_an_on_success_gate_after_a_failure_is_skipped(app: WorkflowApp) -> None:
    wf = Workflow(name="gate_after_failure")
    wf.step("a", app.boom)
    wf.gate("approve", after="a")
    wf.step("b", app.tag, args=("b",), after="approve")
    run = app.queue.submit_workflow(wf)
    with app.worker():
        final = run.wait(RUN_TIMEOUT_S)
    assert final.nodes["approve"].status is NodeStatus.SKIPPED
    assert final.state is WorkflowState.FAILED


def test_a_decision_before_the_gate_is_reached_is_applied_on_arrival(app: WorkflowApp) -> None:
    run = app.queue.submit_workflow(gated(app, name="early"))
    app.queue.approve_gate(run.id, "approve")  # no worker yet: "a" has not even run
    assert run.node_status("approve") is NodeStatus.PENDING
    with pytest.raises(ValueError, match="already decided"):
        app.queue.reject_gate(run.id, "approve")
    with app.worker():
        final = run.wait(RUN_TIMEOUT_S)
    assert final.state is WorkflowState.COMPLETED
    assert app.calls("b") == 1


def test_gate_calls_refuse_unknown_runs_nodes_and_non_gates(app: WorkflowApp) -> None:
    run = app.queue.submit_workflow(gated(app, name="refusals"))
    with pytest.raises(KeyError, match="not found"):
        app.queue.approve_gate("no-such-run", "approve")
    with pytest.raises(KeyError, match="nope"):
        app.queue.approve_gate(run.id, "nope")
    with pytest.raises(ValueError, match="not a gate"):
        app.queue.reject_gate(run.id, "a")
    assert run.node_status("approve") is NodeStatus.PENDING  # nothing stored


def test_gate_reached_event_carries_the_message(app: WorkflowApp) -> None:
    seen: list[dict[str, Any]] = []
    reached = threading.Event()

    def listen(_event: EventType, payload: dict[str, Any]) -> None:
        seen.append(payload)
        reached.set()

    app.queue.on_event(EventType.WORKFLOW_GATE_REACHED, listen)
    run = app.queue.submit_workflow(gated(app, name="message", message="please check"))
    with app.worker():
        assert reached.wait(RUN_TIMEOUT_S)
        run.cancel()
    assert seen == [{"run_id": run.id, "node_name": "approve", "message": "please check"}]
    assert run.status().nodes["approve"].status is NodeStatus.SKIPPED


def test_a_gate_deadline_passing_while_no_worker_runs_is_honoured_later(
    app: WorkflowApp,
) -> None:
    wf = Workflow(name="offline")
    wf.gate("approve", timeout=0.2, on_timeout="approve")
    wf.step("b", app.tag, args=("b",), after="approve")
    run = app.queue.submit_workflow(wf)  # the root gate is entered at submit
    assert run.node_status("approve") is NodeStatus.WAITING_APPROVAL
    node = app.queue._storage.workflow_nodes(run.id)[0]
    assert node.gate_deadline_at is not None
    wait_until(
        lambda: app.queue._storage.expired_workflow_gates(node.gate_deadline_at + 1, 10),
        RUN_TIMEOUT_S,
        message="the deadline to pass",
    )
    with app.worker():
        final = run.wait(RUN_TIMEOUT_S)
    assert final.state is WorkflowState.COMPLETED
    assert app.calls("b") == 1
