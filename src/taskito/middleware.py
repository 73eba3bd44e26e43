"""``TaskMiddleware``: the base class of middleware. Every hook is a no-op, so a subclass
overrides only the hooks it needs, and calling any hook on the base class is safe."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taskito.context import JobContext


class TaskMiddleware:
    """Hooks around a task's life. Middleware runs in order: the Queue's global list, then the
    task's own list.

    ``ctx`` is ``current_job`` (a ``JobContext``) for ``before``/``after``. For the outcome
    hooks it describes the finished job (``id``, ``task_name``, ``queue_name`` and the real
    ``retry_count`` of the attempt that ended). A hook that raises is logged and the next
    middleware still runs; it never changes the job's outcome.
    """

    def before(self, ctx: JobContext) -> None:
        """Before the ``before_task`` hooks and the task function, in the process that executes
        the task (a pool thread, the async loop or a prefork child). If it raises, the error
        is logged and this middleware's ``after`` is skipped for this run."""

    def after(self, ctx: JobContext, result: Any, error: BaseException | None) -> None:
        """After the task returned or raised (``error`` may be a ``TaskCancelledError``), in
        the executing process, after the ``after_task`` hooks. Runs only when this
        middleware's ``before`` succeeded."""

    def on_retry(self, ctx: Any, error: BaseException, retry_count: int) -> None:
        """The failed attempt will be retried. Runs once, in the worker process that owns the
        outcome, for every pool (docs/architecture.md, invariant 6). ``retry_count`` is the count
        before the retry; ``error`` carries the traceback text of the failure."""

    def on_dead_letter(self, ctx: Any, error: BaseException) -> None:
        """The job is dead: retries ran out, or the error is not retryable. Runs once, in the
        worker process that owns the outcome, for every pool."""

    def on_timeout(self, ctx: Any) -> None:
        """The attempt hit its hard timeout. Runs once, in the worker process that owns the
        outcome, just before ``on_retry`` or ``on_dead_letter``, for every pool."""

    def on_cancel(self, ctx: Any) -> None:
        """A running job stopped on a cancel request. Runs once, in the worker process that
        owns the outcome, for every pool. Not called for jobs cancelled before they started
        (cancelled while pending, purged, revoked or expired)."""

    def on_enqueue(
        self, task_name: str, args: tuple[Any, ...], kwargs: dict[str, Any], options: dict[str, Any]
    ) -> None:
        """Before a job is stored, in the process that enqueues it. ``options`` (priority,
        delay, queue, ...) may be changed in place to alter the job being enqueued."""


__all__ = ["TaskMiddleware"]
