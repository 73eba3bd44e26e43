"""Enqueue on the Redis backend: one job or a batch in one ``enqueue.lua`` script (unique keys
and dependencies checked inside it), run once more after a dropped connection, and the record
an enqueue reply stands for, which ``fire_periodic`` and ``enqueue_replay`` (``control``) share.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import cast

from taskito.exceptions import QueueFullError, StorageError, StorageUnavailableError
from taskito.job import JobRecord, NewJob
from taskito.storage.redis.keys import (
    check_batch,
    check_new_job,
    debounce_field,
    job_arguments,
)
from taskito.storage.redis.notify import ChangeListener
from taskito.storage.redis.reads import get_jobs
from taskito.storage.redis.records import job_from_packed
from taskito.storage.redis.scripts import Scripts
from taskito.storage.validation import (
    require_capped_jobs,
    require_coalescing_batch,
    require_debounced,
)

logger = logging.getLogger("taskito.storage.redis")


def enqueue(scripts: Scripts, listener: ChangeListener, job: NewJob) -> JobRecord:
    """``Storage.enqueue``: the job as inserted, or the holder of its unique key."""
    check_new_job(job)
    reply = _insert_new(scripts, "one", [job])
    if reply is not None:
        return enqueued(scripts, listener, job, reply)
    stored = get_jobs(scripts, [job.id])
    assert stored  # _insert_new saw it
    return stored[0]


def enqueue_many(
    scripts: Scripts, listener: ChangeListener, jobs: Sequence[NewJob]
) -> list[JobRecord]:
    """``Storage.enqueue_many``: the whole batch or nothing."""
    batch = [check_new_job(job) for job in jobs]
    if not batch:
        return []
    check_batch(batch)
    _insert_new(scripts, "many", batch)
    listener.notify()
    return [JobRecord.from_new(job) for job in batch]


def enqueue_coalescing(
    scripts: Scripts,
    listener: ChangeListener,
    jobs: Sequence[NewJob],
    max_pending: int | None = None,
) -> list[tuple[JobRecord, bool]]:
    """``Storage.enqueue_coalescing``: one script; after a dropped connection it runs once
    more, and a job the lost attempt stored answers 'self' (the ids are the client's)."""
    batch = [check_new_job(job) for job in require_coalescing_batch(jobs)]
    mode = "coalesce"
    if max_pending is not None:
        require_capped_jobs(batch, max_pending, True)
        mode = f"coalesce@{max_pending}"
    if not batch:
        return []
    args: list[object] = [mode, len(batch), *[job_arguments(job) for job in batch]]
    try:
        reply = _run_capped(scripts, args, batch[0].queue)
    except StorageUnavailableError as exc:
        logger.info(
            "lost the connection to redis mid-write; trying once more",
            extra={"redis": scripts.connection.where, "error": str(exc)},
        )
        reply = _run_capped(scripts, args, batch[0].queue)
    offset_ms = scripts.connection.clock_offset_ms()
    outcomes: list[tuple[JobRecord, bool]] = []
    position = 0
    for job in batch:
        if reply[position] == b"existing":
            outcomes.append((job_from_packed(reply[position + 1], offset_ms), False))
            position += 2
        else:
            outcomes.append((JobRecord.from_new(job), True))
            position += 1
    if any(inserted for _, inserted in outcomes):
        listener.notify()
    return outcomes


def enqueue_capped(
    scripts: Scripts,
    listener: ChangeListener,
    request: tuple[Sequence[NewJob], int, bool],
) -> list[JobRecord]:
    """``Storage.enqueue_capped`` (``request``: the jobs, the cap and ``batch``): the enqueue
    script counts the queue's pending jobs before its checks, in the same atomic run."""
    jobs, max_pending, batch = request
    checked = [check_new_job(job) for job in require_capped_jobs(jobs, max_pending, batch)]
    if not checked:
        return []
    if batch:
        check_batch(checked)
    mode = f"{'many' if batch else 'one'}@{max_pending}"
    try:
        reply = _insert_new(scripts, mode, checked)
    except StorageError as exc:
        full = _QUEUE_FULL.search(str(exc))
        if full is None:
            raise
        pending, incoming, cap = (int(value) for value in full.groups())
        raise QueueFullError(checked[0].queue, pending, incoming, cap) from None
    if not batch and reply is not None:
        return [enqueued(scripts, listener, checked[0], reply)]
    listener.notify()
    return [JobRecord.from_new(job) for job in checked]


def enqueue_debounced(
    scripts: Scripts,
    listener: ChangeListener,
    call: tuple[NewJob, str, int, int, bool, int, int | None],
) -> tuple[JobRecord, bool]:
    """``Storage.enqueue_debounced`` (``call``: its arguments in order, ``max_pending``
    last): one ``debounce.lua`` run, repeated after a dropped connection (a repeat slides
    the job the lost run inserted to the same time)."""
    job, key, window_ms, max_wait_ms, replace_payload, now, max_pending = call
    require_debounced(job, key, window_ms, max_wait_ms, replace_payload, now, max_pending)
    check_new_job(job)
    cap = "" if max_pending is None else max_pending
    field = debounce_field(job, key)
    args: list[object] = [field, window_ms, max_wait_ms, int(replace_payload), now, cap]
    args.append(job_arguments(job))
    reply = _run_capped(scripts, args, job.queue, script="debounce", idempotent=True)
    listener.notify()
    if reply[0] == b"new":
        return JobRecord.from_new(job), False
    record = job_from_packed(reply[1], scripts.connection.clock_offset_ms())
    return record, record.id != job.id


_QUEUE_FULL = re.compile(r"TASKITO_QUEUE_FULL (\d+) (\d+) (\d+)")


def _run_capped(
    scripts: Scripts,
    args: list[object],
    queue: str,
    *,
    script: str = "enqueue",
    idempotent: bool = False,
) -> list[bytes]:
    """The enqueue (or debounce) script's reply; its refusal under a cap as
    ``QueueFullError``."""
    try:
        return cast(list[bytes], scripts.run(script, *args, idempotent=idempotent))
    except StorageUnavailableError:
        raise
    except StorageError as exc:
        full = _QUEUE_FULL.search(str(exc))
        if full is None:
            raise
        pending, incoming, cap = (int(value) for value in full.groups())
        raise QueueFullError(queue, pending, incoming, cap) from None


def enqueued(
    scripts: Scripts, listener: ChangeListener, job: NewJob, reply: list[bytes]
) -> JobRecord:
    """The record an enqueue reply stands for: ``job`` as inserted (waiters are woken), or
    the holder of its unique key."""
    if reply[0] == b"existing":
        return job_from_packed(reply[1], scripts.connection.clock_offset_ms())
    listener.notify()
    return JobRecord.from_new(job)


def _insert_new(scripts: Scripts, mode: str, jobs: Sequence[NewJob]) -> list[bytes] | None:
    """Run the enqueue script; after a dropped connection, run it once more. The job ids
    are made by the client, so the retry cannot store them twice: when it is refused and
    the first job is there, the lost attempt had stored them all (None is returned)."""
    args: list[object] = [mode, len(jobs), *[job_arguments(job) for job in jobs]]
    try:
        return cast(list[bytes], scripts.run("enqueue", *args))
    except StorageUnavailableError as exc:
        logger.info(
            "lost the connection to redis mid-write; trying once more",
            extra={"redis": scripts.connection.where, "error": str(exc)},
        )
    try:
        return cast(list[bytes], scripts.run("enqueue", *args))
    except StorageUnavailableError:
        raise
    except StorageError:
        if not get_jobs(scripts, [jobs[0].id]):
            raise
        return None


__all__ = [
    "enqueue",
    "enqueue_capped",
    "enqueue_coalescing",
    "enqueue_debounced",
    "enqueue_many",
    "enqueued",
]
