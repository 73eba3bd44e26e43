"""One workflow that uses every feature (static and deferred steps, fan-out and fan-in, a
gate approved from outside, a sub-workflow, an on_failure handler, a callable condition)
runs the same on the thread, prefork and async pools, and on SQLite, Postgres and Redis."""

from __future__ import annotations

import pytest

from taskito.workflows import NodeStatus, Workflow, WorkflowState
from tests.backends import queue_target
from tests.helpers import wait_until
from tests.workflows.conftest import MakeApp
from tests.workflows.harness import RUN_TIMEOUT_S, WorkflowApp


def everything(app: WorkflowApp) -> Workflow:
    wf = Workflow(name="everything", on_failure="continue")
    wf.step("source", app.numbers, args=(1, 2, 3))
    wf.step("each", app.double, after="source", fan_out="each")
    wf.step("gather", app.collect, after="each", fan_in="all")
    wf.gate("approve", after="gather", message="ship it?")
    wf.step("sub", app.child.as_step(n=5), after="approve")
    wf.step(
        "check",
        app.tag,
        args=("check",),
        after="sub",
        condition=lambda ctx: ctx.results["gather"] == [2, 4, 6],
    )
    wf.step("broken", app.boom, args=("on purpose",))
    wf.step("handler", app.tag, args=("handler",), after="broken", condition="on_failure")
    return wf


def run_everything(app: WorkflowApp, pool: str) -> None:
    run = app.queue.submit_workflow(everything(app))
    with app.worker(pool=pool):
        wait_until(
            lambda: run.node_status("approve") is NodeStatus.WAITING_APPROVAL,
            RUN_TIMEOUT_S,
            message="the gate to be reached",
        )
        app.queue.approve_gate(run.id, "approve")
        final = run.wait(RUN_TIMEOUT_S)
    statuses = {name: node.status.value for name, node in final.nodes.items()}
    assert statuses == {
        "source": "completed",
        "each": "completed",
        "gather": "completed",
        "approve": "completed",
        "sub": "completed",
        "check": "completed",
        "broken": "failed",
        "handler": "completed",
        "each[0]": "completed",
        "each[1]": "completed",
        "each[2]": "completed",
    }
    assert final.state is WorkflowState.FAILED  # a handler does not rescue the run
    assert final.error is not None and final.error.startswith("node 'broken' failed:")
    (child,) = app.queue._storage.child_workflow_runs(run.id)
    assert child.state == "completed"
    assert (app.calls("double"), app.calls("check"), app.calls("handler")) == (3, 1, 1)


@pytest.mark.parametrize("pool", ["thread", "prefork", "async"])
def test_every_feature_on_every_pool(make_app: MakeApp, pool: str) -> None:
    run_everything(make_app(), pool)


@pytest.mark.parametrize("backend", ["postgres", "redis"])
def test_every_feature_on_the_server_backends(
    make_app: MakeApp, backend: str, tmp_path: object
) -> None:
    app = make_app(queue_target(backend, tmp_path))  # type: ignore[arg-type]
    run_everything(app, "thread")


@pytest.mark.parametrize("backend", ["postgres", "redis"])
def test_every_feature_on_the_server_backends_under_prefork(
    make_app: MakeApp, backend: str, tmp_path: object
) -> None:
    app = make_app(queue_target(backend, tmp_path))  # type: ignore[arg-type]
    run_everything(app, "prefork")
