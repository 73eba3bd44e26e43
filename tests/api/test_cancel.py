"""Cancellation from the producer: ``cancel`` works for any state, ``cancel_job`` only for
pending jobs and ``cancel_running_job`` only for running ones (docs/architecture.md, "Where taskito
differs")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from taskito import Queue
from taskito.job import JobStatus
from tests.api.driving import claim, drive

UNKNOWN_ID = "01900000-0000-7000-8000-000000000000"


def status_of(queue: Queue, job_id: str) -> str:
    job = queue.get_job(job_id)
    assert job is not None
    return job.status


def cancel_requested(queue: Queue, job_id: str) -> bool:
    record = queue._storage.get_job(job_id)
    assert record is not None
    return record.cancel_requested


def test_cancel_of_a_pending_job_cancels_it_and_its_dependents(queue: Queue) -> None:
    parent = queue.enqueue("t", delay=3600)
    child = queue.enqueue("t", depends_on=parent.id)
    assert queue.cancel(parent.id) is True
    assert status_of(queue, parent.id) == "cancelled"
    assert queue.get_job(parent.id).error is None  # type: ignore[union-attr]
    assert status_of(queue, child.id) == "cancelled"
    assert queue.get_job(child.id).error == f"dependency cancelled: {parent.id}"  # type: ignore[union-attr]


def test_a_cancelled_pending_job_never_starts(queue: Queue) -> None:
    job = queue.enqueue("t")
    assert queue.cancel(job.id)
    with pytest.raises(AssertionError, match="not claimable"):
        claim(queue, job.id)


def test_cancel_of_a_running_job_requests_cancellation(queue: Queue) -> None:
    job = queue.enqueue("t")
    claim(queue, job.id)
    assert queue.cancel(job.id) is True
    assert status_of(queue, job.id) == "running"  # the worker applies it
    assert cancel_requested(queue, job.id)


def test_cancel_accepts_force_and_checks_its_type(queue: Queue) -> None:
    job = queue.enqueue("t")
    claim(queue, job.id)
    assert queue.cancel(job.id, force=True) is True
    assert cancel_requested(queue, job.id)
    with pytest.raises(TypeError, match="force"):
        queue.cancel(job.id, force="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize("final", [JobStatus.COMPLETE, JobStatus.DEAD, JobStatus.CANCELLED])
def test_finished_jobs_cannot_be_cancelled(queue: Queue, final: JobStatus) -> None:
    job = queue.enqueue("t")
    drive(queue, job.id, final, error=None if final is JobStatus.COMPLETE else "x")
    assert queue.cancel(job.id) is False
    assert queue.cancel_job(job.id) is False
    assert queue.cancel_running_job(job.id) is False
    assert status_of(queue, job.id) == final.value


def test_unknown_jobs_cannot_be_cancelled(queue: Queue) -> None:
    assert queue.cancel(UNKNOWN_ID) is False
    assert queue.cancel_job(UNKNOWN_ID) is False
    assert queue.cancel_running_job(UNKNOWN_ID) is False


def test_cancel_job_is_for_pending_jobs_only(queue: Queue) -> None:
    pending = queue.enqueue("t", queue="waiting")
    running = queue.enqueue("t")
    claim(queue, running.id)
    assert queue.cancel_job(running.id) is False
    assert status_of(queue, running.id) == "running"
    assert not cancel_requested(queue, running.id)
    assert queue.cancel_job(pending.id) is True
    assert status_of(queue, pending.id) == "cancelled"


def test_cancel_running_job_is_for_running_jobs_only(queue: Queue) -> None:
    pending = queue.enqueue("t", queue="waiting")
    running = queue.enqueue("t")
    claim(queue, running.id)
    assert queue.cancel_running_job(pending.id) is False
    assert status_of(queue, pending.id) == "pending"
    assert queue.cancel_running_job(running.id) is True
    assert cancel_requested(queue, running.id)


def test_cancel_checks_the_job_id(queue: Queue) -> None:
    with pytest.raises(ValueError, match="job_id"):
        queue.cancel("")
    with pytest.raises(TypeError, match="job_id"):
        queue.cancel_job(None)  # type: ignore[arg-type]


class StorageCalls:
    """Record every storage method the queue calls, by wrapping the real storage object's
    bound methods on the instance (the real database still does the work)."""

    def __init__(self, queue: Queue) -> None:
        self.names: list[str] = []
        storage = queue._storage
        for name in dir(type(storage)):
            method = getattr(storage, name)
            if not name.startswith("_") and callable(method):
                setattr(storage, name, self._wrap(name, method))

    def _wrap(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def recorded(*args: Any, **kwargs: Any) -> Any:
            self.names.append(name)
            return method(*args, **kwargs)

        return recorded


def test_cancel_makes_one_storage_call_in_every_state(queue: Queue) -> None:
    pending = queue.enqueue("t", queue="waiting")
    running = queue.enqueue("t")
    claim(queue, running.id)
    done = queue.enqueue("t")
    drive(queue, done.id, JobStatus.COMPLETE)
    calls = StorageCalls(queue)
    expected = [(pending.id, True), (running.id, True), (done.id, False), (UNKNOWN_ID, False)]
    for job_id, cancelled in expected:
        calls.names.clear()
        assert queue.cancel(job_id, force=job_id == running.id) is cancelled
        assert calls.names == ["cancel"], job_id
    assert status_of(queue, pending.id) == "cancelled"
    assert cancel_requested(queue, running.id)
    assert queue._storage.cancel_requests([running.id]) == {running.id: True}
