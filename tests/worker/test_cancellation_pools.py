"""The cancellation contract, the same on every pool (thread, prefork, async; and async tasks
on the thread pool's event loop): a cancel from another process reaches the task within
100 ms, the job ends ``cancelled`` with its hook and event once in the worker process, the
pool goes on serving, pending jobs never start, finished ones stay finished, ``force`` stops
what it can, and cancels still arrive while the worker drains."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taskito import EventType, TaskCancelledError
from taskito.job import JobRecord, Outcome, OutcomeKind, now_ms
from taskito.worker.pools import create_pool
from tests.backends import QueueTarget
from tests.helpers import wait_until
from tests.worker.pool_app import Canceller, MakeApp, PoolApp, pool_apps

#: (pool, the polling task it runs): each checks ``check_cancelled()`` every 50 ms.
POOLS = [
    pytest.param("thread", "polls", id="thread"),
    pytest.param("thread", "apolls", id="thread-async-task"),
    pytest.param("prefork", "polls", id="prefork"),
    pytest.param("async", "apolls", id="async"),
]


@pytest.fixture
def make_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: QueueTarget
) -> Iterator[MakeApp]:
    """Apps on ``target``: every test here runs on each pool and each backend."""
    yield from pool_apps(tmp_path, monkeypatch, target)


@pytest.fixture
def canceller(target: QueueTarget) -> Iterator[Canceller]:
    process = Canceller(target)
    try:
        yield process
    finally:
        process.close()


def recorded(app: PoolApp, event_type: EventType) -> list[dict[str, Any]]:
    payloads: list[dict[str, Any]] = []
    app.queue.on_event(event_type, lambda _type, payload: payloads.append(payload))
    return payloads


@pytest.mark.parametrize(("pool", "task_name"), POOLS)
def test_a_cancel_from_another_process_raises_within_100ms(
    make_app: MakeApp, canceller: Canceller, pool: str, task_name: str
) -> None:
    app = make_app(workers=1)
    cancelled_events = recorded(app, EventType.JOB_CANCELLED)
    task = app.task(task_name)
    latencies: list[float] = []
    job_ids: list[str] = []
    with app.running(pool):
        for _ in range(3):
            job = task.delay(0.05)
            job_ids.append(job.id)
            app.wait_for_mark(job.id, "started")
            sent_at, ok = canceller.cancel(job.id)
            assert ok
            raised_at = float(app.wait_for_mark(job.id, "raised"))
            latencies.append(raised_at - sent_at)
            assert app.wait_for_status(job.id, "cancelled", "failed", "dead") == "cancelled"
            with pytest.raises(TaskCancelledError):
                job.result(timeout=5)
        # The pool goes on serving; a prefork child is not killed by a cooperative cancel.
        follow_up = app.task("pid").delay().result(timeout=20)
    assert max(latencies) < 0.1, latencies
    (runner,) = {app.pid_of(job_id) for job_id in job_ids}
    assert follow_up == runner
    assert (runner != os.getpid()) is (pool == "prefork")
    for job_id in job_ids:
        record = app.queue.get_job(job_id)
        assert record is not None and record.error == "cancelled by request"
    app.queue._event_bus.flush(5)
    assert sorted(e["job_id"] for e in cancelled_events) == sorted(job_ids)
    me = os.getpid()
    assert sorted(app.hook_calls()) == sorted(("on_cancel", j, me) for j in job_ids)


@pytest.mark.parametrize(("pool", "task_name"), POOLS)
def test_a_job_cancelled_while_pending_never_starts(
    make_app: MakeApp, pool: str, task_name: str
) -> None:
    app = make_app(workers=1)
    cancelled_events = recorded(app, EventType.JOB_CANCELLED)
    doomed = app.task(task_name).delay(0.05)
    assert app.queue.cancel(doomed.id) is True
    with app.running(pool):
        assert app.task("pid").delay().result(timeout=20) > 0
    assert app.status(doomed.id) == "cancelled"
    assert app.mark(doomed.id, "started") is None
    app.queue._event_bus.flush(5)
    assert cancelled_events == [] and app.hook_calls() == []


@pytest.mark.parametrize(("pool", "task_name"), POOLS)
def test_cancelling_a_finished_job_changes_nothing(
    make_app: MakeApp, canceller: Canceller, pool: str, task_name: str
) -> None:
    app = make_app(workers=1)
    with app.running(pool):
        job = app.task("pid").delay()
        job.result(timeout=20)
        assert app.queue.cancel(job.id) is False
        _, ok = canceller.cancel(job.id)
        assert ok is False
    job.refresh()
    assert job.status == "complete"
    assert app.hook_calls() == []


#: (pool, task, seconds it sleeps without checking, the status a forced cancel leads to)
FORCE_CASES = [
    # A thread cannot be stopped: the request stays cooperative and the task runs to its end.
    pytest.param("thread", "ignores", 0.5, "complete", id="thread"),
    pytest.param("thread", "aignores", 30.0, "cancelled", id="thread-async-task"),
    pytest.param("prefork", "ignores", 30.0, "cancelled", id="prefork"),
    pytest.param("async", "aignores", 30.0, "cancelled", id="async"),
]


@pytest.mark.parametrize(("pool", "task_name", "seconds", "expected"), FORCE_CASES)
def test_force_cancel_of_a_task_that_never_checks(
    make_app: MakeApp,
    canceller: Canceller,
    caplog: pytest.LogCaptureFixture,
    pool: str,
    task_name: str,
    seconds: float,
    expected: str,
) -> None:
    app = make_app(workers=1)
    with caplog.at_level(logging.INFO, logger="taskito"), app.running(pool):
        job = app.task(task_name).delay(seconds)
        runner = app.pid_of(job.id)
        _, ok = canceller.cancel(job.id, force=True)
        assert ok
        assert app.wait_for_status(job.id, "complete", "cancelled", timeout_s=10) == expected
        follow_up = app.task("pid").delay().result(timeout=20)
    if expected == "complete":
        assert "cannot stop a running thread" in caplog.text
        assert app.mark(job.id, "finished") is not None
        assert app.hook_calls() == []
        return
    assert app.mark(job.id, "finished") is None
    assert app.hook_calls() == [("on_cancel", job.id, os.getpid())]
    if pool == "prefork":
        # Exactly that child was killed; a fresh one took its place.
        assert follow_up != runner
        assert f"prefork child {runner} running it was killed" in caplog.text
    else:
        app.wait_for_mark(job.id, "interrupted")
        assert follow_up == os.getpid()


@pytest.mark.parametrize(("pool", "task_name"), POOLS)
def test_a_cancel_is_honoured_while_the_worker_drains(
    make_app: MakeApp, canceller: Canceller, pool: str, task_name: str
) -> None:
    app = make_app(workers=1, drain_timeout=30)
    with app.running(pool) as worker:
        job = app.task(task_name).delay(0.05)
        app.wait_for_mark(job.id, "started")
        app.queue.request_shutdown()
        wait_until(lambda: worker.status == "draining")
        _, ok = canceller.cancel(job.id)
        assert ok
        assert app.wait_for_status(job.id, "cancelled", "failed", "dead") == "cancelled"
    assert app.mark(job.id, "raised") is not None
    assert app.hook_calls() == [("on_cancel", job.id, os.getpid())]


#: (pool, a task that keeps the pool's only slot busy for a moment)
BLOCKERS = [
    pytest.param("thread", "ignores", id="thread"),
    pytest.param("thread", "blocks_the_loop", id="thread-async-task"),
    pytest.param("prefork", "ignores", id="prefork"),
    pytest.param("async", "blocks_the_loop", id="async"),
]


@pytest.mark.parametrize(("pool", "blocker_name"), BLOCKERS)
def test_a_cancel_between_claim_and_start_means_the_task_never_runs(
    make_app: MakeApp, pool: str, blocker_name: str
) -> None:
    app = make_app()
    target_name = "apolls" if blocker_name == "blocks_the_loop" else "polls"
    storage = app.queue._storage
    outcomes: dict[str, Outcome] = {}
    done = threading.Event()

    def on_done(job: JobRecord, outcome: Outcome) -> None:
        outcomes[job.id] = outcome
        if len(outcomes) == 2:
            done.set()

    def claim(task_name: str, *args: Any) -> JobRecord:
        app.queue.enqueue(app.task(task_name).name, args=args)
        (job,) = storage.claim("window-test", None, None, 1, now_ms(), 60_000)
        return job

    env = app.queue._execution_env()
    pool_under_test = create_pool(pool, env, 1, app=app.app)
    pool_under_test.start()
    try:
        blocker = claim(blocker_name, 0.3)
        pool_under_test.submit(env.resolve(blocker), on_done)
        app.wait_for_mark(blocker.id, "started")
        # The only slot is busy: the target is claimed and handed over, but waits to start.
        target = claim(target_name, 0.05)
        pool_under_test.submit(env.resolve(target), on_done)
        assert pool_under_test.cancel(target.id) is True
        assert done.wait(20)
    finally:
        pool_under_test.shutdown(10)
    assert outcomes[blocker.id].kind is OutcomeKind.SUCCESS
    cancelled = outcomes[target.id]
    assert cancelled.kind is OutcomeKind.CANCELLED
    assert cancelled.error == f"job {target.id} was cancelled before it started"
    assert app.mark(target.id, "started") is None
    assert pool_under_test.cancel(target.id) is False
