"""Contract: enqueue and enqueue_many (unique keys, dependencies, all-or-nothing batches)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from taskito.exceptions import DependencyError, StorageError, UniqueConflictError
from taskito.ids import new_job_ids
from taskito.job import JobBatch, JobRecord, JobStatus, now_ms
from taskito.storage.base import Storage
from tests.storage.factories import claim_job, finish, make_job, start_job


def test_enqueue_returns_the_stored_record(storage: Storage) -> None:
    job = make_job(
        queue="emails",
        priority=7,
        metadata='{"k": 1}',
        timeout_ms=1500,
        expires_at=10**13,
        result_ttl_ms=60_000,
        namespace="tenant-a",
        unique_key="u-1",
    )
    record = storage.enqueue(job)
    assert record == JobRecord.from_new(job)
    assert storage.get_job(job.id) == record
    assert record.status is JobStatus.PENDING
    assert record.retry_count == 0 and record.attempt == 0


def test_payload_bytes_round_trip_unchanged(storage: Storage) -> None:
    payload = bytes(range(256)) * 10
    job = make_job(payload=payload)
    storage.enqueue(job)
    stored = storage.get_job(job.id)
    assert stored is not None and stored.payload == payload


def test_get_job_of_unknown_id_is_none(storage: Storage) -> None:
    assert storage.get_job("no-such-job") is None


def test_enqueue_of_a_duplicate_id_fails_and_keeps_the_first(storage: Storage) -> None:
    first = make_job(task_name="first")
    storage.enqueue(first)
    with pytest.raises(StorageError):
        storage.enqueue(make_job(id=first.id, task_name="second"))
    stored = storage.get_job(first.id)
    assert stored is not None and stored.task_name == "first"


def test_enqueue_rejects_what_is_not_a_new_job(storage: Storage) -> None:
    with pytest.raises(TypeError, match="NewJob"):
        storage.enqueue({"id": "x"})  # type: ignore[arg-type]


def test_unique_key_returns_the_active_job(storage: Storage) -> None:
    first = storage.enqueue(make_job(unique_key="report"))
    second = storage.enqueue(make_job(unique_key="report", task_name="other"))
    assert second.id == first.id
    assert second.task_name == first.task_name
    assert storage.count_jobs()[JobStatus.PENDING] == 1


def test_unique_key_still_held_while_running(storage: Storage) -> None:
    first = storage.enqueue(make_job(unique_key="report"))
    claim_job(storage, first.id)
    again = storage.enqueue(make_job(unique_key="report"))
    assert again.id == first.id
    assert again.status is JobStatus.RUNNING


@pytest.mark.parametrize("outcome", [JobStatus.COMPLETE, JobStatus.DEAD, JobStatus.CANCELLED])
def test_unique_key_is_free_again_once_the_job_finished(
    storage: Storage, outcome: JobStatus
) -> None:
    first = storage.enqueue(make_job(unique_key="report"))
    assert finish(storage, claim_job(storage, first.id), outcome, error="x")
    again = storage.enqueue(make_job(unique_key="report"))
    assert again.id != first.id
    assert again.status is JobStatus.PENDING


def test_unique_key_concurrent_producers_insert_one_job(storage: Storage) -> None:
    producers = 8
    barrier = threading.Barrier(producers)
    results: list[JobRecord] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def produce() -> None:
        try:
            barrier.wait(timeout=10)
            record = storage.enqueue(make_job(unique_key="only-once"))
            with lock:
                results.append(record)
        except BaseException as exc:
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=produce) for _ in range(producers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert len(results) == producers
    assert len({record.id for record in results}) == 1
    assert storage.count_jobs()[JobStatus.PENDING] == 1


def test_unique_key_across_two_storage_objects(
    backend_storage_pair: tuple[Storage, Storage],
) -> None:
    one, two = backend_storage_pair
    first = one.enqueue(make_job(unique_key="shared"))
    second = two.enqueue(make_job(unique_key="shared"))
    assert second.id == first.id


def test_dependencies_are_recorded_both_ways(storage: Storage) -> None:
    parent_a = storage.enqueue(make_job())
    parent_b = storage.enqueue(make_job())
    child = storage.enqueue(make_job(depends_on=(parent_a.id, parent_b.id)))
    assert storage.dependencies(child.id) == [parent_a.id, parent_b.id]
    assert storage.dependents(parent_a.id) == [child.id]
    assert storage.dependents(child.id) == []
    assert storage.dependencies(parent_a.id) == []


def test_repeated_dependency_is_recorded_once(storage: Storage) -> None:
    parent = storage.enqueue(make_job())
    child = storage.enqueue(make_job(depends_on=(parent.id, parent.id)))
    assert storage.dependencies(child.id) == [parent.id]


def test_dependency_on_a_running_or_complete_job_is_accepted(storage: Storage) -> None:
    running = start_job(storage)
    done = start_job(storage)
    assert finish(storage, done, JobStatus.COMPLETE)
    child = storage.enqueue(make_job(depends_on=(running.id, done.id)))
    assert storage.dependencies(child.id) == [running.id, done.id]


def test_unknown_dependency_raises_and_stores_nothing(storage: Storage) -> None:
    parent = storage.enqueue(make_job())
    job = make_job(depends_on=(parent.id, "missing-id"))
    with pytest.raises(DependencyError, match="missing-id"):
        storage.enqueue(job)
    assert storage.get_job(job.id) is None
    assert storage.dependents(parent.id) == []


def test_dependency_error_is_a_runtime_error(storage: Storage) -> None:
    with pytest.raises(RuntimeError, match="dependency not found or already dead/cancelled"):
        storage.enqueue(make_job(depends_on=("missing",)))


@pytest.mark.parametrize("outcome", [JobStatus.DEAD, JobStatus.CANCELLED])
def test_dependency_on_a_dead_or_cancelled_job_is_refused(
    storage: Storage, outcome: JobStatus
) -> None:
    parent = start_job(storage)
    assert finish(storage, parent, outcome, error="boom")
    job = make_job(depends_on=(parent.id,))
    with pytest.raises(DependencyError, match=parent.id):
        storage.enqueue(job)
    assert storage.get_job(job.id) is None


def test_self_dependency_is_refused(storage: Storage) -> None:
    job = make_job()
    job = make_job(id=job.id, depends_on=(job.id,))
    with pytest.raises(DependencyError):
        storage.enqueue(job)
    assert storage.get_job(job.id) is None


def test_enqueue_many_inserts_every_job(storage: Storage) -> None:
    jobs = [make_job(priority=i, queue=f"q{i % 2}") for i in range(50)]
    records = storage.enqueue_many(jobs)
    assert records == [JobRecord.from_new(job) for job in jobs]
    for job in jobs:
        assert storage.get_job(job.id) == JobRecord.from_new(job)


def test_enqueue_many_of_nothing_is_nothing(storage: Storage) -> None:
    assert storage.enqueue_many([]) == []


def make_batch(count: int, **overrides: Any) -> JobBatch:
    now = now_ms()
    fields: dict[str, Any] = {
        "ids": new_job_ids(count),
        "payloads": [f"payload {n}".encode() for n in range(count)],
        "queue": "default",
        "task_name": "tests.add",
        "priority": 0,
        "created_at": now,
        "scheduled_at": now,
        "max_retries": 3,
        "timeout_ms": None,
    }
    fields.update(overrides)
    return JobBatch(**fields)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {
            "queue": "q2",
            "priority": -4,
            "timeout_ms": 2500,
            "metadata": '{"k": 1}',
            "expires_at": 10**13,
            "result_ttl_ms": 60_000,
            "namespace": "tenant-a",
        },
    ],
)
def test_enqueue_batch_stores_the_jobs_of_its_columns(
    storage: Storage, options: dict[str, Any]
) -> None:
    batch = make_batch(40, **options)
    storage.enqueue_batch(batch)
    expected = [JobRecord.from_new(job) for job in batch.jobs()]
    assert [batch.record(index) for index in range(40)] == expected
    assert [storage.get_job(job_id) for job_id in batch.ids] == expected
    assert storage.count_jobs()[JobStatus.PENDING] == 40


def test_enqueue_batch_of_nothing_is_nothing(storage: Storage) -> None:
    storage.enqueue_batch(make_batch(0))
    assert sum(storage.count_jobs().values()) == 0


def test_enqueue_batch_with_a_duplicate_id_inserts_nothing(storage: Storage) -> None:
    batch = make_batch(3)
    batch.ids[2] = batch.ids[0]
    with pytest.raises(StorageError):
        storage.enqueue_batch(batch)
    assert sum(storage.count_jobs().values()) == 0


def test_enqueue_batch_refuses_columns_of_different_lengths(storage: Storage) -> None:
    batch = make_batch(3)
    batch.payloads.pop()
    with pytest.raises(ValueError):
        storage.enqueue_batch(batch)
    assert sum(storage.count_jobs().values()) == 0


def test_enqueue_batch_refuses_a_payload_that_is_not_bytes(storage: Storage) -> None:
    batch = make_batch(3)
    batch.payloads[1] = "text"  # type: ignore[call-overload]
    with pytest.raises(TypeError):
        storage.enqueue_batch(batch)
    assert sum(storage.count_jobs().values()) == 0


def test_enqueue_many_unique_collision_with_an_active_job_inserts_nothing(
    storage: Storage,
) -> None:
    storage.enqueue(make_job(unique_key="taken"))
    batch = [make_job(), make_job(unique_key="taken"), make_job()]
    with pytest.raises(UniqueConflictError, match="UNIQUE"):
        storage.enqueue_many(batch)
    assert all(storage.get_job(job.id) is None for job in batch)
    assert storage.count_jobs()[JobStatus.PENDING] == 1


def test_enqueue_many_repeated_unique_key_in_the_batch_inserts_nothing(
    storage: Storage,
) -> None:
    batch = [make_job(unique_key="twice"), make_job(), make_job(unique_key="twice")]
    with pytest.raises(UniqueConflictError):
        storage.enqueue_many(batch)
    assert sum(storage.count_jobs().values()) == 0


def test_enqueue_many_duplicate_id_inserts_nothing(storage: Storage) -> None:
    first = make_job()
    batch = [first, make_job(), make_job(id=first.id)]
    with pytest.raises(StorageError):
        storage.enqueue_many(batch)
    assert sum(storage.count_jobs().values()) == 0


def test_enqueue_many_dependencies_on_stored_and_earlier_jobs(storage: Storage) -> None:
    stored = storage.enqueue(make_job())
    first = make_job(depends_on=(stored.id,))
    second = make_job(depends_on=(first.id, stored.id))
    storage.enqueue_many([first, second])
    assert storage.dependencies(second.id) == [first.id, stored.id]
    assert storage.dependents(stored.id) == [first.id, second.id]


def test_enqueue_many_bad_dependency_inserts_nothing(storage: Storage) -> None:
    later = make_job()
    batch = [make_job(), make_job(depends_on=(later.id,)), later]
    with pytest.raises(DependencyError, match=later.id):
        storage.enqueue_many(batch)
    assert sum(storage.count_jobs().values()) == 0


def test_enqueue_many_rejects_what_is_not_a_new_job(storage: Storage) -> None:
    with pytest.raises(TypeError):
        storage.enqueue_many([make_job(), "job"])  # type: ignore[list-item]
    assert sum(storage.count_jobs().values()) == 0


def test_enqueue_rejects_a_payload_that_is_not_bytes(storage: Storage) -> None:
    job = make_job(payload="text")
    with pytest.raises(TypeError, match="payload must be bytes"):
        storage.enqueue(job)
    with pytest.raises(TypeError, match="payload must be bytes"):
        storage.enqueue_many([make_job(), job])
    assert sum(storage.count_jobs().values()) == 0


def test_concurrent_producers_store_every_job_once_and_honour_unique_keys(
    storage: Storage,
) -> None:
    threads, per_thread, keys = 8, 40, 5
    made: list[list[tuple[str, JobRecord]]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def produce(index: int) -> None:
        try:
            start.wait(timeout=10)
            for n in range(per_thread):
                key = f"key-{n % keys}" if n % 4 == 0 else None
                job = make_job(unique_key=key)
                made[index].append((job.id, storage.enqueue(job)))
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=produce, args=(index,)) for index in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert not any(worker.is_alive() for worker in workers)
    assert errors == []
    results = [pair for pairs in made for pair in pairs]
    assert len(results) == threads * per_thread
    holders: dict[str, str] = {}
    stored_ids = set()
    for job_id, record in results:
        if record.unique_key is None:
            assert record.id == job_id
            stored_ids.add(job_id)
        else:
            # Every caller of a key gets the same holder, and only the holder is stored.
            assert holders.setdefault(record.unique_key, record.id) == record.id
    assert len(holders) == keys
    stored_ids.update(holders.values())
    assert all(storage.get_job(job_id) is not None for job_id in stored_ids)
    assert storage.count_jobs()[JobStatus.PENDING] == len(stored_ids)
    unkeyed = sum(1 for n in range(per_thread) if n % 4 != 0) * threads
    assert len(stored_ids) == unkeyed + keys


def test_enqueue_batch_larger_than_one_statement_is_stored_whole(storage: Storage) -> None:
    batch = make_batch(4_500)
    storage.enqueue_batch(batch)
    assert storage.count_jobs()[JobStatus.PENDING] == 4_500
    assert storage.get_job(batch.ids[-1]) == batch.record(4_499)
