"""Contract: release_jobs (a worker's jobs rescued at once) and the (worker_id, attempt) fence
of finish_many and defer_many."""

from __future__ import annotations

import pytest

from taskito.job import JobRecord, JobStatus, now_ms
from taskito.storage.base import Finish, Storage, poison_pill_error
from taskito.storage.control import Deferral
from tests.storage.factories import LEASE_MS, claim_all, finish, make_job, start_job

REASON = "rescued: worker w-dead died"


def _get(storage: Storage, job_id: str) -> JobRecord:
    record = storage.get_job(job_id)
    assert record is not None
    return record


def test_release_rescues_every_running_job_of_the_worker(storage: Storage) -> None:
    first = start_job(storage, "w-dead", max_retries=0)
    second = start_job(storage, "w-dead", max_retries=0)
    theirs = start_job(storage, "w-live")
    done = start_job(storage, "w-dead")
    assert finish(storage, done, JobStatus.COMPLETE)
    now = now_ms()
    released = storage.release_jobs("w-dead", (), now, 5, REASON)
    assert sorted(job.id for job in released) == sorted([first.id, second.id])
    assert {job.id: job for job in released}[first.id] == first  # as it was before
    for job in (first, second):
        record = _get(storage, job.id)
        assert record.status is JobStatus.PENDING
        assert (record.retry_count, record.rescue_count) == (0, 1)
        assert record.worker_id is None and record.lease_expires_at is None
        assert record.started_at is None and record.scheduled_at == now
        (error,) = storage.job_errors(job.id)
        assert (error.attempt, error.error, error.failed_at) == (0, REASON, now)
    assert _get(storage, theirs.id).status is JobStatus.RUNNING
    assert _get(storage, done.id).status is JobStatus.COMPLETE
    assert storage.release_jobs("w-dead", (), now, 5, REASON) == []


def test_release_keeps_the_jobs_the_worker_holds(storage: Storage) -> None:
    storage.enqueue_many([make_job(queue="lost") for _ in range(3)])
    claimed = claim_all(storage, "w-me")
    assert len(claimed) == 3
    held = claimed[0]
    released = storage.release_jobs("w-me", [held.id, "unknown"], now_ms(), 5, REASON)
    assert sorted(job.id for job in released) == sorted(job.id for job in claimed[1:])
    assert _get(storage, held.id).status is JobStatus.RUNNING
    assert storage.count_jobs()[JobStatus.PENDING] == 2
    assert finish(storage, held, JobStatus.COMPLETE)


def test_a_late_finish_after_a_release_is_dropped(storage: Storage) -> None:
    job = start_job(storage, "w-gone")
    storage.release_jobs("w-gone", (), now_ms(), 5, REASON)
    assert finish(storage, job, JobStatus.COMPLETE, result=b"late") is False
    assert _get(storage, job.id).status is JobStatus.PENDING


def test_release_keeps_the_cancel_request(storage: Storage) -> None:
    job = start_job(storage, "w-gone")
    assert storage.request_cancel(job.id)
    storage.release_jobs("w-gone", (), now_ms(), 5, REASON)
    assert _get(storage, job.id).cancel_requested is True


def test_release_dead_letters_a_poison_pill(storage: Storage) -> None:
    job = start_job(storage, "w-0", max_retries=2)
    dependent = storage.enqueue(make_job(depends_on=(job.id,)))
    for rescue in range(3):
        now = now_ms()
        assert [r.id for r in storage.release_jobs(f"w-{rescue}", (), now, 3, REASON)] == [job.id]
        assert _get(storage, job.id).rescue_count == rescue + 1
        (job,) = storage.claim(f"w-{rescue + 1}", [job.queue], None, 1, now, LEASE_MS)
    (before,) = storage.release_jobs("w-3", (), now_ms(), 3, REASON)
    assert before.rescue_count == 3
    record = _get(storage, job.id)
    assert record.status is JobStatus.DEAD
    assert (record.retry_count, record.rescue_count) == (0, 3)
    assert record.error == poison_pill_error(3)
    (letter,) = storage.dead_letters(10, 0)
    assert (letter.original_job_id, letter.error) == (job.id, record.error)
    assert [e.error for e in storage.job_errors(job.id)] == [REASON] * 3 + [record.error]
    assert _get(storage, dependent.id).status is JobStatus.CANCELLED
    assert _get(storage, dependent.id).error == f"dependency failed: {job.id}"


def test_release_with_no_rescues_allowed_dead_letters_at_once(storage: Storage) -> None:
    jobs = [start_job(storage, "w-x") for _ in range(6)]  # more than the spare dead ids
    assert len(storage.release_jobs("w-x", (), now_ms(), 0, REASON)) == 6
    for job in jobs:
        assert _get(storage, job.id).error == poison_pill_error(0)
    assert len(storage.dead_letters(10, 0)) == 6


def test_release_rejects_bad_arguments(storage: Storage) -> None:
    job = start_job(storage, "w-x")
    bad_calls = [
        ("", (), 5, REASON),
        (None, (), 5, REASON),
        ("w-x", "abc", 5, REASON),
        ("w-x", [1], 5, REASON),
        ("w-x", (), -1, REASON),
        ("w-x", (), True, REASON),
        ("w-x", (), 5, ""),
        ("w-x", (), 5, None),
    ]
    for worker_id, keep, cap, reason in bad_calls:
        with pytest.raises((TypeError, ValueError)):
            storage.release_jobs(worker_id, keep, now_ms(), cap, reason)  # type: ignore[arg-type]
    assert _get(storage, job.id).status is JobStatus.RUNNING


def test_finish_is_fenced_by_the_worker_too(storage: Storage) -> None:
    job = start_job(storage, "w-owner")
    assert job.worker_id == "w-owner"
    other = Finish(job.id, job.attempt, JobStatus.COMPLETE, b"x", worker_id="w-other")
    assert storage.finish_many([other], now_ms()) == [False]
    assert _get(storage, job.id).status is JobStatus.RUNNING
    assert finish(storage, job, JobStatus.COMPLETE, result=b"mine")
    assert _get(storage, job.id).result == b"mine"


def test_a_repeated_attempt_number_of_another_worker_is_not_applied(storage: Storage) -> None:
    """docs/architecture.md, invariant 3: attempt numbers repeat when a crash rolls back a claim;
    here the same attempt number is reached again by another worker after a deferral."""
    job = start_job(storage, "w-first")
    until = now_ms()
    deferral = Deferral(job.id, job.attempt, until, worker_id="w-first")
    assert storage.defer_many([deferral], until) == [True]
    (again,) = storage.claim("w-second", [job.queue], None, 1, until, LEASE_MS)
    assert again.attempt == job.attempt + 1
    # Forge the old worker's outcome under the new attempt number: still not applied.
    forged = Finish(job.id, again.attempt, JobStatus.DEAD, error="stale", worker_id="w-first")
    assert storage.finish_many([forged], now_ms()) == [False]
    stale_defer = Deferral(job.id, again.attempt, until, worker_id="w-first")
    assert storage.defer_many([stale_defer], now_ms()) == [False]
    assert _get(storage, job.id).status is JobStatus.RUNNING
    assert storage.dead_letters(10, 0) == []
    assert finish(storage, again, JobStatus.COMPLETE)


def test_finish_rejects_a_missing_worker_id(storage: Storage) -> None:
    job = start_job(storage)
    for bad in ("", None):
        outcome = Finish(job.id, job.attempt, JobStatus.COMPLETE, worker_id=bad)  # type: ignore[arg-type]
        with pytest.raises((TypeError, ValueError)):
            storage.finish_many([outcome], now_ms())
        deferral = Deferral(job.id, job.attempt, now_ms(), worker_id=bad)  # type: ignore[arg-type]
        with pytest.raises((TypeError, ValueError)):
            storage.defer_many([deferral], now_ms())
    with pytest.raises(TypeError):
        Finish(job.id, job.attempt, JobStatus.COMPLETE)  # type: ignore[call-arg]
    assert _get(storage, job.id).status is JobStatus.RUNNING
