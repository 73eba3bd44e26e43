"""A deploy never dead-letters work (issue 10 point 4): a worker that does not know a job's
task puts the job back, without spending a retry, for a worker that knows it; past the
``unknown_task_window`` the job is dead-lettered as not registered. Real worker threads on
every backend."""

from __future__ import annotations

import logging
from typing import Any, cast

import pytest

from taskito.job import JobRecord, JobStatus
from taskito.registry import ClaimedJob, ExecutionEnv, Hooks
from taskito.worker.unknown_tasks import MAX_BACKOFF_MS, UnknownTaskHold
from tests.backends import QueueTarget
from tests.helpers import wait_until
from tests.worker.harness import Harness

UNKNOWN = "deploy.new_task"
WARNING_LOGGER = "taskito.worker.unknown_tasks"


def held_back(harness: Harness, *job_ids: str) -> bool:
    """Claimed at least once and put back to pending."""
    return all(
        (job := harness.job(job_id)).status is JobStatus.PENDING and job.attempt >= 1
        for job_id in job_ids
    )


def new_task(n: int) -> int:
    return n * 2


def test_a_job_of_an_unknown_task_waits_for_a_worker_that_knows_it(
    harness: Harness, target: QueueTarget, caplog: pytest.LogCaptureFixture
) -> None:
    job_ids = [harness.enqueue(UNKNOWN, n, max_retries=0) for n in range(3)]
    with caplog.at_level(logging.WARNING, logger=WARNING_LOGGER):
        harness.burst(lambda: held_back(harness, *job_ids))  # an older worker
    for job_id in job_ids:
        job = harness.job(job_id)
        assert (job.status, job.retry_count, job.error) == (JobStatus.PENDING, 0, None)
    warnings = [r for r in caplog.records if r.name == WARNING_LOGGER]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]  # once per task, not per job
    assert UNKNOWN in warnings[0].getMessage()

    newer = Harness(target)  # a newer worker, started after, that knows the task
    try:
        newer.task(new_task, name=UNKNOWN)
        newer.burst(lambda: newer.is_terminal(*job_ids))
        for n, job_id in enumerate(job_ids):
            job = newer.job(job_id)
            assert (job.status, job.retry_count) == (JobStatus.COMPLETE, 0)
            assert newer.result(job_id) == n * 2
    finally:
        newer.close()


def test_past_the_window_the_job_is_dead_lettered_as_not_registered(harness: Harness) -> None:
    harness.env.unknown_task_window_ms = 300
    job_id = harness.enqueue(UNKNOWN, 1, max_retries=3)
    harness.burst(lambda: harness.is_terminal(job_id))
    job = harness.job(job_id)
    assert job.status is JobStatus.DEAD
    assert job.error == f"task {UNKNOWN!r} is not registered"
    assert job.retry_count == 0
    assert job.attempt >= 2  # held back once, then let through


def test_known_jobs_of_the_same_batch_run_at_once(harness: Harness) -> None:
    harness.task(new_task, name="deploy.old_task")
    unknown_ids = [harness.enqueue(UNKNOWN, n) for n in range(3)]
    known_ids = [harness.enqueue("deploy.old_task", n) for n in range(3)]
    harness.burst(
        lambda: harness.is_terminal(*known_ids) and held_back(harness, *unknown_ids), threads=8
    )
    held_until = min(harness.job(job_id).scheduled_at for job_id in unknown_ids)
    for job_id in known_ids:
        job = harness.job(job_id)
        assert (job.status, job.retry_count) == (JobStatus.COMPLETE, 0)
        assert job.started_at is not None and job.started_at < held_until
    for job_id in unknown_ids:
        job = harness.job(job_id)
        assert (job.status, job.retry_count, job.error) == (JobStatus.PENDING, 0, None)


def test_a_delayed_job_is_not_punished_for_its_delay(harness: Harness) -> None:
    harness.env.unknown_task_window_ms = 1_000
    job_id = harness.enqueue(UNKNOWN, 1, delay_ms=1_500)  # due after the window has passed
    with harness.running():
        wait_until(lambda: held_back(harness, job_id), message="the delayed job was held back")
    job = harness.job(job_id)
    assert (job.status, job.retry_count, job.error) == (JobStatus.PENDING, 0, None)


def test_a_window_of_zero_dead_letters_at_once(harness: Harness) -> None:
    harness.env.unknown_task_window_ms = 0
    job_id = harness.enqueue(UNKNOWN, 1, max_retries=3)
    harness.burst(lambda: harness.is_terminal(job_id))
    job = harness.job(job_id)
    assert (job.status, job.retry_count, job.attempt) == (JobStatus.DEAD, 0, 1)
    assert job.error == f"task {UNKNOWN!r} is not registered"


# --- the rules, without storage -------------------------------------------------------------


def claimed(job_id: str, task_name: str = UNKNOWN, created_at: int = 0) -> ClaimedJob:
    """A claimed job of a task this worker does not know (resolved to no spec)."""
    record = JobRecord(
        id=job_id,
        queue="default",
        task_name=task_name,
        payload=b"",
        status=JobStatus.RUNNING,
        priority=0,
        created_at=created_at,
        scheduled_at=created_at,
        retry_count=0,
        max_retries=0,
        timeout_ms=None,
        attempt=1,
    )
    return ClaimedJob(record, None, ())


def hold_for(window_ms: int, jitter: float = 0.0) -> UnknownTaskHold:
    env = ExecutionEnv(
        storage=cast(Any, None),
        serializer=cast(Any, None),
        tasks={},
        middleware=[],
        hooks=Hooks(),
        unknown_task_window_ms=window_ms,
    )
    return UnknownTaskHold(env, lambda: jitter)


def test_the_back_off_doubles_from_one_second_to_a_minute_with_jitter() -> None:
    steady, stretched = hold_for(3_600_000), hold_for(3_600_000, jitter=1.0)
    now, waits, stretched_waits = 0, [], []
    for _ in range(9):
        waits.append(steady.hold([claimed("a")], now)["a"] - now)
        stretched_waits.append(stretched.hold([claimed("a")], now)["a"] - now)
        now += 1_000
    assert waits == [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]
    assert stretched_waits == [round(w * 1.25) for w in waits]


def test_the_window_counts_from_when_this_worker_first_claimed_the_job() -> None:
    hold = hold_for(10_000)
    old = claimed("a", created_at=0)  # enqueued long before this worker started
    assert "a" in hold.hold([old], 50_000)  # first sight: held, a backlog gets the full window
    assert "a" in hold.hold([old], 59_999)
    assert hold.hold([old], 60_000) == {}  # 10 s after the first sight: let through


def test_one_warning_per_task_per_minute(caplog: pytest.LogCaptureFixture) -> None:
    hold = hold_for(3_600_000)
    caplog.set_level(logging.WARNING, logger=WARNING_LOGGER)
    hold.hold([claimed("a"), claimed("b"), claimed("c", "other.task")], 0)
    hold.hold([claimed("d")], MAX_BACKOFF_MS - 1)
    assert len(caplog.records) == 2  # one per task name
    assert "put 2 job(s) back" in caplog.records[0].getMessage()
    hold.hold([claimed("e")], MAX_BACKOFF_MS)
    assert len(caplog.records) == 3
