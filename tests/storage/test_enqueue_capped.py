"""Contract: ``enqueue_capped`` (a queue's max_pending cap, counted with the insert in one
atomic step: every namespace and delayed jobs count; a batch is checked whole)."""

from __future__ import annotations

import threading

import pytest

from taskito.exceptions import QueueFullError
from taskito.job import JobStatus, now_ms
from taskito.storage.base import Storage
from tests.storage.factories import make_job


def test_jobs_within_the_cap_are_stored(storage: Storage) -> None:
    (one,) = storage.enqueue_capped([make_job()], 3, batch=False)
    two = storage.enqueue_capped([make_job(), make_job()], 3, batch=True)
    assert storage.get_job(one.id) == one and len(two) == 2
    assert storage.count_jobs()[JobStatus.PENDING] == 3


def test_every_namespace_and_delayed_jobs_count(storage: Storage) -> None:
    storage.enqueue(make_job(namespace="tenant-a"))
    storage.enqueue(make_job(scheduled_at=now_ms() + 3_600_000))
    storage.enqueue(make_job(queue="other"))
    with pytest.raises(QueueFullError) as caught:
        storage.enqueue_capped([make_job()], 2, batch=False)
    assert (caught.value.pending, caught.value.incoming, caught.value.cap) == (2, 1, 2)
    assert storage.count_jobs()[JobStatus.PENDING] == 3


def test_a_batch_past_the_cap_stores_nothing(storage: Storage) -> None:
    storage.enqueue(make_job())
    jobs = [make_job() for _ in range(3)]
    with pytest.raises(QueueFullError):
        storage.enqueue_capped(jobs, 3, batch=True)
    assert all(storage.get_job(job.id) is None for job in jobs)


def test_a_held_unique_key_returns_its_holder(storage: Storage) -> None:
    holder = storage.enqueue(make_job(unique_key="k"))
    (record,) = storage.enqueue_capped([make_job(unique_key="k")], 5, batch=False)
    assert record.id == holder.id


def test_bad_requests_are_refused(storage: Storage) -> None:
    with pytest.raises(ValueError, match="max_pending"):
        storage.enqueue_capped([make_job()], -1, batch=False)
    with pytest.raises(ValueError, match="one job"):
        storage.enqueue_capped([make_job(), make_job()], 5, batch=False)
    with pytest.raises(ValueError, match="one queue"):
        storage.enqueue_capped([make_job(), make_job(queue="b")], 5, batch=True)
    assert storage.count_jobs()[JobStatus.PENDING] == 0


def test_concurrent_producers_never_pass_the_cap(storage: Storage) -> None:
    producers, cap = 8, 5
    barrier = threading.Barrier(producers)
    outcomes: list[bool] = []
    lock = threading.Lock()

    def produce() -> None:
        barrier.wait(timeout=10)
        try:
            storage.enqueue_capped([make_job()], cap, batch=False)
            stored = True
        except QueueFullError:
            stored = False
        with lock:
            outcomes.append(stored)

    threads = [threading.Thread(target=produce) for _ in range(producers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert outcomes.count(True) == cap and len(outcomes) == producers
    assert storage.count_jobs()[JobStatus.PENDING] == cap


def test_a_keyed_batch_is_checked_whole_against_the_cap(storage: Storage) -> None:
    holder = storage.enqueue(make_job(unique_key="a"))
    with pytest.raises(QueueFullError):
        storage.enqueue_coalescing([make_job(unique_key="b"), make_job(unique_key="c")], 2)
    outcomes = storage.enqueue_coalescing([make_job(unique_key="a"), make_job(unique_key="b")], 3)
    assert [(record.id == holder.id, inserted) for record, inserted in outcomes] == [
        (True, False),
        (False, True),
    ]
    assert storage.count_jobs()[JobStatus.PENDING] == 2
