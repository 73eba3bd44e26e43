"""Enqueue when the database transaction commits: ``delay_on_commit(task, ...)`` and
``apply_async_on_commit(task, ...)`` hand the enqueue to ``transaction.on_commit``, so a job
never runs against rows its transaction did not keep, and a rollback enqueues nothing.

Outside a transaction (autocommit) the job is enqueued at once, as ``on_commit`` runs its
callback at once there. The arguments are checked and stored when the job is enqueued, at the
commit: an error raises from the end of the ``atomic()`` block, after the commit.
"""

from __future__ import annotations

import inspect
from typing import Any, Protocol

from django.db import DEFAULT_DB_ALIAS, transaction

import taskito


class Enqueues(Protocol):
    """A ``TaskWrapper`` or a declared task."""

    def apply_async(self, *args: Any, **kwargs: Any) -> taskito.JobResult: ...


_APPLY_ASYNC = inspect.signature(taskito.TaskWrapper.apply_async)


def _checked_task(task: object) -> Enqueues:
    if not callable(getattr(task, "apply_async", None)):
        raise TypeError(
            f"expected a task (decorated with @task() or @queue.task()), not {type(task).__name__}"
        )
    return task  # type: ignore[return-value]


def delay_on_commit(task: Any, *args: Any, **kwargs: Any) -> None:
    """``task.delay(*args, **kwargs)`` when the default database's transaction commits.
    (To name another database, use ``apply_async_on_commit(..., using=...)``.)"""
    apply_async_on_commit(task, args, kwargs)


def apply_async_on_commit(
    task: Any,
    args: tuple[Any, ...] | list[Any] = (),
    kwargs: dict[str, Any] | None = None,
    *,
    using: str | None = None,
    **options: Any,
) -> None:
    """``task.apply_async(args, kwargs, **options)`` when the transaction of the database
    ``using`` (a ``DATABASES`` alias; default: the default one) commits."""
    target = _checked_task(task)
    if not isinstance(args, tuple | list):
        raise TypeError(f"args must be a tuple or list, not {type(args).__name__}")
    if kwargs is not None and not isinstance(kwargs, dict):
        raise TypeError(f"kwargs must be a dict or None, not {type(kwargs).__name__}")
    try:  # an unknown option fails here, inside the transaction, not at the commit
        _APPLY_ASYNC.bind(None, args, kwargs, **options)
    except TypeError as exc:
        raise TypeError(f"apply_async_on_commit: {exc}") from None
    alias = DEFAULT_DB_ALIAS if using is None else using
    call_args, call_kwargs = tuple(args), dict(kwargs or {})

    def enqueue() -> None:
        target.apply_async(call_args, call_kwargs or None, **options)

    transaction.on_commit(enqueue, using=alias)


__all__ = ["apply_async_on_commit", "delay_on_commit"]
