"""The worker's workflow sweep, driven with a chosen ``now`` (as the scheduler's tests do):
the safety net re-advances a run whose job was cancelled by hand (a cancel settles no node),
and a sweep resolves expired gates."""

from __future__ import annotations

from taskito.job import now_ms
from taskito.storage.workflow_contract import WorkflowStorage
from taskito.worker.workflow_sweep import WorkflowSweeper, workflow_run_hint
from taskito.workflows import NodeStatus, Workflow, WorkflowState
from taskito.workflows.engine import SAFETY_NET_MS
from tests.workflows.harness import WorkflowApp


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
