"""Dead letters: the ``dead_letters()`` view, ``retry_dead`` (a fresh copy, the row deleted,
the original left dead), ``purge_dead``, and the cascade to dependents."""

from __future__ import annotations

from typing import Any

import pytest

from taskito import Queue, StorageError
from taskito.job import JobStatus
from tests.api.driving import MakeQueue, drive
from tests.helpers import wait_until

DEAD_KEYS = {
    "id",
    "original_job_id",
    "queue",
    "task_name",
    "error",
    "retry_count",
    "failed_at",
    "metadata",
    "dlq_retry_count",
}


def make_dead(target: Queue, task_name: str = "t", **options: Any) -> str:
    job = target.enqueue(task_name, (1, 2), **options)
    drive(target, job.id, JobStatus.DEAD, error=f"{task_name} failed")
    return job.id


def test_dead_letters_lists_newest_first_with_the_reference_keys(queue: Queue) -> None:
    first = make_dead(queue, "a", metadata='{"m": 1}', queue="qa")
    second = make_dead(queue, "b", queue="qb")
    letters = queue.dead_letters()
    assert [set(letter) for letter in letters] == [DEAD_KEYS, DEAD_KEYS]
    assert [letter["original_job_id"] for letter in letters] == [second, first]
    oldest = letters[1]
    assert (oldest["task_name"], oldest["queue"], oldest["error"]) == ("a", "qa", "a failed")
    assert (oldest["metadata"], oldest["retry_count"]) == ('{"m": 1}', 0)
    assert isinstance(oldest["failed_at"], int)
    assert [d["original_job_id"] for d in queue.dead_letters(limit=1, offset=1)] == [first]


@pytest.mark.parametrize(("limit", "offset"), [(-1, 0), (10, -2)])
def test_negative_paging_is_refused(queue: Queue, limit: int, offset: int) -> None:
    with pytest.raises(ValueError, match=r"limit|offset"):
        queue.dead_letters(limit=limit, offset=offset)


def test_retry_dead_enqueues_a_fresh_copy_and_deletes_the_letter(make_queue: MakeQueue) -> None:
    queue = make_queue(namespace="tenant")
    original = make_dead(queue, priority=5, max_retries=2, timeout=7, metadata="meta", queue="q")
    dead_id = queue.dead_letters()[0]["id"]

    new_id = queue.retry_dead(dead_id)

    assert new_id != original
    fresh = queue._storage.get_job(new_id)
    old = queue._storage.get_job(original)
    assert fresh is not None and old is not None
    assert fresh.status is JobStatus.PENDING and fresh.retry_count == 0
    assert (fresh.task_name, fresh.queue, fresh.priority) == (old.task_name, "q", 5)
    assert (fresh.max_retries, fresh.timeout_ms, fresh.metadata) == (2, 7000, "meta")
    assert (fresh.payload, fresh.namespace) == (old.payload, "tenant")
    assert old.status is JobStatus.DEAD
    assert queue.dead_letters() == []


def test_retry_dead_of_an_unknown_id_is_a_runtime_error(queue: Queue) -> None:
    with pytest.raises(StorageError, match="dead letter not found") as caught:
        queue.retry_dead("no-such-letter")
    assert isinstance(caught.value, RuntimeError)


def test_purge_dead_deletes_only_old_letters(queue: Queue) -> None:
    make_dead(queue)
    assert queue.purge_dead() == 0  # younger than a day
    assert len(queue.dead_letters()) == 1
    wait_until(lambda: queue.purge_dead(older_than=0) == 1)
    assert queue.dead_letters() == []
    with pytest.raises(ValueError, match="older_than"):
        queue.purge_dead(older_than=float("nan"))


def test_a_dead_job_cancels_its_pending_dependents(queue: Queue) -> None:
    parent = queue.enqueue("t")
    child = queue.enqueue("t", depends_on=parent.id, queue="children")
    drive(queue, parent.id, JobStatus.DEAD, error="boom")
    child.refresh()
    assert child.status == "cancelled"
    assert child.error == f"dependency failed: {parent.id}"
