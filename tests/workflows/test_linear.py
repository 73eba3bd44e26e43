"""Linear workflows (workflows spec 4, "linear"): order, arguments, the decorator, snapshots
with and without a worker, errors, events and the handle."""

from __future__ import annotations

import itertools
import threading
from typing import Any

import pytest

from taskito.events import EventType
from taskito.exceptions import SerializationError
from taskito.workflows import (
    NodeStatus,
    Workflow,
    WorkflowRun,
    WorkflowState,
    WorkflowTimeoutError,
)
from tests.workflows.harness import RUN_TIMEOUT_S, WorkflowApp, assert_fully_cancelled


def linear(app: WorkflowApp, name: str = "linear") -> Workflow:
    wf = Workflow(name=name)
    wf.step("a", app.tag, args=("a",))
    wf.step("b", app.tag, args=("b",), after="a")
    wf.step("c", app.tag, args=("c",), after="b")
    return wf


def test_steps_run_in_order_and_the_run_completes(app: WorkflowApp) -> None:
    run = app.queue.submit_workflow(linear(app))
    with app.worker():
        final = run.wait(RUN_TIMEOUT_S)
    assert final.state is WorkflowState.COMPLETED
    assert final.error is None
    assert [n.status for n in final.nodes.values()] == [NodeStatus.COMPLETED] * 3
    jobs = [app.queue._storage.get_job(final.nodes[name].job_id or "") for name in "abc"]
    for before, after in itertools.pairwise(jobs):
        assert before is not None and after is not None
        assert before.completed_at is not None and after.started_at is not None
        assert before.completed_at <= after.started_at
    assert [app.calls(name) for name in "abc"] == [1, 1, 1]


def test_args_and_kwargs_reach_the_task(app: WorkflowApp) -> None:
    wf = Workflow(name="arguments")
    wf.step("sum", app.add, args=(2,), kwargs={"y": 40})
    run = app.queue.submit_workflow(wf)
    with app.worker():
        final = run.wait(RUN_TIMEOUT_S)
    handle = app.queue.get_job(final.nodes["sum"].job_id or "")
    assert handle is not None and handle.result(timeout=5) == 42


def test_the_decorator_registers_builds_and_submits(app: WorkflowApp) -> None:
    proxy = app.child
    assert app.queue._workflow_registry["child"] is proxy
    assert proxy._is_workflow_proxy is True
    built = proxy.build(n=3)
    assert built.name == "child" and built.version == 1
    assert built.step_names == ["first", "second"]
    assert proxy(n=3).step_names == ["first", "second"]
    run = proxy.submit(n=3)
    assert isinstance(run, WorkflowRun) and run.name == "child"
    with app.worker():
        assert run.wait(RUN_TIMEOUT_S).state is WorkflowState.COMPLETED


def test_a_factory_must_return_a_workflow(app: WorkflowApp) -> None:
    proxy = app.queue.workflow(name="not_a_workflow")(lambda: 42)
    with pytest.raises(TypeError, match="must return a Workflow"):
        proxy.build()
    with pytest.raises(TypeError, match="Workflow"):
        app.queue.submit_workflow("nope")  # type: ignore[arg-type]


def test_without_a_worker_the_run_is_running_and_static_nodes_have_jobs(
    app: WorkflowApp,
) -> None:
    run = app.queue.submit_workflow(linear(app))
    snapshot = run.status()
    assert snapshot.state is WorkflowState.RUNNING
    assert snapshot.completed_at is None and snapshot.error is None
    assert snapshot.started_at is not None
    root, dependent = snapshot.nodes["a"], snapshot.nodes["b"]
    assert root.status is NodeStatus.PENDING and root.job_id is not None and root.error is None
    assert dependent.status is NodeStatus.PENDING and dependent.job_id is not None
    assert run.node_status("c") is NodeStatus.PENDING
    with pytest.raises(KeyError, match="nope"):
        run.node_status("nope")


def test_wait_times_out_with_the_spec_message(app: WorkflowApp) -> None:
    run = app.queue.submit_workflow(linear(app))
    with pytest.raises(WorkflowTimeoutError, match=f"workflow run {run.id} did not complete"):
        run.wait(0.3)
    assert issubclass(WorkflowTimeoutError, TimeoutError)


def test_an_unknown_run_is_a_value_error(app: WorkflowApp) -> None:
    with pytest.raises(ValueError, match="workflow run 'missing' not found"):
        WorkflowRun(app.queue, "missing", "x").status()


def test_cancel_without_a_worker_skips_every_node(app: WorkflowApp) -> None:
    run = app.queue.submit_workflow(linear(app))
    run.cancel()
    assert_fully_cancelled(app, run.status())
    run.cancel()  # a terminal run: nothing happens
    assert run.status().state is WorkflowState.CANCELLED


def test_a_middle_failure_completes_fails_and_skips(app: WorkflowApp) -> None:
    wf = Workflow(name="middle")
    wf.step("a", app.tag, args=("a",))
    wf.step("b", app.boom, args=("middle broke",), after="a")
    wf.step("c", app.tag, args=("c",), after="b")
    run = app.queue.submit_workflow(wf)
    with app.worker():
        final = run.wait(RUN_TIMEOUT_S)
    assert final.state is WorkflowState.FAILED
    statuses = {name: node.status for name, node in final.nodes.items()}
    assert statuses == {"a": "completed", "b": "failed", "c": "skipped"}
    assert "middle broke" in (final.nodes["b"].error or "")
    assert final.nodes["c"].error is None
    assert final.error is not None and final.error.startswith("node 'b' failed: ")
    assert app.calls("c") == 0


def test_two_submits_of_one_name_and_version_are_two_runs(app: WorkflowApp) -> None:
    first = app.queue.submit_workflow(linear(app, "same"))
    second = app.queue.submit_workflow(linear(app, "same"))
    assert first.id != second.id
    with app.worker():
        assert first.wait(RUN_TIMEOUT_S).state is WorkflowState.COMPLETED
        assert second.wait(RUN_TIMEOUT_S).state is WorkflowState.COMPLETED


def test_completed_and_submitted_events(app: WorkflowApp) -> None:
    seen: list[tuple[EventType, dict[str, Any]]] = []
    done = threading.Event()

    def listen(event: EventType, payload: dict[str, Any]) -> None:
        seen.append((event, payload))
        if event is EventType.WORKFLOW_COMPLETED:
            done.set()

    for event in (EventType.WORKFLOW_SUBMITTED, EventType.WORKFLOW_COMPLETED):
        app.queue.on_event(event, listen)
    run = app.queue.submit_workflow(linear(app, "evented"))
    with app.worker():
        run.wait(RUN_TIMEOUT_S)
        assert done.wait(RUN_TIMEOUT_S)
    assert (
        EventType.WORKFLOW_SUBMITTED,
        {"run_id": run.id, "workflow_name": "evented"},
    ) in seen
    completed = [p for e, p in seen if e is EventType.WORKFLOW_COMPLETED]
    assert completed == [{"run_id": run.id, "state": "completed", "error": None}]


def test_the_handle_repr(app: WorkflowApp) -> None:
    run = app.queue.submit_workflow(linear(app, "shown"))
    assert repr(run) == f"WorkflowRun(id='{run.id}', name='shown')"


def test_an_async_step(app: WorkflowApp) -> None:
    wf = Workflow(name="async")
    wf.step("a", app.async_echo, args=("hi",))
    run = app.queue.submit_workflow(wf)
    with app.worker(pool="async"):
        assert run.wait(RUN_TIMEOUT_S).state is WorkflowState.COMPLETED
    assert app.calls("async_echo") == 1


def test_steps_take_the_task_options_unless_overridden(app: WorkflowApp) -> None:
    wf = Workflow(name="options")
    wf.step("plain", app.tag, args=("plain",))
    wf.step("tuned", app.tag, args=("tuned",), queue="other", max_retries=5, priority=7)
    snapshot = app.queue.submit_workflow(wf).status()
    plain = app.queue._storage.get_job(snapshot.nodes["plain"].job_id or "")
    tuned = app.queue._storage.get_job(snapshot.nodes["tuned"].job_id or "")
    assert plain is not None and tuned is not None
    assert (plain.max_retries, plain.queue, plain.priority) == (0, "default", 0)
    assert (tuned.max_retries, tuned.queue, tuned.priority) == (5, "other", 7)


def test_an_argument_that_cannot_be_stored_fails_the_submit_naming_the_step(
    app: WorkflowApp,
) -> None:
    for deferred in (False, True):
        wf = Workflow(name="unstorable", on_failure="continue" if deferred else "fail_fast")
        wf.step("a", app.tag, args=("a",))
        wf.step("locked", app.echo, args=(threading.Lock(),), after="a")
        with pytest.raises(SerializationError, match="step 'locked'"):
            app.queue.submit_workflow(wf)
    assert app.queue._storage.list_workflow_runs(None, None, 10, None) == []
    assert app.queue.list_jobs() == []


def test_wait_refuses_a_poll_interval_that_is_not_positive(app: WorkflowApp) -> None:
    run = app.queue.submit_workflow(linear(app, "polled"))
    with pytest.raises(ValueError, match="poll_interval"):
        run.wait(1, poll_interval=0)
