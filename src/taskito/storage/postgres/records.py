"""Rows of the PostgreSQL backend as the records of ``storage.base``, and back.

Job rows come in ``queries.JOB_COLUMNS`` order, which is JobRecord's field order.
"""

from __future__ import annotations

from typing import Any

from taskito.job import JobRecord, JobStatus
from taskito.storage.base import DeadLetter, JobError, LogEntry, WorkerInfo
from taskito.storage.worker_resources import (
    decode_health,
    decode_names,
    encode_health,
    encode_names,
)

_STATUS_INDEX = 4
_CANCEL_REQUESTED_INDEX = 18
_LEASE_INDEX = 24


def row_to_job(row: tuple[Any, ...], lease_offset_ms: int) -> JobRecord:
    """A job row as a record; ``lease_expires_at`` moves from the server's clock to ours."""
    values = list(row)
    values[_STATUS_INDEX] = JobStatus.from_code(values[_STATUS_INDEX])
    values[_CANCEL_REQUESTED_INDEX] = bool(values[_CANCEL_REQUESTED_INDEX])
    if values[_LEASE_INDEX] is not None:
        values[_LEASE_INDEX] -= lease_offset_ms
    return JobRecord(*values)


def row_to_log(row: tuple[Any, ...]) -> LogEntry:
    return LogEntry(*row)


def row_to_error(row: tuple[Any, ...]) -> JobError:
    return JobError(*row)


def row_to_dead_letter(row: tuple[Any, ...]) -> DeadLetter:
    return DeadLetter(*row)


def worker_params(worker: WorkerInfo) -> tuple[Any, ...]:
    return (
        worker.worker_id,
        worker.hostname,
        worker.pid,
        None if worker.queues is None else list(worker.queues),
        worker.pool,
        worker.threads,
        worker.status,
        worker.started_at,
        worker.last_heartbeat,
        list(worker.tags),
        encode_names(worker.resources),
        encode_health(worker.resource_health),
    )


def row_to_worker(row: tuple[Any, ...]) -> WorkerInfo:
    worker_id, hostname, pid, queues, pool, threads, status, started_at, heartbeat, tags = row[:10]
    return WorkerInfo(
        worker_id=worker_id,
        hostname=hostname,
        pid=pid,
        queues=None if queues is None else tuple(queues),
        pool=pool,
        threads=threads,
        status=status,
        started_at=started_at,
        last_heartbeat=heartbeat,
        tags=tuple(tags),
        resources=decode_names(row[10]),
        resource_health=decode_health(row[11]),
    )
