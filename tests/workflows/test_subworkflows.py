"""Sub-workflows (workflows spec 2.9; spec 4, "subworkflow")."""

from __future__ import annotations

from taskito.workflows import NodeStatus, Workflow, WorkflowState
from tests.helpers import wait_until
from tests.workflows.harness import RUN_TIMEOUT_S, WorkflowApp


def test_the_child_finishes_before_the_next_step(app: WorkflowApp) -> None:
    wf = Workflow(name="parent")
    wf.step("before", app.tag, args=("before",))
    wf.step("sub", app.child.as_step(n=41), after="before")
    wf.step("after", app.tag, args=("after",), after="sub")
    run = app.queue.submit_workflow(wf)
    with app.worker():
        final = run.wait(RUN_TIMEOUT_S)
    assert final.state is WorkflowState.COMPLETED
    (child,) = app.queue._storage.child_workflow_runs(run.id)
    assert child.state == "completed" and child.parent_node_name == "sub"
    assert child.completed_at is not None
    after = app.queue._storage.get_job(final.nodes["after"].job_id or "")
    assert after is not None and after.started_at is not None
    assert child.completed_at <= after.started_at
    first = next(n for n in app.queue._storage.workflow_nodes(child.id) if n.name == "first")
    handle = app.queue.get_job(first.job_id or "")
    assert handle is not None and handle.result(timeout=5) == 42


def test_a_failing_child_fails_the_node_and_the_run(app: WorkflowApp) -> None:
    wf = Workflow(name="parent_fails")
    wf.step("sub", app.failing_child.as_step())
    wf.step("after", app.tag, args=("after",), after="sub")
    run = app.queue.submit_workflow(wf)
    with app.worker():
        final = run.wait(RUN_TIMEOUT_S)
    assert final.state is WorkflowState.FAILED
    assert final.nodes["sub"].status is NodeStatus.FAILED
    assert "child failed" in (final.nodes["sub"].error or "")
    assert final.nodes["after"].status is NodeStatus.SKIPPED


def test_a_raising_factory_fails_the_node(app: WorkflowApp) -> None:
    wf = Workflow(name="factory_raises")
    wf.step("sub", app.broken_factory.as_step())
    wf.step("after", app.tag, args=("after",), after="sub")
    run = app.queue.submit_workflow(wf)
    final = run.wait(RUN_TIMEOUT_S)  # decided at submit: no worker needed
    assert final.nodes["sub"].status is NodeStatus.FAILED
    assert final.nodes["sub"].error == "sub-workflow submit failed: factory exploded"
    assert final.nodes["after"].status is NodeStatus.SKIPPED


def test_cancelling_the_parent_cancels_the_child(app: WorkflowApp) -> None:
    wf = Workflow(name="parent_cancelled")
    wf.step("sub", app.slow_child.as_step())
    run = app.queue.submit_workflow(wf)
    with app.worker():
        wait_until(lambda: app.calls("wait_for_file") == 1, RUN_TIMEOUT_S, message="child runs")
        run.cancel()
        (child,) = app.queue._storage.child_workflow_runs(run.id)
        assert run.wait(RUN_TIMEOUT_S).state is WorkflowState.CANCELLED
        wait_until(
            lambda: app.queue._storage.get_workflow_run(child.id).state == "cancelled",  # type: ignore[union-attr]
            RUN_TIMEOUT_S,
            message="the child run to be cancelled",
        )
        (hold,) = app.queue._storage.workflow_nodes(child.id)
        wait_until(
            lambda: app.queue.get_job(hold.job_id or "").status == "cancelled",  # type: ignore[union-attr]
            RUN_TIMEOUT_S,
            message="the child's running job to be cancelled",
        )


def test_parallel_children_then_a_join(app: WorkflowApp) -> None:
    wf = Workflow(name="parallel")
    wf.step("left", app.child.as_step(n=1))
    wf.step("right", app.child.as_step(n=2))
    wf.step("join", app.tag, args=("join",), after=["left", "right"])
    run = app.queue.submit_workflow(wf)
    with app.worker():
        final = run.wait(RUN_TIMEOUT_S)
    assert final.state is WorkflowState.COMPLETED
    assert len(app.queue._storage.child_workflow_runs(run.id)) == 2
    assert app.calls("join") == 1


def test_a_sub_workflow_no_longer_registered_fails_its_node(app: WorkflowApp) -> None:
    gone = app.queue.workflow(name="gone")(app.child._factory)
    wf = Workflow(name="missing_child")
    wf.step("sub", gone.as_step())
    del app.queue._workflow_registry["gone"]
    final = app.queue.submit_workflow(wf).wait(RUN_TIMEOUT_S)
    assert final.state is WorkflowState.FAILED
    assert final.nodes["sub"].error == (
        "sub-workflow submit failed: no workflow named 'gone' is registered on this queue"
    )
