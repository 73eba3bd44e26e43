"""Task metrics on the worker side, on every backend: each finished attempt's outcome is written
with its metric (a timeout, a cancellation, the retry after a timeout), a late result that is
dropped writes none, a queue that records none writes none, and the scheduler deletes rows
past the retention in chunks."""

from __future__ import annotations

import threading
import time

import pytest

from taskito.context import current_job
from taskito.job import AttemptMetric, JobStatus, OutcomeKind, now_ms
from taskito.registry import RateLimit
from taskito.retry import RetryPolicy
from taskito.storage.base import Finish
from taskito.worker import scheduler as scheduler_module
from taskito.worker.scheduler import PeriodicScheduler
from tests.helpers import wait_until
from tests.worker.harness import Harness

FAST_RETRY = RetryPolicy(backoff_s=0.01)


def _outcomes(harness: Harness, task_name: str) -> list[tuple[int, OutcomeKind]]:
    return [(row.attempt, row.outcome) for row in harness.storage.task_metrics(task_name, 0)]


def test_a_timeout_then_a_retry_that_succeeds_and_the_late_result_dropped(
    harness: Harness,
) -> None:
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
            gate.set()
            assert first_returned.wait(5)
            time.sleep(0.05)  # give the loop time to see (and drop) the late result
    finally:
        gate.set()
    assert harness.result(job_id) == "fresh"
    assert _outcomes(harness, "slow_first") == [
        (1, OutcomeKind.TIMED_OUT),
        (2, OutcomeKind.SUCCESS),
    ]
    timed_out = harness.storage.task_metrics("slow_first", 0)[0]
    assert 140_000_000 <= timed_out.wall_ns < 2_000_000_000


def test_a_cancelled_attempt_is_recorded_as_cancelled(harness: Harness) -> None:
    started = threading.Event()

    def waits_for_cancel() -> None:
        started.set()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            current_job.check_cancelled()
            time.sleep(0.002)

    harness.task(waits_for_cancel)
    with harness.running():
        job_id = harness.enqueue("waits_for_cancel")
        assert started.wait(10)
        harness.storage.cancel(job_id, False, now_ms())
        wait_until(lambda: harness.is_terminal(job_id))
    assert harness.status(job_id) is JobStatus.CANCELLED
    assert _outcomes(harness, "waits_for_cancel") == [(1, OutcomeKind.CANCELLED)]


def test_a_deferred_attempt_leaves_no_row(harness: Harness) -> None:
    """A rate limit puts jobs back before they run (a claim, no attempt finished): only each
    job's last attempt, the one that ran, has a row."""
    harness.task(lambda: None, name="limited", rate_limit=RateLimit(4, 1.0))
    ids = [harness.enqueue("limited") for _ in range(3)]
    harness.burst(lambda: harness.is_terminal(*ids), timeout_s=15, threads=4)
    records = {job_id: harness.job(job_id) for job_id in ids}
    assert max(record.attempt for record in records.values()) > 1, "no job was held back"
    rows = harness.storage.task_metrics("limited", 0)
    assert sorted((row.job_id, row.attempt) for row in rows) == sorted(
        (job_id, record.attempt) for job_id, record in records.items()
    )


def test_an_env_that_records_no_metrics_writes_none(harness: Harness) -> None:
    harness.env.metrics_retention_ms = 0
    harness.task(lambda: 1, name="one")
    job_id = harness.enqueue("one")
    harness.burst(lambda: harness.is_terminal(job_id))
    assert harness.status(job_id) is JobStatus.COMPLETE
    assert harness.storage.task_metrics(None, 0) == []


# --- retention ------------------------------------------------------------------------------


def _write_rows(harness: Harness, finished_at: list[int]) -> None:
    """One metric row per time, each written with its (completed) job's outcome."""
    for at in finished_at:
        job_id = harness.enqueue("measured", queue=f"solo-{at}-{time.monotonic_ns()}")
        job = harness.job(job_id)
        (claimed,) = harness.storage.claim("w", [job.queue], None, 1, now_ms(), 60_000)
        metric = AttemptMetric("measured", job.queue, OutcomeKind.SUCCESS, at, 1_000)
        finish = Finish(
            claimed.id, claimed.attempt, JobStatus.COMPLETE, worker_id="w", metric=metric
        )
        assert harness.storage.finish_many([finish], at) == [True]


def _finished_at(harness: Harness) -> list[int]:
    return [row.finished_at for row in harness.storage.task_metrics(None, 0)]


def test_purge_metrics_deletes_rows_older_than_the_retention(harness: Harness) -> None:
    now = now_ms()
    harness.env.metrics_retention_ms = 60_000
    _write_rows(harness, [now - 60_001, now - 60_000, now - 10])
    scheduler = PeriodicScheduler(harness.env)
    assert scheduler.purge_metrics(now) == 1
    assert _finished_at(harness) == [now - 60_000, now - 10]
    assert scheduler.purge_metrics(now) == 0


def test_purge_metrics_works_in_chunks(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scheduler_module, "METRICS_PURGE_CHUNK", 2)
    now = now_ms()
    harness.env.metrics_retention_ms = 1_000
    _write_rows(harness, [now - 5_000 + n for n in range(5)] + [now])
    calls: list[int] = []
    real = harness.storage.purge_metrics

    def counting(before: int, limit: int) -> int:
        calls.append(limit)
        return real(before, limit)

    monkeypatch.setattr(harness.storage, "purge_metrics", counting)
    assert PeriodicScheduler(harness.env).purge_metrics(now) == 5
    assert calls == [2, 2, 2]
    assert _finished_at(harness) == [now]


def test_retention_none_keeps_every_row_and_zero_deletes_them_all(harness: Harness) -> None:
    now = now_ms()
    _write_rows(harness, [1_000, now - 5])
    harness.env.metrics_retention_ms = None
    assert PeriodicScheduler(harness.env).purge_metrics(now) == 0
    assert _finished_at(harness) == [1_000, now - 5]
    harness.env.metrics_retention_ms = 0
    assert PeriodicScheduler(harness.env).purge_metrics(now) == 2
    assert _finished_at(harness) == []


def test_a_running_worker_purges_old_rows(harness: Harness) -> None:
    now = now_ms()
    harness.env.metrics_retention_ms = 3_600_000
    _write_rows(harness, [now - 3_700_000, now - 1_000])
    with harness.running(cleanup_interval_s=0.05):
        wait_until(lambda: _finished_at(harness) == [now - 1_000], 10, message="old row purged")
