"""Contract: finish_and_claim (the worker's cycle: outcomes written, then due jobs claimed, in
one call), the same rules as finish_many and claim apart."""

from __future__ import annotations

import pytest

from taskito.job import JobStatus, now_ms
from taskito.storage.base import Finish, Storage
from tests.storage.factories import LEASE_MS, claim_all, make_job, start_job, status_of


def _complete(job_id: str, attempt: int, worker_id: str | None) -> Finish:
    return Finish(job_id, attempt, JobStatus.COMPLETE, b"done", worker_id=worker_id)


def test_it_writes_the_outcomes_and_claims_due_jobs(storage: Storage) -> None:
    queue = "cycle"
    running = start_job(storage, queue=queue)
    waiting = [storage.enqueue(make_job(queue=queue)) for _ in range(3)]
    now = now_ms()
    applied, claimed = storage.finish_and_claim(
        [_complete(running.id, running.attempt, running.worker_id)],
        "worker-1",
        [queue],
        None,
        2,
        now,
        LEASE_MS,
    )
    assert applied == [True]
    record = storage.get_job(running.id)
    assert record is not None and record.status is JobStatus.COMPLETE and record.result == b"done"
    assert [job.id for job in claimed] == [job.id for job in waiting[:2]]
    for job in claimed:
        assert job.status is JobStatus.RUNNING and job.worker_id == "worker-1"
        assert job.attempt == 1 and job.started_at == now
        assert job.lease_expires_at == now + LEASE_MS
    assert status_of(storage, waiting[2].id) is JobStatus.PENDING


def test_a_stale_outcome_is_dropped_and_the_claim_still_happens(storage: Storage) -> None:
    queue = "stale"
    running = start_job(storage, queue=queue)
    waiting = storage.enqueue(make_job(queue=queue))
    applied, claimed = storage.finish_and_claim(
        [_complete(running.id, running.attempt + 1, running.worker_id)],
        "worker-1",
        [queue],
        None,
        5,
        now_ms(),
        LEASE_MS,
    )
    assert applied == [False]
    assert status_of(storage, running.id) is JobStatus.RUNNING
    assert [job.id for job in claimed] == [waiting.id]


def test_an_outcome_of_another_worker_is_dropped(storage: Storage) -> None:
    running = start_job(storage, worker_id="worker-a")
    applied, _ = storage.finish_and_claim(
        [_complete(running.id, running.attempt, "worker-b")],
        "worker-b",
        [running.queue],
        None,
        1,
        now_ms(),
        LEASE_MS,
    )
    assert applied == [False]
    assert status_of(storage, running.id) is JobStatus.RUNNING


def test_a_limit_of_zero_only_writes_the_outcomes(storage: Storage) -> None:
    queue = "no-slots"
    running = start_job(storage, queue=queue)
    waiting = storage.enqueue(make_job(queue=queue))
    applied, claimed = storage.finish_and_claim(
        [_complete(running.id, running.attempt, running.worker_id)],
        "worker-1",
        [queue],
        None,
        0,
        now_ms(),
        LEASE_MS,
    )
    assert (applied, claimed) == ([True], [])
    assert status_of(storage, waiting.id) is JobStatus.PENDING


def test_no_outcomes_is_a_plain_claim(storage: Storage) -> None:
    queue = "claim-only"
    waiting = storage.enqueue(make_job(queue=queue))
    applied, claimed = storage.finish_and_claim(
        [], "worker-1", [queue], None, 3, now_ms(), LEASE_MS
    )
    assert applied == []
    assert [job.id for job in claimed] == [waiting.id]


def test_a_retry_due_now_is_claimable_at_once(storage: Storage) -> None:
    running = start_job(storage)
    now = now_ms()
    retry = Finish(
        running.id,
        running.attempt,
        JobStatus.PENDING,
        error="boom",
        retry_at=now,
        worker_id=running.worker_id,
    )
    applied, claimed = storage.finish_and_claim(
        [retry], "worker-1", [running.queue], None, 1, now, LEASE_MS
    )
    assert applied == [True]
    # Claimed by this call, or (a backend whose one statement reads the snapshot taken before
    # the outcomes) by the next one.
    (again,) = claimed or claim_all(storage, now=now)
    assert again.id == running.id and again.attempt == running.attempt + 1
    assert again.retry_count == 1


def test_bad_arguments_are_refused_before_anything_is_written(storage: Storage) -> None:
    running = start_job(storage)
    outcome = _complete(running.id, running.attempt, running.worker_id)
    with pytest.raises(ValueError, match="lease_ms"):
        storage.finish_and_claim([outcome], "worker-1", None, None, 1, now_ms(), 0)
    with pytest.raises(ValueError, match="limit"):
        storage.finish_and_claim([outcome], "worker-1", None, None, -1, now_ms(), LEASE_MS)
    with pytest.raises(TypeError):
        storage.finish_and_claim(["not a finish"], "worker-1", None, None, 1, now_ms(), LEASE_MS)  # type: ignore[list-item]
    assert status_of(storage, running.id) is JobStatus.RUNNING
