"""Incremental runs (workflows spec 2.10; spec 4, "caching"), with our input digests."""

from __future__ import annotations

import pytest

from taskito.job import now_ms
from taskito.workflows import NodeStatus, Workflow, WorkflowState
from tests.helpers import wait_until
from tests.workflows.harness import RUN_TIMEOUT_S, WorkflowApp


def pipeline(app: WorkflowApp, *, b_arg: str = "b", cache_ttl: float | None = None) -> Workflow:
    wf = Workflow(name="pipeline", cache_ttl=cache_ttl)
    wf.step("a", app.tag, args=("a",))
    wf.step("b", app.tag, args=(b_arg,), after="a")
    wf.step("c", app.tag, args=("c",), after="b")
    return wf


def test_a_completed_run_stores_a_hash_per_node(app: WorkflowApp) -> None:
    run = app.queue.submit_workflow(pipeline(app))
    with app.worker():
        run.wait(RUN_TIMEOUT_S)
    rows = [(n.name, n.status, n.result_hash) for n in app.queue._storage.workflow_nodes(run.id)]
    assert [(name, status) for name, status, _ in rows] == [
        ("a", "completed"),
        ("b", "completed"),
        ("c", "completed"),
    ]
    assert all(digest is not None and len(digest) == 64 for _, _, digest in rows)


def test_an_incremental_rerun_reuses_every_result_and_completes_at_submit(
    app: WorkflowApp,
) -> None:
    base = app.queue.submit_workflow(pipeline(app))
    with app.worker():
        base.wait(RUN_TIMEOUT_S)
    again = app.queue.submit_workflow(pipeline(app), incremental=True, base_run=base)
    final = again.wait(RUN_TIMEOUT_S)  # no worker: nothing runs, the run ends at submit
    assert final.state is WorkflowState.COMPLETED
    assert {n.status for n in final.nodes.values()} == {NodeStatus.CACHE_HIT}
    assert all(n.job_id is None for n in final.nodes.values())
    assert [app.calls(x) for x in "abc"] == [1, 1, 1]
    # A re-run of the re-run reuses the same results (through the cache hits).
    third = app.queue.submit_workflow(pipeline(app), incremental=True, base_run=again.id)
    assert {n.status for n in third.wait(RUN_TIMEOUT_S).nodes.values()} == {NodeStatus.CACHE_HIT}


def test_a_changed_argument_reruns_that_step_and_everything_after(app: WorkflowApp) -> None:
    base = app.queue.submit_workflow(pipeline(app))
    with app.worker():
        base.wait(RUN_TIMEOUT_S)
        changed = pipeline(app, b_arg="b2")
        final = app.queue.submit_workflow(changed, incremental=True, base_run=base).wait(
            RUN_TIMEOUT_S
        )
    statuses = {name: node.status.value for name, node in final.nodes.items()}
    assert statuses == {"a": "cache_hit", "b": "completed", "c": "completed"}
    assert (app.calls("a"), app.calls("b2"), app.calls("c")) == (1, 1, 2)


def test_a_node_that_failed_in_the_base_run_runs_again(app: WorkflowApp) -> None:
    def flaky(task: object) -> Workflow:
        wf = Workflow(name="flaky", on_failure="continue")
        wf.step("a", app.tag, args=("a",))
        wf.step("b", task, after="a")
        return wf

    base = app.queue.submit_workflow(flaky(app.boom))
    with app.worker():
        assert base.wait(RUN_TIMEOUT_S).state is WorkflowState.FAILED
        again = app.queue.submit_workflow(flaky(app.boom), incremental=True, base_run=base)
        final = again.wait(RUN_TIMEOUT_S)
    assert final.nodes["a"].status is NodeStatus.CACHE_HIT
    assert final.nodes["b"].status is NodeStatus.FAILED
    assert app.calls("boom") == 2


def test_without_incremental_everything_runs_again(app: WorkflowApp) -> None:
    base = app.queue.submit_workflow(pipeline(app))
    with app.worker():
        base.wait(RUN_TIMEOUT_S)
        app.queue.submit_workflow(pipeline(app), base_run=base).wait(RUN_TIMEOUT_S)
        app.queue.submit_workflow(pipeline(app), incremental=True).wait(RUN_TIMEOUT_S)
    assert [app.calls(x) for x in "abc"] == [3, 3, 3]


def test_a_base_run_older_than_cache_ttl_is_not_reused(app: WorkflowApp) -> None:
    base = app.queue.submit_workflow(pipeline(app, cache_ttl=0.2))
    with app.worker():
        done = base.wait(RUN_TIMEOUT_S)
        assert done.completed_at is not None
        ended = done.completed_at
        wait_until(lambda: now_ms() - ended > 300, message="cache_ttl to pass")
        fresh = pipeline(app, cache_ttl=0.2)
        again = app.queue.submit_workflow(fresh, incremental=True, base_run=base)
        final = again.wait(RUN_TIMEOUT_S)
    assert {n.status for n in final.nodes.values()} == {NodeStatus.COMPLETED}
    assert [app.calls(x) for x in "abc"] == [2, 2, 2]


def test_purged_base_results_are_not_reused(app: WorkflowApp) -> None:
    base = app.queue.submit_workflow(pipeline(app))
    with app.worker():
        base.wait(RUN_TIMEOUT_S)
        assert app.queue._storage.purge_completed(now_ms() + 1) == 3
        final = app.queue.submit_workflow(pipeline(app), incremental=True, base_run=base).wait(
            RUN_TIMEOUT_S
        )
    assert {n.status for n in final.nodes.values()} == {NodeStatus.COMPLETED}


def test_an_unknown_base_run_is_refused(app: WorkflowApp) -> None:
    with pytest.raises(ValueError, match="base run 'missing' not found"):
        app.queue.submit_workflow(pipeline(app), incremental=True, base_run="missing")
    assert app.queue._storage.list_workflow_runs(None, None, 10, None) == []
