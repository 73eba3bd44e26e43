"""Contract: queue state (set_queue_paused, paused_queues) and claim skipping paused queues."""

from __future__ import annotations

import pytest

from taskito.job import JobStatus, now_ms
from taskito.storage.base import Storage
from tests.storage.factories import LEASE_MS, Backend, claim_all, make_job, status_of


def test_pause_and_resume_report_whether_the_state_changed(storage: Storage) -> None:
    now = now_ms()
    assert storage.paused_queues() == []
    assert storage.set_queue_paused("emails", True, now) is True
    assert storage.paused_queues() == ["emails"]
    assert storage.set_queue_paused("emails", True, now + 1) is False
    assert storage.paused_queues() == ["emails"]
    assert storage.set_queue_paused("emails", False, now + 2) is True
    assert storage.paused_queues() == []
    assert storage.set_queue_paused("emails", False, now + 3) is False
    assert storage.paused_queues() == []


def test_resuming_a_queue_that_was_never_paused_changes_nothing(storage: Storage) -> None:
    assert storage.set_queue_paused("never-paused", False, now_ms()) is False
    assert storage.paused_queues() == []


def test_paused_queues_are_sorted(storage: Storage) -> None:
    now = now_ms()
    for name in ("reports", "alpha", "emails", "zeta"):
        assert storage.set_queue_paused(name, True, now)
    assert storage.set_queue_paused("emails", False, now)
    assert storage.paused_queues() == ["alpha", "reports", "zeta"]


def test_a_queue_without_jobs_can_be_paused(storage: Storage) -> None:
    assert storage.set_queue_paused("empty", True, now_ms())
    assert storage.paused_queues() == ["empty"]
    assert claim_all(storage) == []


def test_claim_never_returns_jobs_of_a_paused_queue(storage: Storage) -> None:
    held = storage.enqueue(make_job(queue="emails", priority=9))
    free = storage.enqueue(make_job(queue="reports", priority=1))
    assert storage.set_queue_paused("emails", True, now_ms())
    before = storage.get_job(held.id)
    assert [job.id for job in claim_all(storage)] == [free.id]
    assert storage.claim("w", ["emails"], None, 10, now_ms(), LEASE_MS) == []
    assert storage.claim("w", ["emails", "reports"], None, 10, now_ms(), LEASE_MS) == []
    assert storage.get_job(held.id) == before
    assert status_of(storage, held.id) is JobStatus.PENDING


def test_jobs_of_a_resumed_queue_are_claimed_again(storage: Storage) -> None:
    job = storage.enqueue(make_job(queue="emails"))
    assert storage.set_queue_paused("emails", True, now_ms())
    assert claim_all(storage) == []
    assert storage.set_queue_paused("emails", False, now_ms())
    (claimed,) = claim_all(storage)
    assert claimed.id == job.id
    assert claimed.attempt == 1


def test_pausing_one_queue_keeps_the_priority_order_of_the_others(storage: Storage) -> None:
    storage.enqueue(make_job(queue="paused", priority=10))
    low = storage.enqueue(make_job(queue="a", priority=1))
    high = storage.enqueue(make_job(queue="b", priority=5))
    assert storage.set_queue_paused("paused", True, now_ms())
    claimed = storage.claim("w", ["a", "b", "paused"], None, 10, now_ms(), LEASE_MS)
    assert [job.id for job in claimed] == [high.id, low.id]


def test_pause_applies_to_every_namespace_of_the_queue(storage: Storage) -> None:
    tenant = storage.enqueue(make_job(queue="emails", namespace="tenant-a"))
    assert storage.set_queue_paused("emails", True, now_ms())
    assert storage.claim("w", None, "tenant-a", 10, now_ms(), LEASE_MS) == []
    assert storage.set_queue_paused("emails", False, now_ms())
    assert [j.id for j in storage.claim("w", None, "tenant-a", 10, now_ms(), LEASE_MS)] == [
        tenant.id
    ]


def test_expired_jobs_of_a_paused_queue_stay_pending_untouched(storage: Storage) -> None:
    now = now_ms()
    expired = storage.enqueue(make_job(queue="emails", expires_at=now - 1))
    assert storage.set_queue_paused("emails", True, now)
    before = storage.get_job(expired.id)
    assert storage.claim("w", None, None, 10, now, LEASE_MS) == []
    assert storage.get_job(expired.id) == before


def test_running_jobs_are_not_touched_by_a_pause(storage: Storage) -> None:
    storage.enqueue(make_job(queue="emails"))
    (running,) = claim_all(storage)
    assert storage.set_queue_paused("emails", True, now_ms())
    assert storage.get_job(running.id) == running
    assert storage.running_ids(None, "emails") == [running.id]


def test_pause_does_not_leak_to_queues_with_a_similar_name(storage: Storage) -> None:
    jobs = [storage.enqueue(make_job(queue=name)) for name in ("email", "emails-2", "Emails")]
    assert storage.set_queue_paused("emails", True, now_ms())
    assert {job.id for job in claim_all(storage)} == {job.id for job in jobs}


def test_pause_is_seen_by_another_storage_object(
    backend_storage_pair: tuple[Storage, Storage],
) -> None:
    one, two = backend_storage_pair
    job = one.enqueue(make_job(queue="emails"))
    assert one.set_queue_paused("emails", True, now_ms())
    assert two.paused_queues() == ["emails"]
    assert two.claim("w2", None, None, 10, now_ms(), LEASE_MS) == []
    assert two.set_queue_paused("emails", True, now_ms()) is False
    assert two.set_queue_paused("emails", False, now_ms()) is True
    assert one.paused_queues() == []
    assert [record.id for record in one.claim("w1", None, None, 10, now_ms(), LEASE_MS)] == [job.id]


def test_pause_outlives_the_storage_object_that_set_it(backend: Backend) -> None:
    first = backend.first()
    job = first.enqueue(make_job(queue="emails"))
    assert first.set_queue_paused("emails", True, now_ms())
    first.close()
    reopened = backend.open_another()
    assert reopened.paused_queues() == ["emails"]
    assert reopened.claim("w", None, None, 10, now_ms(), LEASE_MS) == []
    assert status_of(reopened, job.id) is JobStatus.PENDING


@pytest.mark.parametrize("queue", ["", None, 7])
def test_set_queue_paused_rejects_a_bad_queue_name(storage: Storage, queue: object) -> None:
    assert storage.set_queue_paused("kept", True, now_ms())
    with pytest.raises((ValueError, TypeError)):
        storage.set_queue_paused(queue, True, now_ms())  # type: ignore[arg-type]
    assert storage.paused_queues() == ["kept"]
