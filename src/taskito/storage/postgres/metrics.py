"""Task metrics on PostgreSQL: reading a window of rows and purging the oldest. The rows are
written by ``finish_many``'s statement (``queries.FINISH_MANY``), with their outcomes.

Like ``queries``, this module imports no driver module at import time.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from taskito.job import OutcomeKind, TaskMetric
from taskito.storage.postgres.queries import render
from taskito.storage.validation import metric_purge, metric_query

if TYPE_CHECKING:
    from taskito.storage.postgres.connections import PgConnections

_COLUMNS = "job_id, attempt, task_name, queue, outcome, started_at, finished_at, wall_ns"
_SELECT = "SELECT " + _COLUMNS + " FROM {s}.task_metrics WHERE finished_at >= %b"
_ORDER = " ORDER BY finished_at, id"
_PURGE = (
    "DELETE FROM {s}.task_metrics WHERE id IN (SELECT id FROM {s}.task_metrics"
    " WHERE finished_at < %b ORDER BY finished_at, id LIMIT %b)"
)


@lru_cache(maxsize=32)
def _statement(schema: str, name: str) -> str:
    template = {
        "all": _SELECT + _ORDER,
        "task": _SELECT + " AND task_name = %b" + _ORDER,
        "purge": _PURGE,
    }[name]
    return render(template, schema)


def task_metrics(
    conns: PgConnections, schema: str, task_name: str | None, since: int
) -> list[TaskMetric]:
    """``Storage.task_metrics``: one read, run again once after a stale connection."""
    task, start = metric_query(task_name, since)
    params: tuple[object, ...] = (start,) if task is None else (start, task)
    query = _statement(schema, "all" if task is None else "task")
    rows = conns.run(lambda cursor: cursor.execute(query, params).fetchall(), idempotent=True)
    return [_row_to_metric(row) for row in rows]


def purge_metrics(conns: PgConnections, schema: str, before: int, limit: int) -> int:
    """``Storage.purge_metrics``: one statement (safe to repeat: it deletes old rows only)."""
    params = metric_purge(before, limit)
    query = _statement(schema, "purge")
    return conns.run(lambda cursor: cursor.execute(query, params).rowcount, idempotent=True)


def _row_to_metric(row: tuple[Any, ...]) -> TaskMetric:
    job_id, attempt, task_name, queue, outcome, started_at, finished_at, wall_ns = row
    return TaskMetric(
        job_id, attempt, task_name, queue, OutcomeKind(outcome), started_at, finished_at, wall_ns
    )


__all__ = ["purge_metrics", "task_metrics"]
