"""The argument checks and texts every backend shares for the operator's storage methods
(``storage/operations.py``): one error for one bad input on every backend, raised before
anything is read or written."""

from __future__ import annotations

from collections.abc import Sequence

from taskito._checks import check_count, check_int, check_positive, check_text
from taskito.storage.base import JobFilter
from taskito.storage.operations import Cursor, HistoryKind


def requeue_reason(worker_id: str | None) -> str:
    """The error row of a job an operator requeued (the Redis script writes the same text)."""
    return f"requeued by an operator (worker {worker_id or 'unknown'})"


def check_namespace(namespace: object) -> str | None:
    if namespace is None:
        return None
    return check_text("namespace", namespace)


def check_time(name: str, value: object) -> int:
    return check_int(name, value, type_error=TypeError)


def check_cursor(after: object) -> Cursor | None:
    """A ``(sort key ms, id)`` pair or None."""
    if after is None:
        return None
    if (
        not isinstance(after, tuple)
        or len(after) != 2
        or not isinstance(after[0], int)
        or isinstance(after[0], bool)
        or not isinstance(after[1], str)
        or not after[1]
    ):
        raise ValueError(f"invalid cursor: {after!r} (expected (sort key ms, id))")
    return (after[0], after[1])


def requeue_args(job_id: object, namespace: object, now: object) -> tuple[str, str | None, int]:
    return check_text("job_id", job_id), check_namespace(namespace), check_time("now", now)


def dead_args(value: object, namespace: object, *, name: str = "dead_id") -> tuple[str, str | None]:
    return check_text(name, value), check_namespace(namespace)


def page_args(
    limit: object, after: object, task_name: object, namespace: object
) -> tuple[int, Cursor | None, str | None, str | None]:
    return (
        check_count("limit", limit, type_error=ValueError),
        check_cursor(after),
        None if task_name is None else check_text("task_name", task_name),
        check_namespace(namespace),
    )


def jobs_page_args(
    filter: object, limit: object, after: object
) -> tuple[JobFilter, int, Cursor | None]:
    if not isinstance(filter, JobFilter):
        raise TypeError(f"filter must be a JobFilter, got {type(filter).__name__}")
    return filter, check_count("limit", limit, type_error=ValueError), check_cursor(after)


def archived_page_args(limit: object, after: object) -> tuple[int, Cursor | None]:
    return check_count("limit", limit, type_error=ValueError), check_cursor(after)


def log_page_args(
    limit: object, after: object, task_name: object, level: object
) -> tuple[int, Cursor | None, str | None, str | None]:
    cursor = check_cursor(after)
    if cursor is not None and not cursor[1].isdigit():
        raise ValueError(f"invalid cursor: {after!r} (a log line's id is a number)")
    return (
        check_count("limit", limit, type_error=ValueError),
        cursor,
        None if task_name is None else check_text("task_name", task_name),
        None if level is None else check_text("level", level),
    )


def due_args(
    namespace: object,
    queues: object,
    failed_before: object,
    max_auto_retries: object,
    limit: object,
) -> tuple[str | None, list[str] | None, int, int, int]:
    if queues is not None:
        if isinstance(queues, str) or not isinstance(queues, Sequence):
            raise TypeError("queues must be a sequence of queue names or None")
        queues = [check_text("queue", queue) for queue in queues]
    return (
        check_namespace(namespace),
        queues,
        check_time("failed_before", failed_before),
        check_count("max_auto_retries", max_auto_retries, type_error=ValueError),
        check_positive("limit", limit, type_error=ValueError),
    )


def history_args(kind: object, before: object) -> tuple[HistoryKind, int]:
    try:
        parsed = HistoryKind(str(kind)) if isinstance(kind, str) else HistoryKind("")
    except ValueError:
        known = ", ".join(k.value for k in HistoryKind)
        raise ValueError(f"unknown kind of history {kind!r} (known: {known})") from None
    return parsed, check_time("before", before)


def purge_args(kind: object, before: object, limit: object) -> tuple[HistoryKind, int, int]:
    parsed, cutoff = history_args(kind, before)
    return parsed, cutoff, check_positive("limit", limit, type_error=ValueError)
