"""Contract: claim (order, limit, delays, queues, namespaces, dependencies, expiry, races)."""

from __future__ import annotations

import threading

import pytest

from taskito.job import JobRecord, JobStatus, now_ms
from taskito.storage.base import Storage
from tests.storage.factories import LEASE_MS, claim_all, claim_job, finish, make_job, status_of


def test_claim_marks_jobs_running_for_the_worker(storage: Storage) -> None:
    job = storage.enqueue(make_job())
    now = now_ms()
    (claimed,) = storage.claim("w-7", None, None, 10, now, 5_000)
    assert claimed.id == job.id
    assert claimed.status is JobStatus.RUNNING
    assert claimed.worker_id == "w-7"
    assert claimed.attempt == 1
    assert claimed.started_at == now
    assert claimed.lease_expires_at == now + 5_000
    assert storage.get_job(job.id) == claimed


def test_claim_of_an_empty_queue_is_empty(storage: Storage) -> None:
    assert claim_all(storage) == []


def test_claim_order_is_priority_then_scheduled_at_then_id(storage: Storage) -> None:
    base = now_ms() - 10_000
    low_old = storage.enqueue(make_job(priority=1, scheduled_at=base))
    high_new = storage.enqueue(make_job(priority=5, scheduled_at=base + 200))
    high_old = storage.enqueue(make_job(priority=5, scheduled_at=base + 100))
    low_new = storage.enqueue(make_job(priority=1, scheduled_at=base + 300))
    tie_a = storage.enqueue(make_job(priority=3, scheduled_at=base))
    tie_b = storage.enqueue(make_job(priority=3, scheduled_at=base))
    claimed = claim_all(storage)
    expected = [high_old, high_new, tie_a, tie_b, low_old, low_new]
    assert [job.id for job in claimed] == [job.id for job in expected]


def test_claim_takes_the_best_jobs_up_to_the_limit(storage: Storage) -> None:
    jobs = [storage.enqueue(make_job(priority=p)) for p in range(10)]
    first = claim_all(storage, limit=3)
    assert [job.priority for job in first] == [9, 8, 7]
    rest = claim_all(storage, limit=100)
    assert len(rest) == 7
    assert {job.id for job in first + rest} == {job.id for job in jobs}


def test_claim_with_limit_zero_claims_nothing(storage: Storage) -> None:
    job = storage.enqueue(make_job())
    assert storage.claim("w", None, None, 0, now_ms(), LEASE_MS) == []
    assert status_of(storage, job.id) is JobStatus.PENDING


@pytest.mark.parametrize("limit", [-1, 1.5, "3", True])
def test_claim_rejects_a_bad_limit(storage: Storage, limit: object) -> None:
    storage.enqueue(make_job())
    with pytest.raises(ValueError, match="limit"):
        storage.claim("w", None, None, limit, now_ms(), LEASE_MS)  # type: ignore[arg-type]
    assert storage.count_jobs()[JobStatus.PENDING] == 1


@pytest.mark.parametrize("lease_ms", [0, -5, 2.5])
def test_claim_rejects_a_bad_lease(storage: Storage, lease_ms: object) -> None:
    storage.enqueue(make_job())
    with pytest.raises(ValueError, match="lease_ms"):
        storage.claim("w", None, None, 5, now_ms(), lease_ms)  # type: ignore[arg-type]
    assert storage.count_jobs()[JobStatus.PENDING] == 1


def test_claim_rejects_a_queue_name_given_as_a_string(storage: Storage) -> None:
    storage.enqueue(make_job())
    with pytest.raises(TypeError, match="queues"):
        storage.claim("w", "default", None, 5, now_ms(), LEASE_MS)
    assert storage.count_jobs()[JobStatus.PENDING] == 1


def test_delayed_job_is_claimed_only_once_due(storage: Storage) -> None:
    now = now_ms()
    job = storage.enqueue(make_job(scheduled_at=now + 60_000))
    assert storage.claim("w", None, None, 10, now, LEASE_MS) == []
    assert storage.claim("w", None, None, 10, now + 59_999, LEASE_MS) == []
    (claimed,) = storage.claim("w", None, None, 10, now + 60_000, LEASE_MS)
    assert claimed.id == job.id


def test_claim_only_from_the_named_queues(storage: Storage) -> None:
    emails = storage.enqueue(make_job(queue="emails"))
    reports = storage.enqueue(make_job(queue="reports"))
    other = storage.enqueue(make_job(queue="other"))
    now = now_ms()
    assert [j.id for j in storage.claim("w", ["emails"], None, 10, now, LEASE_MS)] == [emails.id]
    claimed = storage.claim("w", ["reports", "other"], None, 10, now, LEASE_MS)
    assert {job.id for job in claimed} == {reports.id, other.id}


def test_claim_with_no_queues_claims_nothing(storage: Storage) -> None:
    storage.enqueue(make_job())
    assert storage.claim("w", [], None, 10, now_ms(), LEASE_MS) == []


def test_claim_with_queues_none_takes_every_queue(storage: Storage) -> None:
    jobs = [storage.enqueue(make_job(queue=name)) for name in ("a", "b", "default")]
    assert {job.id for job in claim_all(storage)} == {job.id for job in jobs}


def test_claim_with_several_queues_keeps_priority_order(storage: Storage) -> None:
    low = storage.enqueue(make_job(queue="a", priority=1))
    high = storage.enqueue(make_job(queue="b", priority=9))
    mid = storage.enqueue(make_job(queue="a", priority=5))
    claimed = storage.claim("w", ["a", "b"], None, 10, now_ms(), LEASE_MS)
    assert [job.id for job in claimed] == [high.id, mid.id, low.id]


def test_claim_matches_the_namespace_exactly(storage: Storage) -> None:
    plain = storage.enqueue(make_job())
    tenant_a = storage.enqueue(make_job(namespace="a"))
    tenant_b = storage.enqueue(make_job(namespace="b"))
    now = now_ms()
    assert [j.id for j in storage.claim("w", None, "a", 10, now, LEASE_MS)] == [tenant_a.id]
    assert [j.id for j in storage.claim("w", None, None, 10, now, LEASE_MS)] == [plain.id]
    assert [j.id for j in storage.claim("w", ["default"], "b", 10, now, LEASE_MS)] == [tenant_b.id]


def test_claim_waits_for_every_dependency_to_complete(storage: Storage) -> None:
    parent_a = storage.enqueue(make_job(priority=1))
    parent_b = storage.enqueue(make_job(priority=1))
    child = storage.enqueue(make_job(priority=10, depends_on=(parent_a.id, parent_b.id)))
    first = claim_all(storage)
    assert {job.id for job in first} == {parent_a.id, parent_b.id}
    running = {job.id: job for job in first}
    assert finish(storage, running[parent_a.id], JobStatus.COMPLETE)
    assert claim_all(storage) == []
    assert finish(storage, running[parent_b.id], JobStatus.COMPLETE)
    assert [job.id for job in claim_all(storage)] == [child.id]


def test_a_retrying_dependency_still_blocks(storage: Storage) -> None:
    parent = storage.enqueue(make_job())
    child = storage.enqueue(make_job(depends_on=(parent.id,)))
    running = claim_job(storage, parent.id)
    assert finish(storage, running, JobStatus.PENDING, error="flaky", retry_at=now_ms())
    assert [job.id for job in claim_all(storage)] == [parent.id]
    assert status_of(storage, child.id) is JobStatus.PENDING


def test_expired_job_is_cancelled_instead_of_claimed(storage: Storage) -> None:
    now = now_ms()
    expired = storage.enqueue(make_job(scheduled_at=now, expires_at=now - 1))
    live = storage.enqueue(make_job(scheduled_at=now, expires_at=now + 60_000))
    dependent = storage.enqueue(make_job(scheduled_at=now, depends_on=(expired.id,)))
    claimed = storage.claim("w", None, None, 10, now, LEASE_MS)
    assert [job.id for job in claimed] == [live.id]
    record = storage.get_job(expired.id)
    assert record is not None
    assert record.status is JobStatus.CANCELLED
    assert record.error == "expired before execution"
    assert record.completed_at == now
    dependent_record = storage.get_job(dependent.id)
    assert dependent_record is not None and dependent_record.status is JobStatus.CANCELLED
    assert dependent_record.error == f"dependency cancelled: {expired.id}"


def test_job_expiring_exactly_now_is_still_claimed(storage: Storage) -> None:
    now = now_ms()
    job = storage.enqueue(make_job(scheduled_at=now, expires_at=now))
    assert [j.id for j in storage.claim("w", None, None, 10, now, LEASE_MS)] == [job.id]


def test_claim_leaves_expired_jobs_of_other_queues_alone(storage: Storage) -> None:
    now = now_ms()
    elsewhere = storage.enqueue(make_job(queue="elsewhere", expires_at=now - 1))
    assert storage.claim("w", ["default"], None, 10, now, LEASE_MS) == []
    assert status_of(storage, elsewhere.id) is JobStatus.PENDING


def test_running_jobs_are_not_claimed_again(storage: Storage) -> None:
    storage.enqueue(make_job())
    assert len(claim_all(storage, "w1")) == 1
    assert claim_all(storage, "w2") == []


def test_concurrent_claimers_get_disjoint_jobs(storage: Storage) -> None:
    jobs = storage.enqueue_many([make_job() for _ in range(300)])
    claimers = 4
    barrier = threading.Barrier(claimers)
    claimed: dict[str, list[JobRecord]] = {f"w{i}": [] for i in range(claimers)}
    errors: list[BaseException] = []

    def run(worker_id: str) -> None:
        try:
            barrier.wait(timeout=10)
            while batch := storage.claim(worker_id, None, None, 7, now_ms(), LEASE_MS):
                claimed[worker_id].extend(batch)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(worker_id,)) for worker_id in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    ids = [job.id for batch in claimed.values() for job in batch]
    assert len(ids) == len(set(ids)) == len(jobs)
    for worker_id, batch in claimed.items():
        for job in batch:
            record = storage.get_job(job.id)
            assert record is not None and record.worker_id == worker_id


def test_claims_through_two_storage_objects_are_disjoint(
    backend_storage_pair: tuple[Storage, Storage],
) -> None:
    one, two = backend_storage_pair
    one.enqueue_many([make_job() for _ in range(20)])
    first = one.claim("w1", None, None, 15, now_ms(), LEASE_MS)
    second = two.claim("w2", None, None, 15, now_ms(), LEASE_MS)
    assert len(first) == 15 and len(second) == 5
    assert not {job.id for job in first} & {job.id for job in second}


def test_delayed_jobs_of_a_higher_priority_do_not_hide_due_ones(storage: Storage) -> None:
    now = now_ms()
    for _ in range(5):
        storage.enqueue(make_job(priority=9, scheduled_at=now + 60_000))
    due_low = storage.enqueue(make_job(priority=1, scheduled_at=now - 10))
    due_mid = storage.enqueue(make_job(priority=5, scheduled_at=now))
    storage.enqueue(make_job(priority=5, scheduled_at=now + 1))
    claimed = storage.claim("w", None, None, 10, now, LEASE_MS)
    assert [job.id for job in claimed] == [due_mid.id, due_low.id]
    single_queue = storage.claim("w", ["default"], None, 10, now + 1, LEASE_MS)
    assert [job.priority for job in single_queue] == [5]


def test_claim_across_queues_fills_the_limit_in_priority_order(storage: Storage) -> None:
    for queue, priorities in {"a": [1, 4, 7], "b": [2, 5, 8], "c": [3, 6, 9]}.items():
        for priority in priorities:
            storage.enqueue(make_job(queue=queue, priority=priority))
    now = now_ms()
    first = storage.claim("w", ["a", "b", "c"], None, 4, now, LEASE_MS)
    assert [job.priority for job in first] == [9, 8, 7, 6]
    rest = storage.claim("w", ["c", "a"], None, 10, now, LEASE_MS)
    assert [job.priority for job in rest] == [4, 3, 1]
