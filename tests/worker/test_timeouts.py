"""Hard timeouts on the thread pool: the attempt is failed at its deadline (fenced), hooks fire,
the stuck thread stops counting against capacity and its late result is dropped."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest

from taskito.context import current_job
from taskito.events import EventType
from taskito.job import JobStatus
from taskito.middleware import TaskMiddleware
from taskito.retry import RetryPolicy
from tests.helpers import wait_until
from tests.worker.harness import Harness

FAST_RETRY = RetryPolicy(backoff_s=0.01)


class TimeoutHooks(TaskMiddleware):
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def on_timeout(self, ctx: Any) -> None:
        self.calls.append(("timeout", ctx.retry_count))

    def on_retry(self, ctx: Any, error: BaseException, retry_count: int) -> None:
        self.calls.append(("retry", retry_count))

    def on_dead_letter(self, ctx: Any, error: BaseException) -> None:
        self.calls.append(("dead", ctx.retry_count))


def test_a_timed_out_attempt_is_dead_lettered_at_its_deadline(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    hooks = TimeoutHooks()
    harness.middleware.append(hooks)
    gate = threading.Event()
    harness.task(lambda: gate.wait(10), name="hangs")
    try:
        with caplog.at_level(logging.WARNING, logger="taskito"):
            job_id = harness.enqueue("hangs", timeout_ms=200)
            harness.burst(lambda: harness.is_terminal(job_id))
    finally:
        gate.set()
    record = harness.job(job_id)
    assert (record.status, record.error) == (JobStatus.DEAD, "job timed out after 200ms")
    assert record.started_at is not None and record.completed_at is not None
    assert 190 <= record.completed_at - record.started_at < 700
    assert hooks.calls == [("timeout", 0), ("dead", 0)]
    (dead,) = harness.events.of(EventType.JOB_DEAD)
    assert dead["error"] == "job timed out after 200ms"
    assert job_id in caplog.text and "abandoned" in caplog.text


def test_a_late_result_does_not_overwrite_the_retry(harness: Harness) -> None:
    hooks = TimeoutHooks()
    harness.middleware.append(hooks)
    gate = threading.Event()
    first_returned = threading.Event()

    def slow_first() -> str:
        if current_job.retry_count == 0:
            gate.wait(10)
            first_returned.set()
            return "late"
        return "fresh"

    harness.task(slow_first, retry=FAST_RETRY)
    try:
        with harness.running(threads=1):
            job_id = harness.enqueue("slow_first", max_retries=1, timeout_ms=150)
            wait_until(lambda: harness.is_terminal(job_id))
            assert harness.result(job_id) == "fresh"
            gate.set()
            assert first_returned.wait(5)
            time.sleep(0.05)  # give the loop time to see (and drop) the late result
    finally:
        gate.set()
    record = harness.job(job_id)
    assert harness.result(job_id) == "fresh"
    assert record.retry_count == 1
    assert hooks.calls == [("timeout", 0), ("retry", 0)]
    assert [p["job_id"] for p in harness.events.of(EventType.JOB_COMPLETED)] == [job_id]
    assert len(harness.events.of(EventType.JOB_RETRYING)) == 1
    errors = harness.storage.job_errors(job_id)
    assert [(e.attempt, e.error) for e in errors] == [(0, "job timed out after 150ms")]


def test_a_stuck_thread_stops_counting_against_capacity(harness: Harness) -> None:
    gate = threading.Event()
    harness.task(lambda: gate.wait(10), name="hangs")
    harness.task(lambda: threading.current_thread().name, name="quick")
    try:
        with harness.running(threads=1):
            stuck = harness.enqueue("hangs", timeout_ms=100)
            wait_until(lambda: harness.status(stuck) is JobStatus.RUNNING)
            quick = harness.enqueue("quick")
            # The one thread is still blocked; a replacement runs the next job.
            wait_until(lambda: harness.is_terminal(stuck, quick))
            assert not gate.is_set()
            assert harness.result(quick) != ""
    finally:
        gate.set()
    assert harness.status(stuck) is JobStatus.DEAD


def test_a_cooperative_task_also_sees_the_timeout_as_a_cancel(harness: Harness) -> None:
    stopped = threading.Event()

    def polls() -> None:
        try:
            while True:
                current_job.check_cancelled()
                time.sleep(0.001)
        finally:
            stopped.set()

    harness.task(polls)
    job_id = harness.enqueue("polls", timeout_ms=100)
    harness.burst(lambda: harness.is_terminal(job_id))
    assert stopped.wait(2)
    assert harness.job(job_id).error == "job timed out after 100ms"


def test_no_timeout_means_the_job_is_never_timed_out(harness: Harness) -> None:
    def sleeps() -> str:
        time.sleep(0.3)
        return "slept"

    harness.task(sleeps)
    job_id = harness.enqueue("sleeps", timeout_ms=None)
    harness.burst(lambda: harness.is_terminal(job_id))
    assert harness.result(job_id) == "slept"
