"""Events fire once, where the compare-and-set won; a run's picture shows its statuses."""

from __future__ import annotations

import threading
from typing import Any

from taskito import Queue
from taskito.events import EventType
from taskito.job import JobStatus
from taskito.workflows import Workflow, WorkflowState
from tests.api.driving import drive
from tests.helpers import wait_until
from tests.workflows.harness import RUN_TIMEOUT_S, WorkflowApp


class Recorder:
    def __init__(self, queue: Queue, *events: EventType) -> None:
        self.seen: list[tuple[EventType, dict[str, Any]]] = []
        self._lock = threading.Lock()
        for event in events:
            queue.on_event(event, self)

    def __call__(self, event: EventType, payload: dict[str, Any]) -> None:
        with self._lock:
            self.seen.append((event, payload))

    def of(self, event: EventType) -> list[dict[str, Any]]:
        with self._lock:
            return [payload for kind, payload in self.seen if kind is event]


def test_failed_event_payload(app: WorkflowApp) -> None:
    recorder = Recorder(app.queue, EventType.WORKFLOW_FAILED)
    wf = Workflow(name="fails")
    wf.step("a", app.boom, args=("kaput",))
    run = app.queue.submit_workflow(wf)
    with app.worker():
        final = run.wait(RUN_TIMEOUT_S)
        wait_until(lambda: recorder.of(EventType.WORKFLOW_FAILED), message="the event")
    (payload,) = recorder.of(EventType.WORKFLOW_FAILED)
    assert payload == {"run_id": run.id, "state": "failed", "error": final.error}
    assert "kaput" in (final.error or "")


def test_cancel_emits_once_per_run_including_children(app: WorkflowApp) -> None:
    recorder = Recorder(app.queue, EventType.WORKFLOW_CANCELLED)
    wf = Workflow(name="cancel_events")
    wf.step("sub", app.slow_child.as_step())
    run = app.queue.submit_workflow(wf)
    (child,) = app.queue._storage.child_workflow_runs(run.id)
    run.cancel()
    run.cancel()
    wait_until(lambda: len(recorder.of(EventType.WORKFLOW_CANCELLED)) == 2, message="events")
    assert sorted(p["run_id"] for p in recorder.of(EventType.WORKFLOW_CANCELLED)) == sorted(
        [run.id, child.id]
    )
    assert all(
        p["state"] == "cancelled" and p["error"] is None
        for p in recorder.of(EventType.WORKFLOW_CANCELLED)
    )


def test_concurrent_advances_from_two_queues_finish_the_run_once(app: WorkflowApp) -> None:
    other = Queue(**app.target.kwargs)
    try:
        recorders = [
            Recorder(q, EventType.WORKFLOW_COMPLETED, EventType.WORKFLOW_GATE_REACHED)
            for q in (app.queue, other)
        ]
        wf = Workflow(name="raced")
        wf.step("a", app.tag, args=("a",))
        wf.gate("approve", after="a")
        run = app.queue.submit_workflow(wf)
        job_id = run.status().nodes["a"].job_id or ""
        # The job finishes as a worker would finish it; nobody advances the run yet.
        drive(app.queue, job_id, JobStatus.COMPLETE, result="a")

        def advance_many(queue: Queue) -> None:
            for _ in range(20):
                queue._workflow_engine().advance(run.id)

        threads = [threading.Thread(target=advance_many, args=(q,)) for q in (app.queue, other)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        other.approve_gate(run.id, "approve")
        assert run.wait(RUN_TIMEOUT_S).state is WorkflowState.COMPLETED

        def counts(event: EventType) -> int:
            return sum(len(r.of(event)) for r in recorders)

        wait_until(lambda: counts(EventType.WORKFLOW_COMPLETED) >= 1, message="completed")
        for queue in (app.queue, other):
            assert queue._event_bus.flush(5)
        assert counts(EventType.WORKFLOW_GATE_REACHED) == 1
        assert counts(EventType.WORKFLOW_COMPLETED) == 1
    finally:
        other.close()


def test_a_finished_run_draws_its_statuses(app: WorkflowApp) -> None:
    wf = Workflow(name="drawn")
    wf.step("a", app.tag, args=("a",))
    wf.step("b", app.tag, args=("b",), after="a")
    run = app.queue.submit_workflow(wf)
    with app.worker():
        run.wait(RUN_TIMEOUT_S)
    picture = run.visualize()
    assert picture.splitlines()[:4] == ["graph LR", "  a[a ✓]", "  b[b ✓]", "  a --> b"]
    assert "  style a fill:#90EE90" in picture
    assert "fillcolor=lightgreen" in run.visualize("dot")
