"""``SentryMiddleware`` (the ``sentry`` extra; docs/observability.md): failures reported to
Sentry with the job's tags, each attempt a transaction that continues the producer's trace.

``on_enqueue`` puts the producer's ``sentry-trace`` and ``baggage`` headers into the job's
metadata (``taskito.contrib.propagation``); ``before`` opens an isolation scope tagged with the
job and continues that trace in a ``queue.process`` transaction; ``after`` captures the task's
exception (with its traceback) and closes both. It reports through whatever client
``sentry_sdk.init`` set up in the process where the hook runs. Importing it without
``sentry-sdk`` raises ``ImportError`` naming the extra.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from taskito.contrib import require

require("sentry_sdk", extra="sentry", feature="taskito.contrib.sentry")

import sentry_sdk  # noqa: E402
from sentry_sdk.consts import OP, SPANDATA, SPANSTATUS  # noqa: E402
from sentry_sdk.tracing import Span, TransactionSource  # noqa: E402

from taskito import TaskCancelledError, TaskMiddleware  # noqa: E402
from taskito.contrib.propagation import carried, carry  # noqa: E402

#: The key under ``taskito.trace`` in a job's metadata.
SYSTEM = "sentry"
#: The headers Sentry continues a trace from.
TRACE_HEADERS = ("sentry-trace", "baggage")


@dataclass(slots=True)
class _Attempt:
    scopes: ExitStack
    transaction: Span


def _job_tags(ctx: Any) -> dict[str, str | int]:
    return {
        "task_name": ctx.task_name,
        "job_id": ctx.id,
        "queue": ctx.queue_name,
        "retry_count": ctx.retry_count,
    }


class SentryMiddleware(TaskMiddleware):
    """Reports each failed attempt (the task's exception, not cancellations) with the tags
    ``task_name``, ``job_id``, ``queue`` and ``retry_count``, and each attempt that hits its
    hard timeout as an error message with the same tags. Every attempt runs in its own
    isolation scope, so tags and breadcrumbs of one job never reach another's events.

    ``propagate=False`` keeps the producer's trace out of the job. Give the middleware to the
    Queue (``Queue(middleware=[...])``): only the Queue's list runs ``on_enqueue`` for
    ``delay()``.
    """

    def __init__(self, *, propagate: bool = True, report_timeouts: bool = True) -> None:
        for name, value in (("propagate", propagate), ("report_timeouts", report_timeouts)):
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be a bool, not {type(value).__name__}")
        self._propagate = propagate
        self._report_timeouts = report_timeouts
        # job id -> the attempt's scopes and transaction, from ``before`` to ``after``.
        self._attempts: dict[str, _Attempt] = {}

    def on_enqueue(
        self, task_name: str, args: tuple[Any, ...], kwargs: dict[str, Any], options: dict[str, Any]
    ) -> None:
        if not self._propagate:
            return
        values = (sentry_sdk.get_traceparent(), sentry_sdk.get_baggage())
        headers = {name: value for name, value in zip(TRACE_HEADERS, values, strict=True) if value}
        carry(options, SYSTEM, headers)

    def before(self, ctx: Any) -> None:
        scopes = ExitStack()
        try:
            scope = scopes.enter_context(sentry_sdk.isolation_scope())
            for key, value in _job_tags(ctx).items():
                scope.set_tag(key, value)
            headers = carried(ctx.metadata, SYSTEM) if self._propagate else {}
            transaction = sentry_sdk.continue_trace(
                headers, op=OP.QUEUE_PROCESS, name=ctx.task_name, source=TransactionSource.TASK
            )
            transaction.set_data(SPANDATA.MESSAGING_SYSTEM, "taskito")
            transaction.set_data(SPANDATA.MESSAGING_MESSAGE_ID, ctx.id)
            transaction.set_data(SPANDATA.MESSAGING_DESTINATION_NAME, ctx.queue_name)
            transaction.set_data(SPANDATA.MESSAGING_MESSAGE_RETRY_COUNT, ctx.retry_count)
            started = scopes.enter_context(sentry_sdk.start_transaction(transaction))
        except BaseException:
            scopes.close()
            raise
        self._attempts[ctx.id] = _Attempt(scopes, started)

    def after(self, ctx: Any, result: Any, error: BaseException | None) -> None:
        attempt = self._attempts.pop(ctx.id, None)
        if attempt is None:
            return
        with attempt.scopes:
            if error is None:
                attempt.transaction.set_status(SPANSTATUS.OK)
            elif isinstance(error, TaskCancelledError):
                attempt.transaction.set_status(SPANSTATUS.CANCELLED)
            else:
                attempt.transaction.set_status(SPANSTATUS.INTERNAL_ERROR)
                sentry_sdk.capture_exception(error)

    def on_timeout(self, ctx: Any) -> None:
        """Runs in the worker's own process: a prefork child killed at its deadline reports
        nothing itself."""
        if not self._report_timeouts:
            return
        with sentry_sdk.isolation_scope() as scope:
            for key, value in _job_tags(ctx).items():
                scope.set_tag(key, value)
            sentry_sdk.capture_message(
                f"taskito job {ctx.id} of task {ctx.task_name!r} hit its hard timeout",
                level="error",
            )


__all__ = ["SYSTEM", "TRACE_HEADERS", "SentryMiddleware"]
