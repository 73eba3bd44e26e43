"""The hooks and middleware around one task call, for ``execution``: queue-level hooks in
order, ``on_failure`` hooks that may replace the error, and middleware ``before``/``after`` whose
exceptions are logged and never reach the task."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from taskito import context

if TYPE_CHECKING:
    from taskito.context import ActiveJob
    from taskito.middleware import TaskMiddleware

logger = logging.getLogger("taskito.execution")


def call_hooks(hooks: Sequence[Callable[..., Any]], *args: Any) -> None:
    for hook in list(hooks):
        hook(*args)


def run_failure_hooks(
    hooks: Sequence[Callable[..., Any]],
    task_name: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    error: BaseException,
    *,
    passthrough: tuple[type[BaseException], ...] = (KeyboardInterrupt,),
) -> BaseException:
    """Run ``on_failure`` hooks; a hook that raises replaces the error (chained to it), unless
    it raises one of ``passthrough``, which propagates."""
    for hook in list(hooks):
        try:
            hook(task_name, args, kwargs, error)
        except passthrough:
            raise
        except BaseException as hook_error:
            if hook_error.__context__ is None:
                hook_error.__context__ = error
            error = hook_error
    return error


def middleware_before(
    middleware: Sequence[TaskMiddleware], active: ActiveJob
) -> list[TaskMiddleware]:
    entered: list[TaskMiddleware] = []
    for mw in middleware:
        try:
            mw.before(context.current_job)
        except Exception:
            logger.exception(
                "middleware before() raised; it is left out of after()",
                extra={"job_id": active.job_id, "middleware": type(mw).__name__},
            )
            continue
        entered.append(mw)
    return entered


def middleware_after(
    entered: Sequence[TaskMiddleware], result: Any, error: BaseException | None
) -> None:
    for mw in entered:
        try:
            mw.after(context.current_job, result, error)
        except Exception:
            logger.exception(
                "middleware after() raised",
                extra={"middleware": type(mw).__name__},
            )
