"""The operator's half of the SQLite backend (``Storage``, storage/base.py): requeue, dead-letter
management, keyset pages and retention.

``SqliteOperations`` is a mixin that ``SqliteStorage`` inherits, on the same connections
(``self._conns``): each write is one ``BEGIN IMMEDIATE`` transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from taskito.job import JobRecord
from taskito.storage import operation_rules as rules
from taskito.storage.base import DeadLetter, JobFilter, LogEntry
from taskito.storage.operations import Cursor, HistoryKind
from taskito.storage.sqlite import queries as q
from taskito.storage.sqlite.connections import SqliteConnections

_REQUEUE = (
    "UPDATE jobs SET status = 0, scheduled_at = ?, started_at = NULL, completed_at = NULL,"
    " error = NULL, cancel_requested = 0, worker_id = NULL, lease_expires_at = NULL"
    " WHERE id = ? AND status = 1 AND namespace IS ? RETURNING retry_count, worker_id"
)
# RETURNING sees the row after the update; the worker is read first.
_RUNNING_WORKER = "SELECT worker_id FROM jobs WHERE id = ? AND status = 1 AND namespace IS ?"
_DELETE_DEAD = "DELETE FROM dead_letter WHERE id = ? AND namespace IS ?"
_DEAD_PAGE = (
    f"SELECT {q.DEAD_LETTER_COLUMNS} FROM dead_letter WHERE namespace IS ?"
    " AND (? IS NULL OR task_name = ?) AND (? IS NULL OR (failed_at, id) < (?, ?))"
    " ORDER BY failed_at DESC, id DESC LIMIT ?"
)
_PURGE_DEAD_BY_TASK = "DELETE FROM dead_letter WHERE task_name = ? AND namespace IS ?"
_DEAD_DUE = (
    f"SELECT {q.DEAD_LETTER_COLUMNS} FROM dead_letter WHERE namespace IS ? AND failed_at < ?"
    " AND dlq_retry_count < ? AND (? IS NULL OR queue IN (SELECT value FROM json_each(?)))"
    " ORDER BY failed_at, id LIMIT ?"
)
_LOG_PAGE = (
    f"SELECT {q.LOG_COLUMNS} FROM task_logs WHERE (? IS NULL OR task_name = ?)"
    " AND (? IS NULL OR level = ?) AND (? IS NULL OR (logged_at, id) < (?, ?))"
    " ORDER BY logged_at DESC, id DESC LIMIT ?"
)
_ARCHIVED_PAGE = (
    f"SELECT {q.JOB_COLUMNS} FROM archived_jobs WHERE (? IS NULL OR (completed_at, id) < (?, ?))"
    " ORDER BY completed_at DESC, id DESC LIMIT ?"
)
# Per kind: the table and the time column a window ages its rows by.
_HISTORY: dict[HistoryKind, tuple[str, str]] = {
    HistoryKind.COMPLETED_JOBS: ("jobs", "completed_at"),
    HistoryKind.DEAD_LETTERS: ("dead_letter", "failed_at"),
    HistoryKind.JOB_ERRORS: ("job_errors", "failed_at"),
    HistoryKind.TASK_LOGS: ("task_logs", "logged_at"),
    HistoryKind.TASK_METRICS: ("task_metrics", "finished_at"),
}
_DELETE_EDGES = "DELETE FROM job_dependencies WHERE job_id = ? OR depends_on_job_id = ?"


class SqliteOperations:
    """The operator's tools of ``Storage`` on the connections of a ``SqliteStorage``."""

    _conns: SqliteConnections

    def _notify(self) -> None:
        self._conns.notifier.notify()

    def requeue_job(self, job_id: str, namespace: str | None, now: int) -> bool:
        job_id, namespace, now = rules.requeue_args(job_id, namespace, now)
        with self._conns.write(notify=False) as conn:
            held = conn.execute(_RUNNING_WORKER, (job_id, namespace)).fetchone()
            if held is None:
                return False
            row = conn.execute(_REQUEUE, (now, job_id, namespace)).fetchone()
            reason = rules.requeue_reason(held[0])
            conn.execute(q.INSERT_JOB_ERROR, (job_id, row[0], reason, now))
        self._notify()
        return True

    def delete_dead(self, dead_id: str, namespace: str | None) -> bool:
        dead_id, namespace = rules.dead_args(dead_id, namespace)
        with self._conns.write(notify=False) as conn:
            return conn.execute(_DELETE_DEAD, (dead_id, namespace)).rowcount == 1

    def dead_letters_after(
        self,
        limit: int,
        after: Cursor | None,
        task_name: str | None,
        namespace: str | None,
    ) -> list[DeadLetter]:
        limit, after, task_name, namespace = rules.page_args(limit, after, task_name, namespace)
        key, row_id = (None, None) if after is None else after
        params = (namespace, task_name, task_name, key, key, row_id, limit)
        with self._conns.read() as conn:
            return [q.row_to_dead_letter(row) for row in conn.execute(_DEAD_PAGE, params)]

    def purge_dead_by_task(self, task_name: str, namespace: str | None) -> int:
        task_name, namespace = rules.dead_args(task_name, namespace, name="task_name")
        with self._conns.write(notify=False) as conn:
            return conn.execute(_PURGE_DEAD_BY_TASK, (task_name, namespace)).rowcount

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
        listed = None if queue_list is None else q.json_list(queue_list)
        params = (namespace, failed_before, max_auto_retries, listed, listed, limit)
        with self._conns.read() as conn:
            return [q.row_to_dead_letter(row) for row in conn.execute(_DEAD_DUE, params)]

    def list_jobs_after(
        self, filter: JobFilter, limit: int, after: Cursor | None
    ) -> list[JobRecord]:
        filter, limit, after = rules.jobs_page_args(filter, limit, after)
        sql, params = q.list_jobs_query(filter, limit, 0)
        sql, params = _keyset(sql, params, after)
        with self._conns.read() as conn:
            return [q.row_to_job(row) for row in conn.execute(sql, params)]

    def list_archived_after(self, limit: int, after: Cursor | None) -> list[JobRecord]:
        limit, after = rules.archived_page_args(limit, after)
        key, row_id = (None, None) if after is None else after
        with self._conns.read() as conn:
            rows = conn.execute(_ARCHIVED_PAGE, (key, key, row_id, limit))
            return [q.row_to_job(row) for row in rows]

    def query_logs_after(
        self,
        task_name: str | None,
        level: str | None,
        limit: int,
        after: Cursor | None,
    ) -> list[LogEntry]:
        limit, after, task_name, level = rules.log_page_args(limit, after, task_name, level)
        key, row_id = (None, None) if after is None else (after[0], int(after[1]))
        params = (task_name, task_name, level, level, key, key, row_id, limit)
        with self._conns.read() as conn:
            return [q.row_to_log(row) for row in conn.execute(_LOG_PAGE, params)]

    def count_history(self, kind: HistoryKind, before: int) -> int:
        kind, before = rules.history_args(kind, before)
        table, column = _HISTORY[kind]
        sql = f"SELECT COUNT(*) FROM {table} WHERE {_aged(kind, column)}"
        with self._conns.read() as conn:
            return int(conn.execute(sql, (before,)).fetchone()[0])

    def purge_history(self, kind: HistoryKind, before: int, limit: int) -> int:
        kind, before, limit = rules.purge_args(kind, before, limit)
        table, column = _HISTORY[kind]
        key = "id" if kind is HistoryKind.COMPLETED_JOBS else "rowid"
        select = f"SELECT {key} FROM {table} WHERE {_aged(kind, column)} ORDER BY {column} LIMIT ?"
        with self._conns.write(notify=False) as conn:
            keys = [row[0] for row in conn.execute(select, (before, limit))]
            if kind is HistoryKind.COMPLETED_JOBS:
                conn.executemany(_DELETE_EDGES, [(key_, key_) for key_ in keys])
            conn.executemany(f"DELETE FROM {table} WHERE {key} = ?", [(k,) for k in keys])
        return len(keys)


def _aged(kind: HistoryKind, column: str) -> str:
    aged = f"{column} < ?"
    return f"status = 2 AND {aged}" if kind is HistoryKind.COMPLETED_JOBS else aged


def _keyset(sql: str, params: list[Any], after: Cursor | None) -> tuple[str, list[Any]]:
    """``list_jobs_query``'s SELECT bounded strictly before the cursor, without an offset."""
    head, _, _ = sql.partition(" ORDER BY ")
    if after is not None:
        joiner = " AND " if " WHERE " in head else " WHERE "
        head += f"{joiner}(created_at, id) < (?, ?)"
        params = [*params[:-2], after[0], after[1], params[-2]]
    else:
        params = params[:-1]
    return f"{head} ORDER BY created_at DESC, id DESC LIMIT ?", params
