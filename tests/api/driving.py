"""Move jobs through storage the way a worker would (claim, then finish), so the façade's
views of every status can be tested without running a worker."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from taskito import Queue
from taskito.job import JobRecord, JobStatus, now_ms
from taskito.storage.base import Finish

LEASE_MS = 60_000

#: The ``make_queue`` fixture: ``make_queue(**Queue_kwargs) -> Queue``.
MakeQueue = Callable[..., Queue]


#: Jobs a ``claim`` call took along with the one it was asked for, per Queue: a later
#: ``claim`` of one of them returns it from here, as it is already running.
_held: weakref.WeakKeyDictionary[Queue, dict[str, JobRecord]] = weakref.WeakKeyDictionary()


def claim(queue: Queue, job_id: str) -> JobRecord:
    """Claim ``job_id`` (it must be due) and return its running record.

    A claim takes every due job of that job's queue (name) and namespace; the others are kept
    for later calls. Tests that need other jobs to stay pending put them on another queue.
    """
    held = _held.setdefault(queue, {})
    if job_id not in held:
        pending = queue._storage.get_job(job_id)
        assert pending is not None, f"no job {job_id}"
        claimed = queue._storage.claim(
            "test-worker", [pending.queue], pending.namespace, 1000, now_ms(), LEASE_MS
        )
        held.update((record.id, record) for record in claimed)
    if job_id not in held:
        raise AssertionError(f"job {job_id} was not claimable")
    return held.pop(job_id)


def finish(
    queue: Queue,
    record: JobRecord,
    status: JobStatus,
    *,
    result: bytes | None = None,
    error: str | None = None,
    retry_at: int | None = None,
) -> None:
    """Apply one outcome to a claimed job, as the worker does."""
    applied = queue._storage.finish_many(
        [
            Finish(
                record.id,
                record.attempt,
                status,
                result=result,
                error=error,
                retry_at=retry_at,
                worker_id=record.worker_id,
            )
        ],
        now_ms(),
    )
    assert applied == [True]


def drive(
    queue: Queue,
    job_id: str,
    status: JobStatus,
    *,
    result: Any = None,
    error: str | None = None,
) -> None:
    """Claim ``job_id`` and finish it with ``status``; ``result`` is encoded with the queue's
    serializer (None stores no result bytes)."""
    record = claim(queue, job_id)
    encoded = None if result is None else queue._serializer.dumps(result)
    finish(queue, record, status, result=encoded, error=error)
