"""Contract: extend_leases and requeue_expired (rescues: retries kept, a cap, poison pills)."""

from __future__ import annotations

import pytest

from taskito.job import JobRecord, JobStatus, now_ms
from taskito.storage.base import DEFAULT_MAX_RESCUES, Storage, poison_pill_error
from tests.storage.factories import (
    LEASE_MS,
    claim_all,
    finish,
    make_job,
    start_job,
)


def _get(storage: Storage, job_id: str) -> JobRecord:
    record = storage.get_job(job_id)
    assert record is not None
    return record


def test_extend_leases_pushes_only_the_owners_running_jobs(storage: Storage) -> None:
    mine = start_job(storage, "w1")
    also_mine = start_job(storage, "w1")
    theirs = start_job(storage, "w2")
    done = start_job(storage, "w1")
    assert finish(storage, done, JobStatus.COMPLETE)
    later = now_ms() + 10_000
    held = storage.extend_leases(
        "w1", [mine.id, also_mine.id, theirs.id, done.id, "unknown"], later, 5_000
    )
    assert held == {mine.id, also_mine.id}
    assert _get(storage, mine.id).lease_expires_at == later + 5_000
    assert _get(storage, theirs.id).lease_expires_at == theirs.lease_expires_at
    assert _get(storage, done.id).lease_expires_at is None


def test_extend_leases_of_nothing(storage: Storage) -> None:
    assert storage.extend_leases("w1", [], now_ms(), 5_000) == set()


def test_requeue_expired_rescues_expired_jobs_without_spending_a_retry(storage: Storage) -> None:
    job = start_job(storage, "w-dead", max_retries=0)
    fresh = start_job(storage, "w-live")
    assert job.lease_expires_at is not None
    now = job.lease_expires_at + 1
    assert fresh.lease_expires_at is not None and fresh.lease_expires_at >= job.lease_expires_at
    storage.extend_leases("w-live", [fresh.id], now, LEASE_MS)
    requeued = storage.requeue_expired(now)
    assert requeued == [job]
    record = _get(storage, job.id)
    assert record.status is JobStatus.PENDING
    assert (record.retry_count, record.rescue_count) == (0, 1)
    assert record.scheduled_at == now
    assert record.worker_id is None and record.lease_expires_at is None
    assert record.started_at is None and record.error is None
    (error,) = storage.job_errors(job.id)
    assert (error.attempt, error.error, error.failed_at) == (
        0,
        "rescued: worker w-dead stopped renewing its lease",
        now,
    )
    assert _get(storage, fresh.id).status is JobStatus.RUNNING
    assert storage.requeue_expired(now) == []
    (again,) = storage.claim("w-new", [job.queue], None, 10, now, LEASE_MS)
    assert again.attempt == job.attempt + 1
    assert (again.retry_count, again.rescue_count) == (0, 1)


def test_lease_not_yet_expired_is_left_alone(storage: Storage) -> None:
    job = start_job(storage)
    assert job.lease_expires_at is not None
    assert storage.requeue_expired(job.lease_expires_at) == []
    assert _get(storage, job.id).status is JobStatus.RUNNING


def test_requeue_expired_dead_letters_a_poison_pill_after_max_rescues(storage: Storage) -> None:
    job = start_job(storage, "w-dead", max_retries=3)
    dependent = storage.enqueue(make_job(depends_on=(job.id,)))
    for rescue in range(2):
        assert job.lease_expires_at is not None
        now = job.lease_expires_at + 1
        assert storage.requeue_expired(now, max_rescues=2) == [job]
        assert _get(storage, job.id).rescue_count == rescue + 1
        (job,) = storage.claim(f"w-{rescue}", [job.queue], None, 1, now, LEASE_MS)
    assert job.lease_expires_at is not None
    now = job.lease_expires_at + 1
    assert storage.requeue_expired(now, max_rescues=2) == [job]
    record = _get(storage, job.id)
    assert record.status is JobStatus.DEAD
    assert (record.retry_count, record.rescue_count) == (0, 2)
    assert record.error == poison_pill_error(2)
    assert record.error == "poison pill: rescued 2 times (its worker kept dying while running it)"
    assert record.completed_at == now
    (letter,) = storage.dead_letters(10, 0)
    assert (letter.original_job_id, letter.error, letter.retry_count) == (job.id, record.error, 0)
    assert [e.error for e in storage.job_errors(job.id)] == [
        "rescued: worker w-dead stopped renewing its lease",
        "rescued: worker w-0 stopped renewing its lease",
        record.error,
    ]
    dependent_record = _get(storage, dependent.id)
    assert dependent_record.status is JobStatus.CANCELLED
    assert dependent_record.error == f"dependency failed: {job.id}"


def test_requeue_expired_defaults_to_five_rescues(storage: Storage) -> None:
    job = start_job(storage, "w-dead")
    for _ in range(DEFAULT_MAX_RESCUES):
        assert job.lease_expires_at is not None
        now = job.lease_expires_at + 1
        storage.requeue_expired(now)
        (job,) = storage.claim("w-next", [job.queue], None, 1, now, LEASE_MS)
    assert job.lease_expires_at is not None
    storage.requeue_expired(job.lease_expires_at + 1)
    record = _get(storage, job.id)
    assert (record.status, record.rescue_count) == (JobStatus.DEAD, 5)


def test_requeue_expired_rejects_a_bad_cap(storage: Storage) -> None:
    for bad in (-1, 1.5, True, None):
        with pytest.raises((TypeError, ValueError)):
            storage.requeue_expired(now_ms(), max_rescues=bad)  # type: ignore[arg-type]


def test_a_late_finish_after_requeue_is_dropped(storage: Storage) -> None:
    job = start_job(storage, "w-slow", max_retries=3)
    assert job.lease_expires_at is not None
    storage.requeue_expired(job.lease_expires_at + 1)
    assert finish(storage, job, JobStatus.COMPLETE, result=b"late") is False
    assert _get(storage, job.id).status is JobStatus.PENDING


def test_requeue_keeps_the_cancel_request(storage: Storage) -> None:
    job = start_job(storage, max_retries=3)
    assert storage.request_cancel(job.id)
    assert job.lease_expires_at is not None
    storage.requeue_expired(job.lease_expires_at + 1)
    assert _get(storage, job.id).cancel_requested is True


def test_requeue_expired_of_many_jobs(storage: Storage) -> None:
    storage.enqueue_many([make_job(max_retries=1) for _ in range(20)])
    claimed = claim_all(storage, "w-gone")
    assert len(claimed) == 20
    expiry = max(job.lease_expires_at or 0 for job in claimed)
    assert len(storage.requeue_expired(expiry + 1)) == 20
    assert storage.count_jobs()[JobStatus.PENDING] == 20


def test_extend_leases_rejects_a_bad_lease(storage: Storage) -> None:
    job = start_job(storage)
    with pytest.raises(ValueError, match="lease_ms"):
        storage.extend_leases(job.worker_id or "", [job.id], now_ms(), 0)
    assert _get(storage, job.id).lease_expires_at == job.lease_expires_at
