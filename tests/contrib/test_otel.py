"""``taskito.contrib.otel`` with the real OpenTelemetry SDK (spans kept in an
``InMemorySpanExporter``) and a real worker: a span per attempt, its attributes and errors, and
the producer's trace carried through the job so the worker's span is its child."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import baggage, context, trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from taskito import Queue, TaskCancelledError, current_job
from taskito.contrib.otel import OpenTelemetryMiddleware
from taskito.contrib.propagation import TRACE_KEY
from tests.contrib.workers import MakeQueue, running_worker, wait_for_final
from tests.helpers import wait_until


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    made = TracerProvider(shutdown_on_exit=False)
    made.add_span_processor(SimpleSpanProcessor(exporter))
    yield made
    made.shutdown()


def stored_metadata(queue: Queue, job_id: str) -> str | None:
    job = queue.get_job(job_id)
    assert job is not None
    metadata: str | None = job.to_dict()["metadata"]
    return metadata


def runs(exporter: InMemorySpanExporter, task: str) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name == f"taskito.run {task}"]


def test_the_worker_s_span_is_a_child_of_the_enqueuing_span(
    make_queue: MakeQueue, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    queue = make_queue(middleware=[OpenTelemetryMiddleware(provider)])
    inner_tracer = provider.get_tracer("the task's own code")

    @queue.task(name="send_email", queue="mail")
    def send_email(to: str) -> str:
        with inner_tracer.start_as_current_span("smtp"):
            return f"sent to {to}; tenant={baggage.get_baggage('tenant')}"

    request = provider.get_tracer("web").start_span("POST /signup")
    token = context.attach(
        baggage.set_baggage("tenant", "acme", trace.set_span_in_context(request))
    )
    try:
        job = send_email.delay("ana@example.com")
    finally:
        context.detach(token)
        request.end()
    with running_worker(queue):
        assert wait_for_final(queue, [job]) == ["complete"]
    assert job.result(timeout=5) == "sent to ana@example.com; tenant=acme"

    (run,) = runs(exporter, "send_email")
    (smtp,) = [span for span in exporter.get_finished_spans() if span.name == "smtp"]
    producer = request.get_span_context()
    assert run.context is not None and run.parent is not None
    assert run.context.trace_id == producer.trace_id
    assert run.parent.span_id == producer.span_id
    assert run.parent.is_remote
    assert smtp.parent is not None and smtp.parent.span_id == run.context.span_id
    assert run.kind is SpanKind.CONSUMER
    assert dict(run.attributes or {}) == {
        "taskito.task_name": "send_email",
        "taskito.job_id": job.id,
        "taskito.queue": "mail",
        "taskito.retry_count": 0,
        "taskito.status": "completed",
        "messaging.system": "taskito",
        "messaging.operation.type": "process",
        "messaging.destination.name": "mail",
        "messaging.message.id": job.id,
    }
    assert run.status.status_code is StatusCode.UNSET


def test_each_attempt_has_its_span_and_failures_are_recorded(
    make_queue: MakeQueue, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    queue = make_queue(middleware=[OpenTelemetryMiddleware(provider)])

    @queue.task(name="flaky", max_retries=1, retry_delays=[0.01])
    def flaky() -> None:
        raise ValueError(f"attempt {current_job.retry_count} broke")

    @queue.task(name="stops")
    def stops() -> None:
        raise TaskCancelledError("asked to stop")

    jobs = [flaky.delay(), stops.delay()]
    with running_worker(queue):
        assert wait_for_final(queue, jobs) == ["dead", "cancelled"]
    attempts = sorted(runs(exporter, "flaky"), key=lambda span: span.start_time or 0)
    assert [(span.attributes or {})["taskito.retry_count"] for span in attempts] == [0, 1]
    for number, span in enumerate(attempts):
        assert (span.attributes or {})["taskito.status"] == "failed"
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description == f"ValueError: attempt {number} broke"
        (event,) = span.events
        assert event.name == "exception"
        assert (event.attributes or {})["exception.type"] == "ValueError"
        # No producer span: each attempt is the root of its own trace.
        assert span.parent is None
    (cancelled,) = runs(exporter, "stops")
    assert (cancelled.attributes or {})["taskito.status"] == "cancelled"
    assert cancelled.status.status_code is StatusCode.UNSET
    assert not cancelled.events


def test_the_context_rides_in_the_metadata_beside_the_user_s_keys(
    make_queue: MakeQueue, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    queue = make_queue(middleware=[OpenTelemetryMiddleware(provider)])

    @queue.task(name="report")
    def report() -> str | None:
        return current_job.metadata

    with provider.get_tracer("cli").start_as_current_span("nightly") as parent:
        job = report.apply_async(metadata='{"tenant": 7}')
        untouched = report.apply_async(metadata="plain text")
    metadata = stored_metadata(queue, job.id)
    assert metadata is not None
    assert metadata.startswith('{"tenant": 7,"taskito.trace":{"otel":{"traceparent":')
    document = json.loads(metadata)
    assert document["tenant"] == 7
    traceparent = document[TRACE_KEY]["otel"]["traceparent"]
    assert f"{parent.get_span_context().trace_id:032x}" in traceparent
    with running_worker(queue):
        wait_for_final(queue, [job, untouched])
    assert untouched.result(timeout=5) == "plain text"
    spans = {span.context.span_id: span for span in runs(exporter, "report") if span.context}
    by_job = {(span.attributes or {})["taskito.job_id"]: span for span in spans.values()}
    assert by_job[job.id].context is not None
    assert by_job[job.id].context.trace_id == parent.get_span_context().trace_id
    assert by_job[untouched.id].parent is None  # text metadata carries no trace


def test_propagate_false_keeps_the_metadata_as_given(
    make_queue: MakeQueue, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    queue = make_queue(middleware=[OpenTelemetryMiddleware(provider, propagate=False)])

    @queue.task(name="noop")
    def noop() -> None: ...

    with provider.get_tracer("cli").start_as_current_span("nightly"):
        job = noop.delay()
    assert stored_metadata(queue, job.id) is None
    with running_worker(queue):
        wait_for_final(queue, [job])
    (run,) = runs(exporter, "noop")
    assert run.parent is None


def test_a_given_propagator_is_used(
    make_queue: MakeQueue, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """Only trace context, not baggage: the task sees no baggage from the producer."""
    middleware = OpenTelemetryMiddleware(provider, propagator=TraceContextTextMapPropagator())
    queue = make_queue(middleware=[middleware])

    @queue.task(name="tenant")
    def tenant() -> object:
        return baggage.get_baggage("tenant")

    span = provider.get_tracer("web").start_span("request")
    token = context.attach(baggage.set_baggage("tenant", "acme", trace.set_span_in_context(span)))
    try:
        job = tenant.delay()
    finally:
        context.detach(token)
        span.end()
    metadata = stored_metadata(queue, job.id)
    assert metadata is not None
    assert set(json.loads(metadata)[TRACE_KEY]["otel"]) == {"traceparent"}
    with running_worker(queue):
        wait_for_final(queue, [job])
    assert job.result(timeout=5) is None
    (run,) = runs(exporter, "tenant")
    assert run.context is not None and run.context.trace_id == span.get_span_context().trace_id


def test_spans_are_made_in_test_mode_too(
    make_queue: MakeQueue, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    queue: Queue = make_queue(middleware=[OpenTelemetryMiddleware(provider)])

    @queue.task(name="double")
    def double(n: int) -> int:
        return 2 * n

    with provider.get_tracer("test").start_as_current_span("outer") as outer, queue.test_mode():
        assert double.delay(4).result() == 8
    (run,) = runs(exporter, "double")
    # Test mode runs the task in the caller's context: the span is the caller's child.
    assert run.parent is not None and run.parent.span_id == outer.get_span_context().span_id


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tracer_provider": "global"}, "tracer_provider must be an opentelemetry TracerProvider"),
        ({"propagate": "yes"}, "propagate must be a bool"),
        ({"propagator": {}}, "propagator must be an opentelemetry TextMapPropagator"),
    ],
)
def test_arguments_are_checked(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        OpenTelemetryMiddleware(**kwargs)  # type: ignore[arg-type]


def test_after_without_before_does_nothing(provider: TracerProvider) -> None:
    class Ctx:
        id, task_name, queue_name, retry_count, metadata = "j1", "t", "default", 0, None

    OpenTelemetryMiddleware(provider).after(Ctx(), None, None)


@pytest.mark.parametrize("pool", ["thread", "async"])
def test_every_in_process_pool_continues_the_trace(
    make_queue: MakeQueue, provider: TracerProvider, exporter: InMemorySpanExporter, pool: str
) -> None:
    queue = make_queue(middleware=[OpenTelemetryMiddleware(provider)])

    @queue.task(name="sync_job")
    def sync_job() -> str:
        return trace.get_current_span().get_span_context().span_id.to_bytes(8, "big").hex()

    @queue.task(name="async_job")
    async def async_job() -> str:
        return trace.get_current_span().get_span_context().span_id.to_bytes(8, "big").hex()

    with provider.get_tracer("web").start_as_current_span("request") as request:
        job = (async_job if pool == "async" else sync_job).delay()
    with running_worker(queue, pool=pool):
        assert wait_for_final(queue, [job]) == ["complete"]
    (run,) = runs(exporter, "async_job" if pool == "async" else "sync_job")
    assert run.context is not None and run.parent is not None
    assert run.parent.span_id == request.get_span_context().span_id
    # The task ran with its attempt's span as the current span.
    assert job.result(timeout=5) == f"{run.context.span_id:016x}"


PREFORK_APP = """
import os
from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

from taskito import Queue
from taskito.contrib.otel import OpenTelemetryMiddleware

here = Path(__file__).resolve().parent
# Each process writes its finished spans to its own file, one JSON document a line.
spans = open(here / f"spans-{os.getpid()}.jsonl", "a", buffering=1)
provider = TracerProvider()
provider.add_span_processor(
    SimpleSpanProcessor(ConsoleSpanExporter(out=spans, formatter=lambda s: s.to_json(None) + "\\n"))
)
queue = Queue(db_path=str(here / "jobs.db"), middleware=[OpenTelemetryMiddleware(provider)])


@queue.task(name="whoami")
def whoami():
    return os.getpid()
"""


@pytest.mark.slow
def test_a_prefork_child_continues_the_producer_s_trace(
    tmp_path: Path, provider: TracerProvider
) -> None:
    (tmp_path / "otel_app.py").write_text(PREFORK_APP.lstrip())
    producer = Queue(
        db_path=str(tmp_path / "jobs.db"), middleware=[OpenTelemetryMiddleware(provider)]
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "taskito", "worker", "--app", "otel_app:queue", "--pool", "prefork"],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with provider.get_tracer("web").start_as_current_span("request") as request:
            job = producer.enqueue("whoami")
        assert wait_for_final(producer, [job], timeout_s=60) == ["complete"]
        child_pid = job.result(timeout=5)
        assert child_pid != worker.pid
        spans_file = tmp_path / f"spans-{child_pid}.jsonl"
        wait_until(spans_file.exists, timeout_s=10, message="the child's span file")
        line = wait_until(lambda: spans_file.read_text().strip(), timeout_s=10)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        producer.close()
    span = json.loads(line.splitlines()[0])
    producer_context = request.get_span_context()
    assert span["name"] == "taskito.run whoami"
    assert span["context"]["trace_id"] == f"0x{producer_context.trace_id:032x}"
    assert span["parent_id"] == f"0x{producer_context.span_id:016x}"
    assert span["attributes"]["taskito.job_id"] == job.id
