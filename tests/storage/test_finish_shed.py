"""Contract: the write that sheds a claimed job (``on_excess="drop"``, ``worker/flow.py``) is a
plain ``finish_many`` DEAD outcome without a metric: the job is dead-lettered without a run
being recorded, its ``retry_count`` as it was, its dependents cancelled, fenced by the claim.
No operation of its own is needed; these pin what the gate relies on, on every backend."""

from __future__ import annotations

from taskito.job import JobStatus, now_ms
from taskito.storage.base import Finish, Storage
from tests.storage.factories import claim_job, finish, make_job, start_job

SHED = "rate_limit: task 't' is over its dispatch rate limit, and its on_excess is drop"


def test_a_shed_job_is_dead_lettered_with_no_metric_row(storage: Storage) -> None:
    job = start_job(storage, max_retries=3)
    child = storage.enqueue(make_job(depends_on=(job.id,)))
    since = now_ms() - 1
    assert finish(storage, job, JobStatus.DEAD, error=SHED)
    record = storage.get_job(job.id)
    assert record is not None
    assert (record.status, record.error, record.retry_count) == (JobStatus.DEAD, SHED, 0)
    (letter,) = storage.dead_letters(10, 0)
    assert (letter.original_job_id, letter.error, letter.retry_count) == (job.id, SHED, 0)
    assert storage.task_metrics(None, since) == []
    cancelled = storage.get_job(child.id)
    assert cancelled is not None and cancelled.status is JobStatus.CANCELLED


def test_a_job_shed_after_retries_keeps_its_retry_count(storage: Storage) -> None:
    job = start_job(storage, max_retries=3)
    assert finish(storage, job, JobStatus.PENDING, error="first", retry_at=now_ms())
    again = claim_job(storage, job.id)
    assert finish(storage, again, JobStatus.DEAD, error=SHED)
    record = storage.get_job(job.id)
    assert record is not None and record.retry_count == 1
    (letter,) = storage.dead_letters(10, 0)
    assert letter.retry_count == 1


def test_a_shed_of_a_stale_claim_is_fenced_off(storage: Storage) -> None:
    job = start_job(storage)
    stale = Finish(job.id, job.attempt, JobStatus.DEAD, error=SHED, worker_id="someone-else")
    assert storage.finish_many([stale], now_ms()) == [False]
    record = storage.get_job(job.id)
    assert record is not None and record.status is JobStatus.RUNNING
    assert storage.dead_letters(10, 0) == []
