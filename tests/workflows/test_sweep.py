"""The worker's workflow sweep, driven with a chosen ``now`` (as the scheduler's tests do):
the safety net re-advances a run whose job was cancelled by hand (a cancel settles no node),
and a sweep resolves expired gates."""

from __future__ import annotations

from taskito.events import EventType
from taskito.job import now_ms
from taskito.storage.workflow_contract import WorkflowStorage
from taskito.worker.workflow_sweep import WorkflowSweeper, workflow_run_hint
from taskito.workflows import NodeStatus, Workflow, WorkflowState
from taskito.workflows.engine import SAFETY_NET_MS
from tests.helpers import wait_until
from tests.workflows.harness import WorkflowApp, assert_fully_cancelled


def sweeper(app: WorkflowApp) -> WorkflowSweeper:
    storage = app.queue._storage
    advancer = app.queue._run_advancer()
    assert isinstance(storage, WorkflowStorage) and advancer is not None
    return WorkflowSweeper(storage, advancer)


def test_a_job_cancelled_by_hand_is_reconciled_by_the_safety_net(app: WorkflowApp) -> None:
    wf = Workflow(name="by_hand")
    wf.step("a", app.tag, args=("a",))
    wf.step("b", app.tag, args=("b",), after="a")
    run = app.queue.submit_workflow(wf)
    assert app.queue.cancel(run.status().nodes["a"].job_id or "")
    sweep = sweeper(app)
    assert sweep.sweep(now_ms()) == 0  # not due yet: nothing settled the node
    assert run.status().state is WorkflowState.RUNNING
    assert sweep.sweep(now_ms() + SAFETY_NET_MS + 1) == 1
    final = run.status()
    assert final.state is WorkflowState.FAILED
    assert final.nodes["a"].status is NodeStatus.FAILED and final.nodes["a"].error == "cancelled"
    assert final.nodes["b"].status is NodeStatus.SKIPPED  # its job went with the cascade


def test_a_sweep_resolves_an_expired_gate(app: WorkflowApp) -> None:
    wf = Workflow(name="expiring")
    wf.gate("approve", timeout=3600, on_timeout="reject")
    run = app.queue.submit_workflow(wf)
    sweep = sweeper(app)
    assert sweep.sweep(now_ms()) == 0
    assert sweep.sweep(now_ms() + 3_600_001) >= 1
    final = run.status()
    assert final.state is WorkflowState.FAILED
    assert final.nodes["approve"].error == "gate timeout"


def test_the_run_hint_reads_only_a_run_id() -> None:
    assert workflow_run_hint('{"workflow_run_id": "r1", "workflow_node_name": "a"}') == "r1"
    assert workflow_run_hint('{"workflow_run_id": 3}') is None
    assert workflow_run_hint("not json") is None
    assert workflow_run_hint("[1, 2]") is None


def test_a_cancel_cut_short_after_its_first_write_is_finished_by_the_sweep(
    app: WorkflowApp,
) -> None:
    run = app.queue.submit_workflow(linear_three(app))
    storage = app.queue._storage
    assert isinstance(storage, WorkflowStorage)
    # What a canceller that died right after its first write leaves behind.
    assert storage.update_workflow_run(
        run.id, ("running",), {"state": "cancelling", "advance_due_at": now_ms()}
    )
    assert run.status().state is WorkflowState.CANCELLING
    cancelled: list[dict[str, object]] = []
    app.queue.on_event(EventType.WORKFLOW_CANCELLED, lambda _e, payload: cancelled.append(payload))
    assert sweeper(app).sweep(now_ms()) == 1
    assert_fully_cancelled(app, run.status())
    wait_until(lambda: cancelled == [{"run_id": run.id, "state": "cancelled", "error": None}], 5)
    assert sweeper(app).sweep(now_ms() + SAFETY_NET_MS + 1) == 0  # nothing left due
    run.cancel()  # a cancelled run: nothing more happens
    assert len(cancelled) == 1


def linear_three(app: WorkflowApp) -> Workflow:
    wf = Workflow(name="cut_short")
    wf.step("a", app.tag, args=("a",))
    wf.step("b", app.tag, args=("b",), after="a")
    wf.step("c", app.tag, args=("c",), after="b")
    return wf
