"""The reading half of the PostgreSQL backend: jobs, counts, dependencies, cancel requests,
logs, errors, dead letters and workers. Every read may run twice when it met a connection that
had gone stale (see ``PgConnections.run``).

``PostgresReads`` is a mixin of ``PostgresStorage``; it imports no driver module at import time
so that ``taskito.storage.postgres`` imports without psycopg (DESIGN invariant 9).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from taskito.job import JobRecord, JobStatus
from taskito.storage.base import DeadLetter, JobError, JobFilter, LogEntry, WorkerInfo
from taskito.storage.postgres import queries as q
from taskito.storage.postgres import records as convert
from taskito.storage.validation import require_count, require_text

if TYPE_CHECKING:
    from taskito.storage.postgres.connections import PgConnections


class PostgresReads:
    """Read-only methods of the ``Storage`` contract, run on ``_conns`` with ``_stmts``."""

    schema: str
    _conns: PgConnections
    _stmts: q.Statements

    def _rows(self, query: str, params: tuple[Any, ...] | list[Any]) -> list[tuple[Any, ...]]:
        return self._conns.run(
            lambda cursor: cursor.execute(query, params).fetchall(), idempotent=True
        )

    def _jobs(self, rows: list[tuple[Any, ...]]) -> list[JobRecord]:
        offset_ms = self._conns.clock.offset_ms
        return [convert.row_to_job(row, offset_ms) for row in rows]

    def get_job(self, job_id: str) -> JobRecord | None:
        jobs = self._jobs(self._rows(self._stmts.select_job, (job_id,)))
        return jobs[0] if jobs else None

    def list_jobs(self, filter: JobFilter, limit: int, offset: int) -> list[JobRecord]:
        """Matching jobs, newest first. ``created_after``/``created_before`` are inclusive;
        ``*_like`` are case-insensitive substring matches."""
        if not isinstance(filter, JobFilter):
            raise TypeError(f"filter must be a JobFilter, got {type(filter).__name__}")
        require_count("limit", limit)
        require_count("offset", offset)
        terms, params = q.list_jobs_terms(filter)
        query = q.list_jobs_query(self.schema, terms)
        return self._jobs(self._rows(query, [*params, limit, offset]))

    def count_jobs(self, queue: str | None = None) -> dict[JobStatus, int]:
        if queue is None:
            rows = self._rows(self._stmts.count_by_status, ())
        else:
            rows = self._rows(self._stmts.count_by_status_in_queue, (queue,))
        counts = dict.fromkeys(JobStatus, 0)
        for code, count in rows:
            counts[JobStatus.from_code(code)] = count
        return counts

    def count_jobs_by_queue(self) -> dict[str, dict[JobStatus, int]]:
        by_queue: dict[str, dict[JobStatus, int]] = {}
        for queue, code, count in self._rows(self._stmts.count_by_queue_and_status, ()):
            counts = by_queue.setdefault(queue, dict.fromkeys(JobStatus, 0))
            counts[JobStatus.from_code(code)] = count
        return by_queue

    def dependencies(self, job_id: str) -> list[str]:
        return [row[0] for row in self._rows(self._stmts.select_dependencies, (job_id,))]

    def dependents(self, job_id: str) -> list[str]:
        return [row[0] for row in self._rows(self._stmts.select_dependents, (job_id,))]

    def cancel_requests(self, job_ids: Collection[str]) -> dict[str, bool]:
        wanted = list(set(job_ids))
        if not wanted:
            return {}
        rows = self._rows(self._stmts.select_cancel_requests, (wanted,))
        return {job_id: level > 1 for job_id, level in rows}

    def task_logs(self, job_id: str) -> list[LogEntry]:
        return [
            convert.row_to_log(row) for row in self._rows(self._stmts.select_job_logs, (job_id,))
        ]

    def query_logs(
        self, task_name: str | None, level: str | None, since: int, limit: int
    ) -> list[LogEntry]:
        require_count("limit", limit)
        query = q.query_logs_query(self.schema, task_name is not None, level is not None)
        params = [since, *(value for value in (task_name, level) if value is not None), limit]
        return [convert.row_to_log(row) for row in self._rows(query, params)]

    def job_errors(self, job_id: str) -> list[JobError]:
        rows = self._rows(self._stmts.select_job_errors, (job_id,))
        return [convert.row_to_error(row) for row in rows]

    def dead_letters(self, limit: int, offset: int) -> list[DeadLetter]:
        params = (require_count("limit", limit), require_count("offset", offset))
        rows = self._rows(self._stmts.select_dead_letters, params)
        return [convert.row_to_dead_letter(row) for row in rows]

    def dead_letter(self, dead_id: str) -> DeadLetter | None:
        rows = self._rows(self._stmts.select_dead_letter, (require_text("dead_id", dead_id),))
        return convert.row_to_dead_letter(rows[0]) if rows else None

    def list_workers(self) -> list[WorkerInfo]:
        return [convert.row_to_worker(row) for row in self._rows(self._stmts.select_workers, ())]
