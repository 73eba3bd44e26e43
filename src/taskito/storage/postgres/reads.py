"""The reading half of the PostgreSQL backend: jobs, counts, dependencies, cancel requests,
logs, errors and dead letters. Every read may run twice when it met a connection that
had gone stale (see ``PgConnections.run``).

Functions over the backend's pool (``PgConnections``) and statements (``queries.Statements``),
called by ``PostgresStorage``. This module imports no driver module at import time so that
``taskito.storage.postgres`` imports without psycopg (docs/architecture.md, invariant 9).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from taskito._checks import check_count, check_text
from taskito.job import JobRecord, JobStatus
from taskito.storage.base import DeadLetter, JobError, JobFilter, LogEntry
from taskito.storage.postgres import queries as q
from taskito.storage.postgres import records as convert
from taskito.storage.validation import check_job_cursor, check_page

if TYPE_CHECKING:
    from taskito.storage.postgres.connections import PgConnections


def _rows(
    conns: PgConnections, query: str, params: tuple[Any, ...] | list[Any]
) -> list[tuple[Any, ...]]:
    return conns.run(lambda cursor: cursor.execute(query, params).fetchall(), idempotent=True)


def _jobs(conns: PgConnections, rows: list[tuple[Any, ...]]) -> list[JobRecord]:
    offset_ms = conns.clock.offset_ms
    return [convert.row_to_job(row, offset_ms) for row in rows]


def get_job(conns: PgConnections, stmts: q.Statements, job_id: str) -> JobRecord | None:
    jobs = _jobs(conns, _rows(conns, stmts.select_job, (job_id,)))
    return jobs[0] if jobs else None


def list_jobs(
    conns: PgConnections, stmts: q.Statements, filter: JobFilter, limit: int, offset: int
) -> list[JobRecord]:
    """Matching jobs, newest first. ``created_after``/``created_before`` are inclusive;
    ``*_like`` are case-insensitive substring matches."""
    if not isinstance(filter, JobFilter):
        raise TypeError(f"filter must be a JobFilter, got {type(filter).__name__}")
    check_page(limit, offset)
    terms, params = q.list_jobs_terms(filter)
    query = q.list_jobs_query(stmts.schema, terms)
    return _jobs(conns, _rows(conns, query, [*params, limit, offset]))


def count_jobs(
    conns: PgConnections, stmts: q.Statements, queue: str | None = None
) -> dict[JobStatus, int]:
    if queue is None:
        rows = _rows(conns, stmts.count_by_status, ())
    else:
        rows = _rows(conns, stmts.count_by_status_in_queue, (queue,))
    counts = dict.fromkeys(JobStatus, 0)
    for code, count in rows:
        counts[JobStatus.from_code(code)] = count
    return counts


def count_jobs_by_queue(
    conns: PgConnections, stmts: q.Statements, include_complete: bool = True
) -> dict[str, dict[JobStatus, int]]:
    statuses = [s for s in JobStatus if include_complete or s is not JobStatus.COMPLETE]
    by_queue: dict[str, dict[JobStatus, int]] = {}
    if include_complete:
        rows = _rows(conns, stmts.count_by_queue_and_status, ())
    else:
        rows = _rows(conns, stmts.count_unfinished_by_queue, ())
        for (name,) in _rows(conns, stmts.queues_with_completed, ()):
            by_queue[name] = dict.fromkeys(statuses, 0)
    for queue, code, count in rows:
        counts = by_queue.setdefault(queue, dict.fromkeys(statuses, 0))
        counts[JobStatus.from_code(code)] = count
    return by_queue


def dependencies(conns: PgConnections, stmts: q.Statements, job_id: str) -> list[str]:
    return [row[0] for row in _rows(conns, stmts.select_dependencies, (job_id,))]


def dependents(conns: PgConnections, stmts: q.Statements, job_id: str) -> list[str]:
    return [row[0] for row in _rows(conns, stmts.select_dependents, (job_id,))]


def cancel_requests(
    conns: PgConnections, stmts: q.Statements, job_ids: Collection[str]
) -> dict[str, bool]:
    wanted = list(set(job_ids))
    if not wanted:
        return {}
    rows = _rows(conns, stmts.select_cancel_requests, (wanted,))
    return {job_id: level > 1 for job_id, level in rows}


def task_logs(conns: PgConnections, stmts: q.Statements, job_id: str) -> list[LogEntry]:
    return [convert.row_to_log(row) for row in _rows(conns, stmts.select_job_logs, (job_id,))]


def query_logs(
    conns: PgConnections,
    stmts: q.Statements,
    task_name: str | None,
    level: str | None,
    since: int,
    limit: int,
) -> list[LogEntry]:
    check_count("limit", limit, type_error=ValueError)
    query = q.query_logs_query(stmts.schema, task_name is not None, level is not None)
    params = [since, *(value for value in (task_name, level) if value is not None), limit]
    return [convert.row_to_log(row) for row in _rows(conns, query, params)]


def job_errors(conns: PgConnections, stmts: q.Statements, job_id: str) -> list[JobError]:
    rows = _rows(conns, stmts.select_job_errors, (job_id,))
    return [convert.row_to_error(row) for row in rows]


def dead_letters(
    conns: PgConnections,
    stmts: q.Statements,
    limit: int,
    offset: int,
    before: tuple[int, str] | None = None,
) -> list[DeadLetter]:
    page = check_page(limit, offset)
    cursor = check_job_cursor(before)
    if cursor is None:
        rows = _rows(conns, stmts.select_dead_letters, page)
    else:
        named = {"time": cursor[0], "id": cursor[1], "limit": page[0], "offset": page[1]}
        rows = conns.run(
            lambda c: c.execute(stmts.select_dead_letters_before, named).fetchall(),
            idempotent=True,
        )
    return [convert.row_to_dead_letter(row) for row in rows]


def dead_letter(conns: PgConnections, stmts: q.Statements, dead_id: str) -> DeadLetter | None:
    rows = _rows(conns, stmts.select_dead_letter, (check_text("dead_id", dead_id),))
    return convert.row_to_dead_letter(rows[0]) if rows else None
