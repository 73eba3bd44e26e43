"""Debounce on the PostgreSQL backend (``Storage.enqueue_debounced``): slide the pending,
never-claimed job of a (task, namespace, key), or insert one, in one transaction.

The partial unique index ``uq_jobs_debounce`` (migration 10) decides between producers that
race: an insert that meets a key another transaction inserted waits for it to commit, does
nothing, and the loop slides the job it committed instead. Like ``enqueue``, this module
imports no driver module at import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from taskito.exceptions import StorageError
from taskito.job import JobRecord, NewJob
from taskito.storage import validation
from taskito.storage.postgres import enqueue, transitions
from taskito.storage.postgres import queries as q
from taskito.storage.postgres import records as convert

if TYPE_CHECKING:
    from taskito.storage.postgres.connections import Cursor, PgConnections
    from taskito.storage.postgres.notify import ChangeFeed

# The terms of uq_jobs_debounce: a job pending and never claimed, of one task and namespace.
_HOLDS_KEY = (
    "task_name = %b AND coalesce(namespace, '') = %b AND debounce_key = %b"
    " AND debounce_key IS NOT NULL AND status = 0 AND attempt = 0"
)
_SLIDE = (
    "UPDATE {s}.jobs SET scheduled_at = least(%b, created_at + %b),"
    " payload = coalesce(%b, payload) WHERE " + _HOLDS_KEY + " RETURNING " + q.JOB_COLUMNS
)
_INSERT = (
    "INSERT INTO {s}.jobs (id, queue, task_name, payload, priority, created_at, scheduled_at,"
    " max_retries, timeout_ms, unique_key, metadata, expires_at, result_ttl_ms, namespace,"
    " debounce_key) VALUES (" + ", ".join(["%b"] * 15) + ")"
    " ON CONFLICT (task_name, (coalesce(namespace, '')), debounce_key)"
    " WHERE debounce_key IS NOT NULL AND status = 0 AND attempt = 0 DO NOTHING RETURNING 1"
)
# A producer that loses the race for a key slides the winner's job; a key whose job is
# claimed between our conflict and our slide is tried again, a few times at most.
_ATTEMPTS = 10


@dataclass(frozen=True, slots=True)
class Debounce:
    """One ``enqueue_debounced`` call, checked (``validation.require_debounced``)."""

    job: NewJob
    key: str
    window_ms: int
    max_wait_ms: int
    replace_payload: bool
    now: int
    max_pending: int | None


def enqueue_debounced(
    conns: PgConnections, stmts: q.Statements, feed: ChangeFeed, call: Debounce
) -> tuple[JobRecord, bool]:
    """``Storage.enqueue_debounced``: one transaction; after a lost connection, a job the
    lost attempt inserted is found by its id (made by the client) and returned."""
    validation.require_debounced(
        call.job,
        call.key,
        call.window_ms,
        call.max_wait_ms,
        call.replace_payload,
        call.now,
        call.max_pending,
    )
    slide, insert = q.render(_SLIDE, stmts.schema), q.render(_INSERT, stmts.schema)

    def work(cursor: Cursor) -> tuple[JobRecord, bool]:
        for _ in range(_ATTEMPTS):
            slid = _slide(cursor, conns, slide, call)
            if slid is not None:
                return slid, True
            if _insert(cursor, stmts, insert, call):
                return JobRecord.from_new(call.job), False
        raise StorageError(f"debounce key {call.key!r} kept changing hands; not enqueued")

    stored = enqueue._stored_job(conns, stmts, call.job.id)

    def recover(cursor: Cursor) -> tuple[JobRecord, bool] | None:
        record = stored(cursor)
        return None if record is None else (record, False)

    outcome = conns.transact(work, recover=recover)
    feed.notify()
    return outcome


def _slide(cursor: Cursor, conns: PgConnections, slide: str, call: Debounce) -> JobRecord | None:
    job = call.job
    payload = bytes(job.payload) if call.replace_payload else None
    params = (
        call.now + call.window_ms,
        call.max_wait_ms,
        payload,
        job.task_name,
        job.namespace or "",
        call.key,
    )
    row = cursor.execute(slide, params).fetchone()
    return None if row is None else convert.row_to_job(row, conns.clock.offset_ms)


def _insert(cursor: Cursor, stmts: q.Statements, insert: str, call: Debounce) -> bool:
    """Insert the job holding its key (its cap and dependencies checked first); False when
    another producer's job holds the key."""
    job = call.job
    if call.max_pending is not None:
        enqueue._check_cap(cursor, stmts, [job], call.max_pending)
    transitions.lock_dependencies(cursor, stmts, job.depends_on)
    if cursor.execute(insert, (*enqueue._insert_params(job), call.key)).fetchone() is None:
        return False
    transitions.insert_dependencies(cursor, stmts, (job,))
    return True


__all__ = ["Debounce", "enqueue_debounced"]
