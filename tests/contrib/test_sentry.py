"""``taskito.contrib.sentry`` with the real Sentry SDK (``sentry_sdk.init`` with a transport
that keeps envelopes in memory: no network) and a real worker: failures reported with the
job's tags, the producer's trace continued in the worker, timeouts reported."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import sentry_sdk
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from taskito import JobResult, Queue, TaskCancelledError, current_job
from taskito.contrib.propagation import TRACE_KEY
from taskito.contrib.sentry import SentryMiddleware
from tests.contrib.workers import MakeQueue, running_worker, wait_for_final
from tests.helpers import wait_until


class CapturingTransport(Transport):
    """Keeps every envelope the client sends."""

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self._lock = threading.Lock()
        self.envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        with self._lock:
            self.envelopes.append(envelope)

    def errors(self) -> list[dict[str, Any]]:
        with self._lock:
            found = [envelope.get_event() for envelope in self.envelopes]
        return [event for event in found if event is not None]

    def transactions(self) -> list[dict[str, Any]]:
        with self._lock:
            found = [envelope.get_transaction_event() for envelope in self.envelopes]
        return [event for event in found if event is not None]


@pytest.fixture
def sentry() -> Iterator[CapturingTransport]:
    transport = CapturingTransport()
    sentry_sdk.init(
        dsn="https://public@sentry.example.invalid/1",
        transport=transport,
        traces_sample_rate=1.0,
        # No global patches (threads, logging, stdlib) that would outlive the test.
        default_integrations=False,
        auto_enabling_integrations=False,
        # Its monitor thread sleeps 10 s between checks and is never joined.
        enable_backpressure_handling=False,
    )
    try:
        yield transport
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.get_global_scope().set_client(None)


@pytest.fixture
def queue(make_queue: MakeQueue) -> Queue:
    return make_queue(middleware=[SentryMiddleware()])


def transaction_of(sentry: CapturingTransport, job: JobResult) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        for event in sentry.transactions():
            data = event["contexts"]["trace"].get("data", {})
            if data.get("messaging.message.id") == job.id:
                return event
        return None

    found = wait_until(find, message=f"the transaction of job {job.id}")
    return found


def test_a_failure_is_reported_with_the_job_s_tags_in_the_producer_s_trace(
    queue: Queue, sentry: CapturingTransport
) -> None:
    @queue.task(name="charge", queue="billing", max_retries=0)
    def charge(amount: int) -> None:
        raise ValueError(f"card declined for {amount}")

    with sentry_sdk.start_transaction(name="POST /checkout", op="http.server") as request:
        job = charge.delay(42)
    with running_worker(queue):
        assert wait_for_final(queue, [job]) == ["dead"]
    run = transaction_of(sentry, job)
    (error,) = [event for event in sentry.errors() if event.get("level") == "error"]

    (exception,) = error["exception"]["values"]
    assert (exception["type"], exception["value"]) == ("ValueError", "card declined for 42")
    assert exception["stacktrace"]["frames"][-1]["function"] == "charge"
    assert error["tags"] == {
        "task_name": "charge",
        "job_id": job.id,
        "queue": "billing",
        "retry_count": 0,
    }
    # The error, the worker's transaction and the producer's share one trace.
    assert error["contexts"]["trace"]["trace_id"] == request.trace_id
    trace = run["contexts"]["trace"]
    assert (trace["trace_id"], trace["parent_span_id"]) == (request.trace_id, request.span_id)
    assert (run["transaction"], trace["op"], trace["status"]) == (
        "charge",
        "queue.process",
        "internal_error",
    )
    assert run["transaction_info"] == {"source": "task"}
    assert trace["data"]["messaging.destination.name"] == "billing"
    assert trace["data"]["messaging.message.retry.count"] == 0


def test_every_failed_attempt_is_reported_with_its_retry_count(
    queue: Queue, sentry: CapturingTransport
) -> None:
    @queue.task(name="flaky", max_retries=2, retry_delays=[0.01, 0.01])
    def flaky() -> str:
        if current_job.retry_count < 2:
            raise ConnectionError(f"attempt {current_job.retry_count}")
        return "done"

    job = flaky.delay()
    with running_worker(queue):
        assert wait_for_final(queue, [job]) == ["complete"]
    reported = sorted(event["tags"]["retry_count"] for event in sentry.errors())
    assert reported == [0, 1]
    statuses = {event["contexts"]["trace"]["status"] for event in sentry.transactions()}
    assert statuses == {"internal_error", "ok"}


def test_successes_and_cancellations_are_not_errors(
    queue: Queue, sentry: CapturingTransport
) -> None:
    @queue.task(name="fine")
    def fine() -> int:
        return 1

    @queue.task(name="stops")
    def stops() -> None:
        raise TaskCancelledError("asked to stop")

    jobs = [fine.delay(), stops.delay()]
    with running_worker(queue):
        assert wait_for_final(queue, jobs) == ["complete", "cancelled"]
    assert transaction_of(sentry, jobs[0])["contexts"]["trace"]["status"] == "ok"
    assert transaction_of(sentry, jobs[1])["contexts"]["trace"]["status"] == "cancelled"
    assert sentry.errors() == []


def test_a_hard_timeout_is_reported_by_the_worker(
    make_queue: MakeQueue, sentry: CapturingTransport
) -> None:
    queue = make_queue(middleware=[SentryMiddleware()])
    release = threading.Event()

    @queue.task(name="hangs", timeout=0.3, max_retries=0)
    def hangs() -> None:
        release.wait(10)

    job = hangs.delay()
    try:
        with running_worker(queue):
            assert wait_for_final(queue, [job]) == ["dead"]
            (message,) = wait_until(sentry.errors, message="the timeout report")
    finally:
        release.set()
    assert message["message"] == f"taskito job {job.id} of task 'hangs' hit its hard timeout"
    assert message["level"] == "error"
    assert message["tags"] == {"task_name": "hangs", "job_id": job.id, "queue": "default"} | {
        "retry_count": 0
    }


def test_report_timeouts_false_reports_none(
    make_queue: MakeQueue, sentry: CapturingTransport
) -> None:
    class Ctx:
        id, task_name, queue_name, retry_count = "j1", "t", "default", 0

    SentryMiddleware(report_timeouts=False).on_timeout(Ctx())
    SentryMiddleware().on_timeout(Ctx())
    sentry_sdk.flush()
    assert [event["tags"]["job_id"] for event in sentry.errors()] == ["j1"]


def test_the_trace_headers_ride_in_the_metadata(queue: Queue, sentry: CapturingTransport) -> None:
    @queue.task(name="noop")
    def noop() -> None: ...

    with sentry_sdk.start_transaction(name="cron") as parent:
        job = noop.apply_async(metadata='{"tenant": 7}')
    record = queue.get_job(job.id)
    assert record is not None
    document = json.loads(record.to_dict()["metadata"])
    assert document["tenant"] == 7
    headers = document[TRACE_KEY]["sentry"]
    assert headers["sentry-trace"].startswith(f"{parent.trace_id}-{parent.span_id}")
    assert f"sentry-trace_id={parent.trace_id}" in headers["baggage"]


def test_propagate_false_starts_a_trace_per_attempt(
    make_queue: MakeQueue, sentry: CapturingTransport
) -> None:
    queue = make_queue(middleware=[SentryMiddleware(propagate=False)])

    @queue.task(name="noop")
    def noop() -> None: ...

    with sentry_sdk.start_transaction(name="cron") as parent:
        job = noop.delay()
    record = queue.get_job(job.id)
    assert record is not None and record.to_dict()["metadata"] is None
    with running_worker(queue):
        wait_for_final(queue, [job])
    trace = transaction_of(sentry, job)["contexts"]["trace"]
    assert trace["trace_id"] != parent.trace_id
    assert trace.get("parent_span_id") is None


@pytest.mark.parametrize("name", ["propagate", "report_timeouts"])
def test_arguments_are_checked(name: str) -> None:
    with pytest.raises(TypeError, match=f"{name} must be a bool, not str"):
        SentryMiddleware(**{name: "yes"})  # type: ignore[arg-type]


def test_after_without_before_does_nothing(sentry: CapturingTransport) -> None:
    class Ctx:
        id, task_name, queue_name, retry_count, metadata = "j1", "t", "default", 0, None

    SentryMiddleware().after(Ctx(), None, RuntimeError("x"))
    sentry_sdk.flush()
    assert sentry.errors() == []
