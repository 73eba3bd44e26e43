"""The enqueue half of the PostgreSQL backend: one job (unique keys, dependencies) or a batch.

A plain enqueue is one INSERT statement that also notifies listeners; a batch is one
INSERT ... SELECT FROM unnest() per few thousand rows, all in one transaction.
Functions over the backend's pool and statements, called by ``PostgresStorage`` (``enqueue``)
and ``PostgresControl`` (``enqueue_in``: a periodic slot or a replay inserts its job in the
same transaction as its control row). Like ``reads``, this module imports no driver module at
import time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from taskito.exceptions import DependencyError, QueueFullError, StorageError
from taskito.job import JobBatch, JobRecord, NewJob
from taskito.storage import validation
from taskito.storage.postgres import queries as q
from taskito.storage.postgres import records as convert
from taskito.storage.postgres import transitions
from taskito.storage.validation import require_new_job

if TYPE_CHECKING:
    from taskito.storage.postgres.connections import Cursor, PgConnections
    from taskito.storage.postgres.notify import ChangeFeed

# Rows per INSERT statement of enqueue_many (all in one transaction).
_INSERT_CHUNK = 2000
# A unique key whose holder finishes between our INSERT and SELECT is tried again.
_UNIQUE_ATTEMPTS = 10


def _insert_params(job: NewJob) -> tuple[Any, ...]:
    payload = job.payload if isinstance(job.payload, bytes) else bytes(job.payload)
    return (
        job.id,
        job.queue,
        job.task_name,
        payload,
        job.priority,
        job.created_at,
        job.scheduled_at,
        job.max_retries,
        job.timeout_ms,
        job.unique_key,
        job.metadata,
        job.expires_at,
        job.result_ttl_ms,
        job.namespace,
    )


def _insert_columns(jobs: Sequence[NewJob]) -> list[list[Any]]:
    """``_insert_params`` of every job, transposed into one list per column (for unnest)."""
    return [list(column) for column in zip(*map(_insert_params, jobs), strict=True)]


def require_enqueueable(job: object) -> NewJob:
    """The checks ``enqueue`` makes before touching the database."""
    checked = require_new_job(job)
    if checked.id in checked.depends_on:
        raise DependencyError(f"job {checked.id} cannot depend on itself")
    return checked


def enqueue(conns: PgConnections, stmts: q.Statements, feed: ChangeFeed, job: NewJob) -> JobRecord:
    """``Storage.enqueue``: one job, with its unique key and dependencies."""
    require_enqueueable(job)
    params = _insert_params(job)
    # The job id is made by the client, so an attempt lost with its connection can be
    # told apart from one that committed: ``recover`` looks the id up before a retry.
    recover = _stored_job(conns, stmts, job.id)
    if job.depends_on:
        holder = conns.transact(
            lambda cursor: _insert_with_dependencies(cursor, conns, stmts, job), recover=recover
        )
    elif job.unique_key is not None:
        holder = conns.run(
            lambda cursor: _insert_unless_key_held(cursor, conns, stmts, job, params),
            recover=recover,
        )
    else:
        holder = conns.run(lambda cursor: _insert_plain(cursor, stmts, params), recover=recover)
    if holder is not None and holder.id != job.id:
        return holder
    feed.notify()
    return holder or JobRecord.from_new(job)


def _insert_plain(cursor: Cursor, stmts: q.Statements, params: tuple[Any, ...]) -> JobRecord | None:
    cursor.execute(stmts.insert_job, params)
    return None


def _stored_job(
    conns: PgConnections, stmts: q.Statements, job_id: str
) -> Callable[[Cursor], JobRecord | None]:
    """``recover`` for an enqueue: the job as stored, when a lost attempt committed it."""

    def recover(cursor: Cursor) -> JobRecord | None:
        row = cursor.execute(stmts.select_job, (job_id,)).fetchone()
        return None if row is None else convert.row_to_job(row, conns.clock.offset_ms)

    return recover


def enqueue_in(
    cursor: Cursor, conns: PgConnections, stmts: q.Statements, job: NewJob
) -> tuple[JobRecord, bool]:
    """``enqueue`` inside the caller's transaction (``require_enqueueable`` already
    checked): the stored record, and whether ``job`` was inserted (False: an active job
    holds its unique key and is returned instead)."""
    holder = _insert_with_dependencies(cursor, conns, stmts, job)
    if holder is not None:
        return holder, False
    return JobRecord.from_new(job), True


def _insert_unless_key_held(
    cursor: Cursor, conns: PgConnections, stmts: q.Statements, job: NewJob, params: tuple[Any, ...]
) -> JobRecord | None:
    """Insert ``job`` unless an active job holds its unique key; return that holder, or
    None once inserted. Atomic under concurrent producers: the partial unique index
    decides, and ON CONFLICT waits for a racing insert to commit or roll back."""
    for _ in range(_UNIQUE_ATTEMPTS):
        if cursor.execute(stmts.insert_job_unless_key_held, params).fetchone():
            return None
        rows = cursor.execute(stmts.select_active_by_unique_key, (job.unique_key,))
        holders = [convert.row_to_job(row, conns.clock.offset_ms) for row in rows]
        if holders:
            return holders[0]
    raise StorageError(f"unique_key {job.unique_key!r} kept changing hands; not enqueued")


def _insert_with_dependencies(
    cursor: Cursor, conns: PgConnections, stmts: q.Statements, job: NewJob
) -> JobRecord | None:
    """Insert ``job`` (unique key and dependencies included; without either, a plain
    insert); return the holder of its unique key instead when there is one."""
    params = _insert_params(job)
    if job.unique_key is not None:
        holder = _insert_unless_key_held(cursor, conns, stmts, job, params)
        if holder is not None:
            return holder
        transitions.lock_dependencies(cursor, stmts, job.depends_on)
    else:
        transitions.lock_dependencies(cursor, stmts, job.depends_on)
        cursor.execute(stmts.insert_job, params)
    transitions.insert_dependencies(cursor, stmts, (job,))
    return None


def enqueue_many(
    conns: PgConnections, stmts: q.Statements, feed: ChangeFeed, jobs: Sequence[NewJob]
) -> list[JobRecord]:
    """``Storage.enqueue_many``: every job or none, in one statement or one transaction."""
    batch = [require_new_job(job) for job in jobs]
    if not batch:
        return []
    outside_dependencies = validation.batch_outside_dependencies(batch)
    chunks = [
        _insert_columns(batch[start : start + _INSERT_CHUNK])
        for start in range(0, len(batch), _INSERT_CHUNK)
    ]
    has_dependencies = any(job.depends_on for job in batch)

    def insert_all(cursor: Cursor) -> bool:
        transitions.lock_dependencies(cursor, stmts, outside_dependencies)
        for columns in chunks:
            cursor.execute(stmts.insert_jobs, columns)
        if has_dependencies:
            transitions.insert_dependencies(cursor, stmts, batch)
        return True

    _store(conns, stmts, insert_all, batch[0].id, single=len(chunks) == 1 and not has_dependencies)
    feed.notify()
    return [JobRecord.from_new(job) for job in batch]


def insert_jobs_in(cursor: Cursor, stmts: q.Statements, jobs: Sequence[NewJob]) -> None:
    """``enqueue_many`` of checked jobs inside the caller's transaction (a workflow run's
    jobs are written with its nodes)."""
    if not jobs:
        return
    transitions.lock_dependencies(cursor, stmts, validation.batch_outside_dependencies(jobs))
    for start in range(0, len(jobs), _INSERT_CHUNK):
        cursor.execute(stmts.insert_jobs, _insert_columns(jobs[start : start + _INSERT_CHUNK]))
    if any(job.depends_on for job in jobs):
        transitions.insert_dependencies(cursor, stmts, jobs)


def enqueue_coalescing(
    conns: PgConnections,
    stmts: q.Statements,
    feed: ChangeFeed,
    jobs: Sequence[NewJob],
    max_pending: int | None = None,
) -> list[tuple[JobRecord, bool]]:
    """``Storage.enqueue_coalescing``: one transaction; each row inserted unless an active
    job (an earlier row included: the transaction sees its own inserts) holds its key.
    Under a ``max_pending`` cap the queue's cap lock is held over the count and the rows."""
    batch = validation.require_coalescing_batch(jobs)
    if max_pending is not None:
        validation.require_capped_jobs(batch, max_pending, True)
    if not batch:
        return []

    def insert_each(cursor: Cursor) -> list[tuple[JobRecord, bool]]:
        if max_pending is not None:
            _check_cap(cursor, stmts, batch, max_pending)
        return [enqueue_in(cursor, conns, stmts, job) for job in batch]

    def recover(cursor: Cursor) -> list[tuple[JobRecord, bool]] | None:
        # A lost attempt that inserted anything committed the whole transaction: each row
        # is then its own job, or the holder of its key.
        ids = [job.id for job in batch]
        stored = {
            row.id: row
            for row in (
                convert.row_to_job(found, conns.clock.offset_ms)
                for job_id in ids
                for found in cursor.execute(stmts.select_job, (job_id,)).fetchall()
            )
        }
        if not stored:
            return None
        outcomes: list[tuple[JobRecord, bool]] = []
        for job in batch:
            if job.id in stored:
                outcomes.append((stored[job.id], True))
                continue
            rows = cursor.execute(stmts.select_active_by_unique_key, (job.unique_key,))
            holder = rows.fetchone()
            if holder is None:
                return None
            outcomes.append((convert.row_to_job(holder, conns.clock.offset_ms), False))
        return outcomes

    outcomes = conns.transact(insert_each, recover=recover)
    if any(inserted for _, inserted in outcomes):
        feed.notify()
    return outcomes


# Producers under one queue's cap take this transaction-scoped lock, so counting its pending
# jobs and inserting are one step for them; the key names the schema and the queue.
_LOCK_QUEUE_CAP = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"
_COUNT_PENDING_IN_QUEUE = "SELECT count(*) FROM {s}.jobs WHERE queue = %s AND status = 0"


def enqueue_capped(
    conns: PgConnections,
    stmts: q.Statements,
    feed: ChangeFeed,
    request: tuple[Sequence[NewJob], int, bool],
) -> list[JobRecord]:
    """``Storage.enqueue_capped`` (``request``: the jobs, the cap and ``batch``): one
    transaction holding the queue's cap lock over the count and the insert."""
    jobs, max_pending, batch = request
    checked = validation.require_capped_jobs(jobs, max_pending, batch)
    if not checked:
        return []
    outside = validation.batch_outside_dependencies(checked)

    def insert(cursor: Cursor) -> list[JobRecord]:
        _check_cap(cursor, stmts, checked, max_pending)
        if not batch:
            return [enqueue_in(cursor, conns, stmts, checked[0])[0]]
        transitions.lock_dependencies(cursor, stmts, outside)
        for start in range(0, len(checked), _INSERT_CHUNK):
            cursor.execute(
                stmts.insert_jobs, _insert_columns(checked[start : start + _INSERT_CHUNK])
            )
        transitions.insert_dependencies(cursor, stmts, checked)
        return [JobRecord.from_new(job) for job in checked]

    records = conns.transact(insert, recover=_capped_recover(conns, stmts, checked))
    feed.notify()
    return records


def _check_cap(cursor: Cursor, stmts: q.Statements, jobs: list[NewJob], cap: int) -> None:
    """Take the cap lock of the jobs' queue (held to the end of the transaction) and raise
    ``QueueFullError`` when its pending jobs and ``jobs`` would pass ``cap``."""
    queue = jobs[0].queue
    cursor.execute(_LOCK_QUEUE_CAP, (f"taskito-cap:{stmts.schema}:{queue}",))
    row = cursor.execute(q.render(_COUNT_PENDING_IN_QUEUE, stmts.schema), (queue,)).fetchone()
    pending = 0 if row is None else int(row[0])
    if pending + len(jobs) > cap:
        raise QueueFullError(queue, pending, len(jobs), cap)


def _capped_recover(
    conns: PgConnections, stmts: q.Statements, jobs: list[NewJob]
) -> Callable[[Cursor], list[JobRecord] | None]:
    """``recover`` for a capped enqueue: what a lost attempt stored, when it committed."""
    first = _stored_job(conns, stmts, jobs[0].id)

    def recover(cursor: Cursor) -> list[JobRecord] | None:
        stored = first(cursor)
        if stored is None:
            return None
        return [stored, *(JobRecord.from_new(job) for job in jobs[1:])]

    return recover


def enqueue_batch(
    conns: PgConnections, stmts: q.Statements, feed: ChangeFeed, batch: JobBatch
) -> None:
    """``Storage.enqueue_batch``: ``enqueue_many`` of the batch's jobs, its columns sent as
    they are (the shared values repeated), with no object per job."""
    validation.require_job_batch(batch)
    total = len(batch.ids)
    if not total:
        return
    chunks = [
        _batch_columns(batch, start, min(start + _INSERT_CHUNK, total))
        for start in range(0, total, _INSERT_CHUNK)
    ]

    def insert_all(cursor: Cursor) -> bool:
        for columns in chunks:
            cursor.execute(stmts.insert_jobs, columns)
        return True

    _store(conns, stmts, insert_all, batch.ids[0], single=len(chunks) == 1)
    feed.notify()


def _batch_columns(batch: JobBatch, start: int, stop: int) -> list[list[Any]]:
    """Rows ``start:stop`` of ``batch`` as the columns of ``stmts.insert_jobs``."""
    count = stop - start
    shared = (
        batch.queue,
        batch.task_name,
        batch.priority,
        batch.created_at,
        batch.scheduled_at,
        batch.max_retries,
        batch.timeout_ms,
        None,  # unique_key
        batch.metadata,
        batch.expires_at,
        batch.result_ttl_ms,
        batch.namespace,
    )
    repeated = [[value] * count for value in shared]
    return [batch.ids[start:stop], *repeated[:2], batch.payloads[start:stop], *repeated[2:]]


def _store(
    conns: PgConnections,
    stmts: q.Statements,
    insert_all: Callable[[Cursor], bool],
    first_id: str,
    *,
    single: bool,
) -> None:
    """Run ``insert_all``: as one statement (atomic alone) when ``single``, else in one
    transaction; after a lost connection, done already when the first job is stored."""
    first_stored = _stored_job(conns, stmts, first_id)

    def recover(cursor: Cursor) -> bool | None:
        # All or nothing: the first job stored means the lost attempt stored every one.
        return None if first_stored(cursor) is None else True

    if single:
        conns.run(insert_all, recover=recover)
    else:
        conns.transact(insert_all, recover=recover)
