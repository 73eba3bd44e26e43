"""Contract: the limits checked right after claim (take_rate_slot, running_ids, defer_many)."""

from __future__ import annotations

import pytest

from taskito.job import JobRecord, JobStatus, now_ms
from taskito.storage.base import Storage
from taskito.storage.control import Deferral
from tests.storage.factories import (
    LEASE_MS,
    Backend,
    claim_all,
    claim_job,
    finish,
    make_job,
    open_storages,
    race,
    start_at,
    start_job,
    status_of,
)


def _get(storage: Storage, job_id: str) -> JobRecord:
    record = storage.get_job(job_id)
    assert record is not None
    return record


# --- take_rate_slot ----------------------------------------------------------------------


def test_rate_slots_are_evenly_spaced(storage: Storage) -> None:
    now = now_ms()
    assert storage.take_rate_slot("task:send", 1_000, now) is None
    assert storage.take_rate_slot("task:send", 1_000, now) == now + 1_000
    assert storage.take_rate_slot("task:send", 1_000, now + 999) == now + 1_000
    assert storage.take_rate_slot("task:send", 1_000, now + 1_000) is None
    assert storage.take_rate_slot("task:send", 1_000, now + 1_000) == now + 2_000


def test_a_refused_rate_slot_changes_nothing(storage: Storage) -> None:
    now = now_ms()
    assert storage.take_rate_slot("k", 500, now) is None
    for offset in (1, 100, 250, 499):
        assert storage.take_rate_slot("k", 500, now + offset) == now + 500
    assert storage.take_rate_slot("k", 5_000, now + 499) == now + 500
    assert storage.take_rate_slot("k", 500, now + 500) is None


def test_a_new_rate_key_is_free_from_time_zero(storage: Storage) -> None:
    assert storage.take_rate_slot("fresh", 10, 0) is None
    assert storage.take_rate_slot("fresh", 10, 0) == 10
    assert storage.take_rate_slot("other", 10, 3) is None


def test_rate_slots_allow_no_burst_after_idle_time(storage: Storage) -> None:
    now = now_ms()
    assert storage.take_rate_slot("k", 100, now) is None
    later = now + 60_000
    assert storage.take_rate_slot("k", 100, later) is None
    assert storage.take_rate_slot("k", 100, later) == later + 100


def test_the_taking_call_sets_the_interval(storage: Storage) -> None:
    now = now_ms()
    assert storage.take_rate_slot("k", 1_000, now) is None
    assert storage.take_rate_slot("k", 50, now + 1_000) is None
    assert storage.take_rate_slot("k", 50, now + 1_010) == now + 1_050


def test_rate_keys_are_independent(storage: Storage) -> None:
    now = now_ms()
    assert storage.take_rate_slot("task:a", 1_000, now) is None
    assert storage.take_rate_slot("task:b", 1_000, now) is None
    assert storage.take_rate_slot("queue:a", 1_000, now) is None
    assert storage.take_rate_slot("task:a", 1_000, now + 1) == now + 1_000


@pytest.mark.parametrize(
    ("key", "interval_ms"), [("k", 0), ("k", -1_000), ("k", 1.5), ("", 1_000), (None, 1_000)]
)
def test_take_rate_slot_rejects_bad_input(
    storage: Storage, key: object, interval_ms: object
) -> None:
    now = now_ms()
    assert storage.take_rate_slot("k", 1_000, now) is None
    with pytest.raises((ValueError, TypeError)):
        storage.take_rate_slot(key, interval_ms, now + 5_000)  # type: ignore[arg-type]
    assert storage.take_rate_slot("k", 1_000, now + 1) == now + 1_000


def test_rate_slot_is_shared_by_two_storage_objects(
    backend_storage_pair: tuple[Storage, Storage],
) -> None:
    one, two = backend_storage_pair
    now = now_ms()
    assert one.take_rate_slot("shared", 2_000, now) is None
    assert two.take_rate_slot("shared", 2_000, now + 10) == now + 2_000
    assert two.take_rate_slot("shared", 2_000, now + 2_000) is None
    assert one.take_rate_slot("shared", 2_000, now + 2_001) == now + 4_000


def test_racing_storages_get_one_rate_slot_each_time(backend: Backend) -> None:
    storages = open_storages(backend, 4)
    start = now_ms()
    for round_index in range(5):
        at = start + round_index * 1_000

        def take(storage: Storage, at: int = at) -> int | None:
            return storage.take_rate_slot("hot", 1_000, at)

        results = race(storages, take)
        assert results.count(None) == 1, f"round {round_index}: {results}"
        assert sorted(r for r in results if r is not None) == [at + 1_000] * 3


# --- running_ids -------------------------------------------------------------------------


def test_running_ids_order_by_started_at_then_id(storage: Storage) -> None:
    base = now_ms() - 10_000
    late = start_at(storage, base + 300)
    early = start_at(storage, base + 100)
    tie_a = start_at(storage, base + 200)
    tie_b = start_at(storage, base + 200)
    expected = sorted([late, early, tie_a, tie_b], key=lambda job: (job.started_at, job.id))
    assert storage.running_ids(None, None) == [job.id for job in expected]


def test_running_ids_filter_by_task_and_queue(storage: Storage) -> None:
    base = now_ms() - 10_000
    a_mail = start_at(storage, base + 1, task_name="a", queue="mail")
    b_mail = start_at(storage, base + 2, task_name="b", queue="mail")
    a_web = start_at(storage, base + 3, task_name="a", queue="web")
    assert storage.running_ids("a", None) == [a_mail.id, a_web.id]
    assert storage.running_ids(None, "mail") == [a_mail.id, b_mail.id]
    assert storage.running_ids("a", "web") == [a_web.id]
    assert storage.running_ids("b", "web") == []
    assert storage.running_ids("c", None) == []


def test_running_ids_leave_out_jobs_that_are_not_running(storage: Storage) -> None:
    pending = storage.enqueue(make_job(queue="other"))
    done = start_job(storage)
    assert finish(storage, done, JobStatus.COMPLETE)
    retrying = start_job(storage)
    assert finish(storage, retrying, JobStatus.PENDING, error="e", retry_at=now_ms() + 60_000)
    running = start_job(storage)
    assert storage.running_ids(None, None) == [running.id]
    assert pending.id not in storage.running_ids(None, "other")


def test_running_ids_of_an_empty_database(storage: Storage) -> None:
    assert storage.running_ids(None, None) == []


# --- defer_many --------------------------------------------------------------------------


def test_defer_puts_a_running_job_back_until_a_time(storage: Storage) -> None:
    job = start_job(storage)
    now = now_ms()
    until = now + 5_000
    assert storage.defer_many(
        [Deferral(job.id, job.attempt, until, worker_id=job.worker_id)], now
    ) == [True]
    record = _get(storage, job.id)
    assert record.status is JobStatus.PENDING
    assert record.scheduled_at == until
    assert record.started_at is None
    assert record.worker_id is None and record.lease_expires_at is None
    assert (record.retry_count, record.error, record.completed_at) == (0, None, None)
    assert storage.job_errors(job.id) == [] and storage.dead_letters(10, 0) == []
    assert storage.running_ids(None, None) == []
    assert storage.claim("w", [job.queue], None, 10, until - 1, LEASE_MS) == []
    (again,) = storage.claim("w", [job.queue], None, 10, until, LEASE_MS)
    assert again.id == job.id and again.attempt == job.attempt + 1


def test_defer_keeps_the_retry_count_and_error_rows(storage: Storage) -> None:
    job = start_job(storage, max_retries=1)
    assert finish(storage, job, JobStatus.PENDING, error="flaky", retry_at=now_ms())
    job = claim_job(storage, job.id)
    before = _get(storage, job.id)
    assert storage.defer_many(
        [Deferral(job.id, job.attempt, now_ms() + 1_000, worker_id=job.worker_id)], now_ms()
    ) == [True]
    record = _get(storage, job.id)
    assert (record.retry_count, record.error) == (before.retry_count, before.error) == (1, None)
    assert (record.max_retries, record.payload, record.priority) == (1, job.payload, job.priority)
    assert [(e.attempt, e.error) for e in storage.job_errors(job.id)] == [(0, "flaky")]


def test_defer_is_fenced_by_the_attempt(storage: Storage) -> None:
    job = start_job(storage)
    stale = Deferral(job.id, job.attempt - 1, now_ms() + 1_000, worker_id=job.worker_id)
    ahead = Deferral(job.id, job.attempt + 1, now_ms() + 1_000, worker_id=job.worker_id)
    assert storage.defer_many([stale, ahead], now_ms()) == [False, False]
    assert _get(storage, job.id) == job


def test_defer_of_a_job_that_is_not_running_is_false(storage: Storage) -> None:
    pending = storage.enqueue(make_job(queue="waiting"))
    done = start_job(storage)
    assert finish(storage, done, JobStatus.COMPLETE, result=b"r")
    done_record = _get(storage, done.id)
    deferrals = [
        Deferral(pending.id, 0, now_ms() + 1_000, worker_id="worker-1"),
        Deferral(done.id, done.attempt, now_ms() + 1_000, worker_id="worker-1"),
        Deferral("no-such-job", 1, now_ms() + 1_000, worker_id="worker-1"),
    ]
    assert storage.defer_many(deferrals, now_ms()) == [False, False, False]
    assert _get(storage, pending.id) == pending
    assert _get(storage, done.id) == done_record


def test_defer_many_applies_a_mixed_batch_once(storage: Storage) -> None:
    first, second = start_job(storage), start_job(storage)
    until = now_ms() + 1_000
    deferrals = [
        Deferral(first.id, first.attempt, until, worker_id=first.worker_id),
        Deferral(second.id, second.attempt + 3, until, worker_id=second.worker_id),
        Deferral(first.id, first.attempt, until + 5, worker_id=first.worker_id),
    ]
    assert storage.defer_many(deferrals, now_ms()) == [True, False, False]
    assert _get(storage, first.id).scheduled_at == until
    assert status_of(storage, second.id) is JobStatus.RUNNING


def test_a_deferred_job_is_not_requeued_as_an_expired_lease(storage: Storage) -> None:
    job = start_job(storage)
    now = now_ms()
    assert storage.defer_many(
        [Deferral(job.id, job.attempt, now + 1_000, worker_id=job.worker_id)], now
    ) == [True]
    assert storage.requeue_expired(now + LEASE_MS * 10) == []
    assert _get(storage, job.id).retry_count == 0


def test_defer_many_of_nothing_is_nothing(storage: Storage) -> None:
    assert storage.defer_many([], now_ms()) == []


def test_defer_many_rejects_what_is_not_a_deferral(storage: Storage) -> None:
    job = start_job(storage)
    with pytest.raises(TypeError):
        storage.defer_many(
            [
                Deferral(job.id, job.attempt, now_ms(), worker_id=job.worker_id),
                (job.id, job.attempt, now_ms()),
            ],  # type: ignore[list-item]
            now_ms(),
        )
    assert _get(storage, job.id) == job
    assert claim_all(storage) == []
