"""The operator's half of the PostgreSQL backend (``Storage``, storage/base.py): requeue,
dead-letter management, keyset pages and retention.

``PostgresOperations`` is a mixin that ``PostgresStorage`` inherits, on the same pool. SQL
shapes are rendered once per schema and shape (a NULL parameter never decides a shape at run
time, so every parameter has a type the server can infer). Like ``queries``, this module
imports no driver module at import time.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from taskito.job import JobRecord
from taskito.storage import operation_rules as rules
from taskito.storage.base import DeadLetter, JobFilter, LogEntry
from taskito.storage.operations import Cursor, HistoryKind
from taskito.storage.postgres import queries as q
from taskito.storage.postgres import records as convert

if TYPE_CHECKING:
    from taskito.storage.postgres.connections import PgConnections
    from taskito.storage.postgres.notify import ChangeFeed

# The worker is read in the same statement, from the row as it was (the CTE's snapshot).
_REQUEUE = (
    "WITH old AS (SELECT id, worker_id, retry_count FROM {s}.jobs"
    " WHERE id = %b AND status = 1 AND {ns} FOR UPDATE),"
    " moved AS (UPDATE {s}.jobs AS j SET status = 0, scheduled_at = %b, started_at = NULL,"
    " completed_at = NULL, error = NULL, cancel_requested = 0, worker_id = NULL,"
    " lease_expires_at = NULL FROM old WHERE j.id = old.id AND j.status = 1"
    " RETURNING old.id, old.worker_id, old.retry_count),"
    " errors AS (INSERT INTO {s}.job_errors (job_id, attempt, error, failed_at)"
    " SELECT id, retry_count, 'requeued by an operator (worker ' || coalesce(worker_id,"
    " 'unknown') || ')', %b FROM moved)"
    + q.notify_if("moved")
    + f" SELECT count(*), {q.NOTIFIED} FROM moved"
)
_DEAD_COLUMNS = q.DEAD_LETTER_COLUMNS
# Per kind: the table and the time column a window ages its rows by.
_HISTORY: dict[HistoryKind, tuple[str, str]] = {
    HistoryKind.COMPLETED_JOBS: ("jobs", "completed_at"),
    HistoryKind.DEAD_LETTERS: ("dead_letter", "failed_at"),
    HistoryKind.JOB_ERRORS: ("job_errors", "failed_at"),
    HistoryKind.TASK_LOGS: ("task_logs", "logged_at"),
    HistoryKind.TASK_METRICS: ("task_metrics", "finished_at"),
}


def _namespace_term(namespace: str | None) -> str:
    return "namespace IS NULL" if namespace is None else "namespace = %b"


def _with_namespace(params: list[Any], namespace: str | None) -> list[Any]:
    return params if namespace is None else [*params, namespace]


@lru_cache(maxsize=256)
def _statement(schema: str, template: str, channel: str = "", token: str = "") -> str:
    return q.render(template, schema, channel, token)


class PostgresOperations:
    """The operator's tools of ``Storage`` on the backend's pool (``PostgresStorage`` sets
    the attributes)."""

    schema: str
    _conns: PgConnections
    _stmts: q.Statements
    _feed: ChangeFeed
    _channel: str
    _token: str

    def _rows(self, template: str, params: Sequence[Any]) -> list[Any]:
        query = _statement(self.schema, template)
        return self._conns.run(
            lambda cursor: cursor.execute(query, params).fetchall(), idempotent=True
        )

    def _write(self, template: str, params: Sequence[Any]) -> int:
        query = _statement(self.schema, template, self._channel, self._token)
        return self._conns.run(lambda cursor: cursor.execute(query, params).rowcount)

    def requeue_job(self, job_id: str, namespace: str | None, now: int) -> bool:
        job_id, namespace, now = rules.requeue_args(job_id, namespace, now)
        template = _REQUEUE.replace("{ns}", _namespace_term(namespace))
        query = _statement(self.schema, template, self._channel, self._token)
        params = [job_id, *_with_namespace([], namespace), now, now]
        row = self._conns.run(lambda cursor: cursor.execute(query, params).fetchone())
        if row is None or row[0] == 0:
            return False
        self._feed.notify()
        return True

    def delete_dead(self, dead_id: str, namespace: str | None) -> bool:
        dead_id, namespace = rules.dead_args(dead_id, namespace)
        template = f"DELETE FROM {{s}}.dead_letter WHERE id = %b AND {_namespace_term(namespace)}"
        return self._write(template, _with_namespace([dead_id], namespace)) == 1

    def dead_letters_after(
        self,
        limit: int,
        after: Cursor | None,
        task_name: str | None,
        namespace: str | None,
    ) -> list[DeadLetter]:
        limit, after, task_name, namespace = rules.page_args(limit, after, task_name, namespace)
        terms, params = [_namespace_term(namespace)], _with_namespace([], namespace)
        if task_name is not None:
            terms.append("task_name = %b")
            params.append(task_name)
        if after is not None:
            terms.append("(failed_at, id) < (%b, %b)")
            params += [after[0], after[1]]
        template = (
            f"SELECT {_DEAD_COLUMNS} FROM {{s}}.dead_letter WHERE {' AND '.join(terms)}"
            " ORDER BY failed_at DESC, id DESC LIMIT %b"
        )
        rows = self._rows(template, [*params, limit])
        return [convert.row_to_dead_letter(row) for row in rows]

    def purge_dead_by_task(self, task_name: str, namespace: str | None) -> int:
        task_name, namespace = rules.dead_args(task_name, namespace, name="task_name")
        template = (
            f"DELETE FROM {{s}}.dead_letter WHERE task_name = %b AND {_namespace_term(namespace)}"
        )
        return self._write(template, _with_namespace([task_name], namespace))

    def dead_letters_due(
        self,
        namespace: str | None,
        queues: Sequence[str] | None,
        failed_before: int,
        max_auto_retries: int,
        limit: int,
    ) -> list[DeadLetter]:
        args = rules.due_args(namespace, queues, failed_before, max_auto_retries, limit)
        namespace, queue_list, failed_before, max_auto_retries, limit = args
        terms = [_namespace_term(namespace), "failed_at < %b", "dlq_retry_count < %b"]
        params = [*_with_namespace([], namespace), failed_before, max_auto_retries]
        if queue_list is not None:
            terms.append("queue = ANY(%b::text[])")
            params.append(queue_list)
        template = (
            f"SELECT {_DEAD_COLUMNS} FROM {{s}}.dead_letter WHERE {' AND '.join(terms)}"
            " ORDER BY failed_at, id LIMIT %b"
        )
        return [convert.row_to_dead_letter(row) for row in self._rows(template, [*params, limit])]

    def list_jobs_after(
        self, filter: JobFilter, limit: int, after: Cursor | None
    ) -> list[JobRecord]:
        filter, limit, after = rules.jobs_page_args(filter, limit, after)
        terms, params = q.list_jobs_terms(filter)
        terms_list = list(terms)
        if after is not None:
            terms_list.append("(created_at, id) < (%b, %b)")
            params = [*params, after[0], after[1]]
        where = f" WHERE {' AND '.join(terms_list)}" if terms_list else ""
        template = (
            f"SELECT {q.JOB_COLUMNS} FROM {{s}}.jobs{where}"
            " ORDER BY created_at DESC, id DESC LIMIT %b"
        )
        offset_ms = self._conns.clock.offset_ms
        return [
            convert.row_to_job(row, offset_ms) for row in self._rows(template, [*params, limit])
        ]

    def list_archived_after(self, limit: int, after: Cursor | None) -> list[JobRecord]:
        limit, after = rules.archived_page_args(limit, after)
        bound = "" if after is None else " WHERE (completed_at, id) < (%b, %b)"
        template = (
            f"SELECT {q.JOB_COLUMNS} FROM {{s}}.archived_jobs{bound}"
            " ORDER BY completed_at DESC, id DESC LIMIT %b"
        )
        params = [limit] if after is None else [after[0], after[1], limit]
        offset_ms = self._conns.clock.offset_ms
        return [convert.row_to_job(row, offset_ms) for row in self._rows(template, params)]

    def query_logs_after(
        self,
        task_name: str | None,
        level: str | None,
        limit: int,
        after: Cursor | None,
    ) -> list[LogEntry]:
        limit, after, task_name, level = rules.log_page_args(limit, after, task_name, level)
        terms: list[str] = []
        params: list[Any] = []
        for term, value in (("task_name = %b", task_name), ("level = %b", level)):
            if value is not None:
                terms.append(term)
                params.append(value)
        if after is not None:
            terms.append("(logged_at, id) < (%b, %b)")
            params += [after[0], int(after[1])]
        where = f" WHERE {' AND '.join(terms)}" if terms else ""
        template = (
            f"SELECT {q.LOG_COLUMNS} FROM {{s}}.task_logs{where}"
            " ORDER BY logged_at DESC, id DESC LIMIT %b"
        )
        return [convert.row_to_log(row) for row in self._rows(template, [*params, limit])]

    def count_history(self, kind: HistoryKind, before: int) -> int:
        kind, before = rules.history_args(kind, before)
        table, column = _HISTORY[kind]
        template = f"SELECT count(*) FROM {{s}}.{table} WHERE {_aged(kind, column)}"
        return int(self._rows(template, [before])[0][0])

    def purge_history(self, kind: HistoryKind, before: int, limit: int) -> int:
        kind, before, limit = rules.purge_args(kind, before, limit)
        table, column = _HISTORY[kind]
        chosen = (
            f"SELECT id FROM {{s}}.{table} WHERE {_aged(kind, column)} ORDER BY {column} LIMIT %b"
        )
        if kind is HistoryKind.COMPLETED_JOBS:
            template = (
                f"WITH gone AS (DELETE FROM {{s}}.jobs WHERE id IN ({chosen}) RETURNING id),"
                " edges AS (DELETE FROM {s}.job_dependencies WHERE job_id IN"
                " (SELECT id FROM gone) OR depends_on_job_id IN (SELECT id FROM gone))"
                " SELECT count(*) FROM gone"
            )
            query = _statement(self.schema, template)
            rows = self._conns.run(lambda cursor: cursor.execute(query, [before, limit]).fetchall())
            return int(rows[0][0])
        template = f"DELETE FROM {{s}}.{table} WHERE id IN ({chosen})"
        return self._write(template, [before, limit])


def _aged(kind: HistoryKind, column: str) -> str:
    aged = f"{column} < %b"
    return f"status = 2 AND {aged}" if kind is HistoryKind.COMPLETED_JOBS else aged
