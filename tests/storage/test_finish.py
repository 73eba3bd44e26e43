"""Contract: finish_many (each outcome, fencing, the dependent cascade)."""

from __future__ import annotations

import pytest

from taskito.job import JobRecord, JobStatus, now_ms
from taskito.storage.base import Finish, Storage
from tests.storage.factories import claim_all, claim_job, finish, make_job, start_job, status_of


def _running(storage: Storage, **overrides: object) -> JobRecord:
    return start_job(storage, **overrides)


def _get(storage: Storage, job_id: str) -> JobRecord:
    record = storage.get_job(job_id)
    assert record is not None
    return record


def test_complete_stores_the_result_and_clears_the_lease(storage: Storage) -> None:
    job = _running(storage)
    now = now_ms()
    assert storage.finish_many(
        [Finish(job.id, job.attempt, JobStatus.COMPLETE, b"42", worker_id=job.worker_id)], now
    ) == [True]
    record = _get(storage, job.id)
    assert record.status is JobStatus.COMPLETE
    assert record.result == b"42"
    assert record.completed_at == now
    assert record.error is None
    assert record.worker_id is None and record.lease_expires_at is None
    assert record.started_at == job.started_at
    assert storage.job_errors(job.id) == []


def test_complete_without_a_result_stores_none(storage: Storage) -> None:
    job = _running(storage)
    assert finish(storage, job, JobStatus.COMPLETE)
    assert _get(storage, job.id).result is None


def test_retry_goes_back_to_pending_with_an_error_row(storage: Storage) -> None:
    job = _running(storage)
    now = now_ms()
    retry_at = now + 5_000
    outcome = Finish(
        job.id,
        job.attempt,
        JobStatus.PENDING,
        error="Traceback: boom",
        retry_at=retry_at,
        worker_id=job.worker_id,
    )
    assert storage.finish_many([outcome], now) == [True]
    record = _get(storage, job.id)
    assert record.status is JobStatus.PENDING
    assert record.retry_count == 1
    assert record.scheduled_at == retry_at
    assert record.started_at is None and record.completed_at is None and record.error is None
    assert record.worker_id is None and record.lease_expires_at is None
    assert record.attempt == job.attempt
    (error,) = storage.job_errors(job.id)
    assert (error.job_id, error.attempt, error.error, error.failed_at) == (
        job.id,
        0,
        "Traceback: boom",
        now,
    )
    assert claim_all(storage, now=now) == []
    (again,) = claim_all(storage, now=retry_at)
    assert again.attempt == job.attempt + 1


def test_retry_clears_a_cancel_request(storage: Storage) -> None:
    job = _running(storage)
    assert storage.request_cancel(job.id)
    assert finish(storage, job, JobStatus.PENDING, error="e", retry_at=now_ms())
    assert _get(storage, job.id).cancel_requested is False


def test_dead_sets_error_and_writes_error_and_dead_letter_rows(storage: Storage) -> None:
    job = _running(
        storage,
        queue="reports",
        priority=4,
        max_retries=0,
        timeout_ms=900,
        metadata='{"m": 1}',
        result_ttl_ms=5_000,
        namespace="ns",
    )
    now = now_ms()
    assert storage.finish_many(
        [Finish(job.id, job.attempt, JobStatus.DEAD, error="fatal", worker_id=job.worker_id)], now
    )
    record = _get(storage, job.id)
    assert record.status is JobStatus.DEAD
    assert record.error == "fatal"
    assert record.completed_at == now
    assert record.worker_id is None and record.lease_expires_at is None
    (error,) = storage.job_errors(job.id)
    assert (error.attempt, error.error) == (0, "fatal")
    (dead,) = storage.dead_letters(10, 0)
    assert dead.original_job_id == job.id
    assert (dead.queue, dead.task_name, dead.payload) == ("reports", job.task_name, job.payload)
    assert (dead.error, dead.retry_count, dead.failed_at) == ("fatal", 0, now)
    assert (dead.metadata, dead.priority, dead.max_retries) == ('{"m": 1}', 4, 0)
    assert (dead.timeout_ms, dead.result_ttl_ms, dead.namespace) == (900, 5_000, "ns")


def test_dead_after_retries_records_the_retry_count(storage: Storage) -> None:
    job = _running(storage, max_retries=1)
    assert finish(storage, job, JobStatus.PENDING, error="first", retry_at=now_ms())
    job = claim_job(storage, job.id)
    assert finish(storage, job, JobStatus.DEAD, error="second")
    assert [(e.attempt, e.error) for e in storage.job_errors(job.id)] == [
        (0, "first"),
        (1, "second"),
    ]
    (dead,) = storage.dead_letters(10, 0)
    assert dead.retry_count == 1


def test_dead_cancels_pending_dependents_transitively(storage: Storage) -> None:
    root = storage.enqueue(make_job())
    child = storage.enqueue(make_job(depends_on=(root.id,)))
    grandchild = storage.enqueue(make_job(depends_on=(child.id,)))
    unrelated = storage.enqueue(make_job(queue="unrelated"))
    running = claim_job(storage, root.id)
    assert finish(storage, running, JobStatus.DEAD, error="fatal")
    child_record = _get(storage, child.id)
    assert child_record.status is JobStatus.CANCELLED
    assert child_record.error == f"dependency failed: {root.id}"
    assert child_record.completed_at is not None
    grandchild_record = _get(storage, grandchild.id)
    assert grandchild_record.status is JobStatus.CANCELLED
    assert grandchild_record.error == f"dependency cancelled: {child.id}"
    assert status_of(storage, unrelated.id) is JobStatus.PENDING
    assert len(storage.dead_letters(10, 0)) == 1


def test_cancelled_outcome_defaults_its_error_and_cascades(storage: Storage) -> None:
    job = _running(storage)
    child = storage.enqueue(make_job(depends_on=(job.id,)))
    assert finish(storage, job, JobStatus.CANCELLED)
    record = _get(storage, job.id)
    assert record.status is JobStatus.CANCELLED
    assert record.error == "cancelled by request"
    assert record.retry_count == 0
    assert storage.job_errors(job.id) == [] and storage.dead_letters(10, 0) == []
    child_record = _get(storage, child.id)
    assert child_record.status is JobStatus.CANCELLED
    assert child_record.error == f"dependency cancelled: {job.id}"


def test_cancelled_outcome_keeps_a_given_error(storage: Storage) -> None:
    job = _running(storage)
    assert finish(storage, job, JobStatus.CANCELLED, error="timed out")
    assert _get(storage, job.id).error == "timed out"


def test_failed_sets_error_and_completed_at(storage: Storage) -> None:
    job = _running(storage)
    assert finish(storage, job, JobStatus.FAILED, error="bad")
    record = _get(storage, job.id)
    assert (record.status, record.error) == (JobStatus.FAILED, "bad")
    assert record.completed_at is not None and record.worker_id is None


def test_a_stale_attempt_is_dropped(storage: Storage) -> None:
    job = _running(storage)
    assert finish(storage, job, JobStatus.PENDING, error="lost", retry_at=now_ms())
    newer = claim_job(storage, job.id, "w2")
    assert newer.attempt == job.attempt + 1
    assert finish(storage, job, JobStatus.COMPLETE, result=b"late") is False
    record = _get(storage, job.id)
    assert record.status is JobStatus.RUNNING and record.result is None
    assert record.worker_id == "w2"
    assert finish(storage, newer, JobStatus.COMPLETE, result=b"fresh")
    assert _get(storage, job.id).result == b"fresh"


def test_finish_of_a_job_that_is_not_running_is_dropped(storage: Storage) -> None:
    pending = storage.enqueue(make_job())
    outcome = Finish(pending.id, 0, JobStatus.COMPLETE, b"x", worker_id="worker-1")
    assert storage.finish_many([outcome], now_ms()) == [False]
    assert status_of(storage, pending.id) is JobStatus.PENDING
    unknown = Finish("no-such-job", 1, JobStatus.DEAD, error="x", worker_id="worker-1")
    assert storage.finish_many([unknown], now_ms()) == [False]
    assert storage.dead_letters(10, 0) == []


def test_finish_is_applied_once(storage: Storage) -> None:
    job = _running(storage)
    outcome = Finish(job.id, job.attempt, JobStatus.DEAD, error="x", worker_id=job.worker_id)
    assert storage.finish_many([outcome, outcome], now_ms()) == [True, False]
    assert len(storage.dead_letters(10, 0)) == 1
    assert len(storage.job_errors(job.id)) == 1


def test_finish_many_applies_a_mixed_batch(storage: Storage) -> None:
    jobs = [_running(storage) for _ in range(4)]
    outcomes = [
        Finish(jobs[0].id, jobs[0].attempt, JobStatus.COMPLETE, b"r", worker_id=jobs[0].worker_id),
        Finish(
            jobs[1].id, jobs[1].attempt + 5, JobStatus.COMPLETE, b"r", worker_id=jobs[1].worker_id
        ),
        Finish(
            jobs[2].id,
            jobs[2].attempt,
            JobStatus.PENDING,
            error="e",
            retry_at=now_ms(),
            worker_id=jobs[2].worker_id,
        ),
        Finish(jobs[3].id, jobs[3].attempt, JobStatus.DEAD, error="d", worker_id=jobs[3].worker_id),
    ]
    assert storage.finish_many(outcomes, now_ms()) == [True, False, True, True]
    assert [status_of(storage, job.id) for job in jobs] == [
        JobStatus.COMPLETE,
        JobStatus.RUNNING,
        JobStatus.PENDING,
        JobStatus.DEAD,
    ]


def test_finish_many_of_nothing_is_nothing(storage: Storage) -> None:
    assert storage.finish_many([], now_ms()) == []


def test_finish_to_running_is_refused_before_anything_is_written(storage: Storage) -> None:
    first = _running(storage)
    second = _running(storage)
    outcomes = [
        Finish(first.id, first.attempt, JobStatus.COMPLETE, b"r", worker_id=first.worker_id),
        Finish(second.id, second.attempt, JobStatus.RUNNING, worker_id=second.worker_id),
    ]
    with pytest.raises(ValueError, match="running"):
        storage.finish_many(outcomes, now_ms())
    assert status_of(storage, first.id) is JobStatus.RUNNING
    assert status_of(storage, second.id) is JobStatus.RUNNING


def test_finish_many_rejects_what_is_not_a_finish(storage: Storage) -> None:
    with pytest.raises(TypeError, match="Finish"):
        storage.finish_many([("id", 1, "complete")], now_ms())  # type: ignore[list-item]


def test_finish_status_must_be_a_job_status(storage: Storage) -> None:
    job = _running(storage)
    with pytest.raises(ValueError, match="cannot finish"):
        storage.finish_many(
            [Finish(job.id, job.attempt, "complete", worker_id=job.worker_id)], now_ms()
        )  # type: ignore[arg-type]
    assert status_of(storage, job.id) is JobStatus.RUNNING
