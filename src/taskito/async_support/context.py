"""The job context of async code, under the reference's names: ``set_async_context`` binds a
job to the current asyncio task (or thread) and ``current_job`` reads it there. taskito has one
context variable for both (``taskito.context``): each asyncio task sees its own job, and a
thread's job is the same variable read outside any task."""

from __future__ import annotations

from contextvars import Token

from taskito.context import ActiveJob, bind, get_active, unbind

AsyncContextToken = Token[ActiveJob | None]


def set_async_context(
    job_id: str, task_name: str, retry_count: int = 0, queue_name: str = "default"
) -> AsyncContextToken:
    """Make this job current here (the running asyncio task, else this thread) until
    ``clear_async_context(token)``; ``current_job`` reads it."""
    return bind(ActiveJob(job_id, task_name, retry_count, queue_name))


def get_async_context() -> ActiveJob | None:
    """The job current here (``job_id``, ``task_name``, ``retry_count``, ``queue_name``), or
    None."""
    return get_active()


def clear_async_context(token: AsyncContextToken) -> None:
    """Restore what was current before the matching ``set_async_context``."""
    unbind(token)


__all__ = ["AsyncContextToken", "clear_async_context", "get_async_context", "set_async_context"]
