"""``OpenTelemetryMiddleware`` (the ``otel`` extra; docs/observability.md): a span per attempt,
a child of the span that enqueued the job.

``on_enqueue`` injects the producer's context (the global text-map propagator: W3C trace
context and baggage by default) into the job's metadata (``taskito.contrib.propagation``);
``before`` extracts it from ``current_job.metadata``, starts a CONSUMER span and makes it
current while the task runs, so the task's own spans are its children; ``after`` records the
outcome and ends it. Importing it without ``opentelemetry-api`` raises ``ImportError`` naming
the extra.
"""

from __future__ import annotations

from contextvars import Token
from dataclasses import dataclass
from typing import Any

from taskito.contrib import require

require("opentelemetry.trace", extra="otel", feature="taskito.contrib.otel")

from opentelemetry import context as otel_context  # noqa: E402
from opentelemetry import propagate, trace  # noqa: E402
from opentelemetry.context import Context  # noqa: E402
from opentelemetry.propagators.textmap import TextMapPropagator  # noqa: E402
from opentelemetry.trace import SpanKind, Status, StatusCode  # noqa: E402

import taskito  # noqa: E402
from taskito import TaskCancelledError, TaskMiddleware  # noqa: E402
from taskito.contrib.propagation import carried, carry  # noqa: E402

#: The key under ``taskito.trace`` in a job's metadata.
SYSTEM = "otel"
#: The instrumentation scope of the spans.
TRACER_NAME = "taskito.contrib.otel"


@dataclass(slots=True)
class _Attempt:
    span: trace.Span
    token: Token[Context]  # from ``otel_context.attach``, for ``detach``


class OpenTelemetryMiddleware(TaskMiddleware):
    """One span per attempt, named ``taskito.run <task>``, with the attributes
    ``taskito.task_name``, ``taskito.job_id``, ``taskito.queue``, ``taskito.retry_count`` and
    ``taskito.status`` (completed, failed or cancelled), plus the ``messaging.*`` ones. A
    failure is recorded on the span (exception event, ERROR status).

    ``tracer_provider`` None uses the global provider (set it with
    ``trace.set_tracer_provider``). ``propagate=False`` keeps the producer's context out of
    the job: each attempt then starts its own trace. ``propagator`` None uses the global one.
    Give the middleware to the Queue (``Queue(middleware=[...])``): only the Queue's list runs
    ``on_enqueue`` for ``delay()``.
    """

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        *,
        propagate: bool = True,
        propagator: TextMapPropagator | None = None,
    ) -> None:
        if tracer_provider is not None and not isinstance(tracer_provider, trace.TracerProvider):
            raise TypeError(
                "tracer_provider must be an opentelemetry TracerProvider or None, "
                f"not {type(tracer_provider).__name__}"
            )
        if not isinstance(propagate, bool):
            raise TypeError(f"propagate must be a bool, not {type(propagate).__name__}")
        if propagator is not None and not isinstance(propagator, TextMapPropagator):
            raise TypeError(
                "propagator must be an opentelemetry TextMapPropagator or None, "
                f"not {type(propagator).__name__}"
            )
        self._tracer = trace.get_tracer(
            TRACER_NAME, taskito.__version__, tracer_provider=tracer_provider
        )
        self._propagate = propagate
        self._propagator = propagator
        # job id -> the attempt's span, from ``before`` to ``after``.
        self._attempts: dict[str, _Attempt] = {}

    def _textmap(self) -> TextMapPropagator:
        return self._propagator or propagate.get_global_textmap()

    def on_enqueue(
        self, task_name: str, args: tuple[Any, ...], kwargs: dict[str, Any], options: dict[str, Any]
    ) -> None:
        if not self._propagate:
            return
        headers: dict[str, str] = {}
        self._textmap().inject(headers)
        carry(options, SYSTEM, headers)

    def before(self, ctx: Any) -> None:
        # Without carried headers the span's parent is the current context's span: none in a
        # worker's thread, the caller's in test mode.
        headers = carried(ctx.metadata, SYSTEM) if self._propagate else {}
        parent = self._textmap().extract(headers) if headers else None
        queue_name = ctx.queue_name
        span = self._tracer.start_span(
            f"taskito.run {ctx.task_name}",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes={
                "taskito.task_name": ctx.task_name,
                "taskito.job_id": ctx.id,
                "taskito.queue": queue_name,
                "taskito.retry_count": ctx.retry_count,
                "messaging.system": "taskito",
                "messaging.operation.type": "process",
                "messaging.destination.name": queue_name,
                "messaging.message.id": ctx.id,
            },
        )
        # The producer's baggage stays in the context the task runs in.
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        self._attempts[ctx.id] = _Attempt(span, token)

    def after(self, ctx: Any, result: Any, error: BaseException | None) -> None:
        attempt = self._attempts.pop(ctx.id, None)
        if attempt is None:
            return
        span = attempt.span
        try:
            if error is None:
                span.set_attribute("taskito.status", "completed")
            elif isinstance(error, TaskCancelledError):
                span.set_attribute("taskito.status", "cancelled")
            else:
                span.set_attribute("taskito.status", "failed")
                span.record_exception(error)
                span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        finally:
            span.end()
            otel_context.detach(attempt.token)


__all__ = ["SYSTEM", "TRACER_NAME", "OpenTelemetryMiddleware"]
