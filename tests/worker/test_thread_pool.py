"""The thread pool on its own: submit, report, abandon, shutdown, and its misuse errors."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from taskito.job import JobRecord, Outcome, OutcomeKind, now_ms
from taskito.registry import ClaimedJob
from taskito.worker.pools import create_pool
from taskito.worker.pools.thread import ThreadPool
from tests.helpers import wait_until
from tests.worker.harness import Harness


@pytest.fixture
def harness(sqlite_harness: Harness) -> Harness:
    """SQLite only: the thread pool is the subject here; storage only hands out jobs."""
    return sqlite_harness


def claim_one(harness: Harness, task_name: str, *args: Any) -> ClaimedJob:
    """Enqueue and claim one job, resolved as the worker hands it to its pool."""
    harness.enqueue(task_name, *args)
    (job,) = harness.storage.claim("pool-test", None, None, 1, now_ms(), 10_000)
    return harness.env.resolve(job)


def test_jobs_run_on_pool_threads_and_report_outcomes(harness: Harness) -> None:
    harness.task(lambda x: (x, threading.current_thread().name), name="where")
    reports: list[tuple[JobRecord, Outcome]] = []
    pool = ThreadPool(harness.env, 2)
    pool.start()
    try:
        job = claim_one(harness, "where", 7)
        pool.submit(job, lambda j, o: reports.append((j, o)))
        wait_until(lambda: reports)
    finally:
        pool.shutdown(5)
    ((reported, outcome),) = reports
    assert reported is job.job and outcome.kind is OutcomeKind.SUCCESS
    value, thread_name = harness.serializer.loads(outcome.result or b"")
    assert value == 7 and thread_name.startswith("taskito-thread-")


def test_an_abandoned_job_is_never_reported_and_its_thread_is_replaced(
    harness: Harness,
) -> None:
    gate, started = threading.Event(), threading.Event()

    def hangs() -> None:
        started.set()
        gate.wait(10)

    harness.task(hangs)
    harness.task(lambda: "quick", name="quick")
    reports: list[Outcome] = []
    pool = ThreadPool(harness.env, 1)
    pool.start()
    try:
        stuck = claim_one(harness, "hangs")
        pool.submit(stuck, lambda j, o: reports.append(o))
        assert started.wait(5)
        assert pool.abandon(stuck.job.id) is True
        assert pool.abandon(stuck.job.id) is False
        pool.submit(claim_one(harness, "quick"), lambda j, o: reports.append(o))
        wait_until(lambda: reports)  # the replacement thread ran it
        gate.set()
        wait_until(lambda: not any(t.name == "taskito-thread-1" for t in threading.enumerate()))
    finally:
        gate.set()
        pool.shutdown(5)
    assert [o.kind for o in reports] == [OutcomeKind.SUCCESS]


def test_a_raising_on_done_callback_does_not_kill_the_thread(harness: Harness) -> None:
    harness.task(lambda: 1, name="one")
    calls: list[str] = []

    def on_done(job: JobRecord, outcome: Outcome) -> None:
        calls.append(job.id)
        raise RuntimeError("callback broke")

    pool = ThreadPool(harness.env, 1)
    pool.start()
    try:
        pool.submit(claim_one(harness, "one"), on_done)
        pool.submit(claim_one(harness, "one"), on_done)
        wait_until(lambda: len(calls) == 2)
    finally:
        pool.shutdown(5)


def test_misuse_raises_clear_errors(harness: Harness) -> None:
    with pytest.raises(ValueError, match="threads must be >= 1, got 0"):
        ThreadPool(harness.env, 0)
    harness.task(lambda: None, name="noop")
    job = claim_one(harness, "noop")
    pool = ThreadPool(harness.env, 1)
    with pytest.raises(RuntimeError, match="not running"):
        pool.submit(job, lambda j, o: None)
    pool.start()
    try:
        with pytest.raises(RuntimeError, match="already started"):
            pool.start()
        gate = threading.Event()
        harness.task(lambda: gate.wait(5), name="waits")
        waiting = claim_one(harness, "waits")
        pool.submit(waiting, lambda j, o: None)
        with pytest.raises(ValueError, match="already running"):
            pool.submit(waiting, lambda j, o: None)
        gate.set()
    finally:
        pool.shutdown(5)
    with pytest.raises(RuntimeError, match="not running"):
        pool.submit(job, lambda j, o: None)
    assert pool.cancel("unknown") is False


def test_create_pool_by_name(harness: Harness) -> None:
    assert isinstance(create_pool("thread", harness.env, 3), ThreadPool)
    assert create_pool("thread", harness.env, 3).capacity == 3
    with pytest.raises(ValueError, match="Unknown pool 'greenlet'"):
        create_pool("greenlet", harness.env, 1)
