"""Webhooks against real HTTP servers on 127.0.0.1 (``allow_private=True`` for them): what is
sent, signatures, filtering, retries, refusals, a full buffer, TLS, and stopping in bounded
time while an endpoint hangs; through ``WebhookManager`` and through ``queue.add_webhook``."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taskito import EventType, Queue, QueueError
from taskito.webhooks import WebhookManager
from tests.api.driving import MakeQueue
from tests.helpers import wait_until
from tests.webhook_servers import Receiver, SilentServer, self_signed_certificate

COMPLETED = {"task_name": "add", "job_id": "j-1", "queue": "default"}


@pytest.fixture
def manager() -> Iterator[WebhookManager]:
    made = WebhookManager(stop_timeout_s=0.5)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


def counts(manager: WebhookManager, index: int = 0) -> dict[str, Any]:
    return manager.stats()[index]


def settled(manager: WebhookManager, index: int = 0) -> bool:
    """Every event offered to that webhook has an outcome."""
    c = counts(manager, index)
    return c["pending"] == 0 and c["delivered"] + c["failed"] + c["refused"] > 0


def test_the_body_is_the_event_and_its_payload_with_content_type_and_custom_headers(
    manager: WebhookManager, receiver: Receiver
) -> None:
    manager.add_webhook(
        receiver.url("/in?src=taskito"),
        headers={"Authorization": "Bearer abc", "X-Team": "ops"},
        allow_private=True,
    )
    manager.notify(EventType.JOB_COMPLETED, COMPLETED)
    (request,) = wait_until(lambda: receiver.requests, message="the POST")
    assert request.path == "/in?src=taskito"
    assert json.loads(request.body) == {"event": "job.completed", **COMPLETED}
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Authorization"] == "Bearer abc"
    assert request.headers["X-Team"] == "ops"
    assert request.headers["Host"] == f"127.0.0.1:{receiver.port}"
    assert "X-Taskito-Signature" not in request.headers
    assert manager.flush(5)
    assert counts(manager)["delivered"] == 1


@pytest.mark.parametrize("secret", ["s3cret", b"\x00binary-key\xff"])
def test_the_signature_is_the_hmac_of_the_exact_body(
    manager: WebhookManager, receiver: Receiver, secret: str | bytes
) -> None:
    manager.add_webhook(receiver.url(), secret=secret, allow_private=True)
    manager.notify(EventType.JOB_FAILED, {**COMPLETED, "error": "boom", "odd": {1, 2}})
    (request,) = wait_until(lambda: receiver.requests, message="the POST")
    key = secret.encode() if isinstance(secret, str) else secret
    expected = "sha256=" + hmac.new(key, request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["X-Taskito-Signature"], expected)
    wrong = "sha256=" + hmac.new(b"other", request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Taskito-Signature"] != wrong
    assert json.loads(request.body)["odd"] == "{1, 2}"  # what JSON cannot hold is str()


def test_each_webhook_gets_only_the_events_it_asked_for(
    manager: WebhookManager, receiver: Receiver
) -> None:
    manager.add_webhook(
        receiver.url("/failures"), events=["job.failed", EventType.JOB_DEAD], allow_private=True
    )
    manager.add_webhook(receiver.url("/all"), allow_private=True)
    for event in (EventType.JOB_COMPLETED, EventType.JOB_FAILED, EventType.JOB_DEAD):
        manager.notify(event, {"job_id": event.value})
    assert manager.flush(10)
    seen = {(r.path, json.loads(r.body)["event"]) for r in receiver.requests}
    assert seen == {
        ("/failures", "job.failed"),
        ("/failures", "job.dead"),
        ("/all", "job.completed"),
        ("/all", "job.failed"),
        ("/all", "job.dead"),
    }
    assert len(receiver.requests) == 5


def test_a_5xx_answer_is_retried_until_it_succeeds(manager: WebhookManager) -> None:
    with Receiver(statuses=[500, 503]) as flaky:
        manager.add_webhook(flaky.url(), max_retries=3, retry_backoff=1.0, allow_private=True)
        manager.notify(EventType.JOB_DEAD, {"job_id": "j"})
        wait_until(lambda: counts(manager)["delivered"] == 1, timeout_s=15, message="delivered")
        bodies = [r.body for r in flaky.requests]
    assert len(bodies) == 3 and len(set(bodies)) == 1  # the same body each time
    assert counts(manager)["retries"] == 2
    assert counts(manager)["failed"] == 0


def test_retries_end_after_max_retries_with_one_warning(
    manager: WebhookManager, caplog: pytest.LogCaptureFixture
) -> None:
    with Receiver(statuses=[500] * 10) as broken:
        manager.add_webhook(broken.url(), max_retries=1, retry_backoff=1.0, allow_private=True)
        manager.notify(EventType.JOB_DEAD, {"job_id": "j"})
        wait_until(lambda: counts(manager)["failed"] == 1, timeout_s=15, message="given up")
        assert len(broken.requests) == 2
    gave_up = [r for r in caplog.records if "gave up" in r.getMessage()]
    assert len(gave_up) == 1 and "HTTP 500" in gave_up[0].getMessage()
    assert gave_up[0].levelno == logging.WARNING


@pytest.mark.parametrize("status", [404, 400, 410, 302])
def test_a_3xx_or_4xx_answer_is_not_retried(manager: WebhookManager, status: int) -> None:
    with Receiver(statuses=[status]) as gone:
        manager.add_webhook(gone.url(), max_retries=3, retry_backoff=1.0, allow_private=True)
        manager.notify(EventType.JOB_DEAD, {"job_id": "j"})
        wait_until(lambda: settled(manager), timeout_s=10, message="an outcome")
        assert counts(manager)["failed"] == 1
        assert counts(manager)["retries"] == 0
        assert len(gone.requests) == 1


def test_a_connection_refused_is_retried(manager: WebhookManager) -> None:
    with Receiver() as closed:
        url = closed.url()
    manager.add_webhook(url, max_retries=1, retry_backoff=1.0, allow_private=True)
    manager.notify(EventType.JOB_DEAD, {"job_id": "j"})
    wait_until(lambda: counts(manager)["failed"] == 1, timeout_s=10, message="given up")
    assert counts(manager)["retries"] == 1


def test_loopback_is_refused_without_allow_private_even_behind_a_name(
    manager: WebhookManager, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(ValueError, match="not a public address"):
        manager.add_webhook(receiver.url(host="127.0.0.1"))
    with pytest.raises(ValueError, match="not a public address"):
        manager.add_webhook(receiver.url(host="[::ffff:127.0.0.1]"))
    # "localhost" is a name: it is resolved at delivery, and 127.0.0.1 is refused then.
    manager.add_webhook(receiver.url(host="localhost"), max_retries=3)
    # The same name with the flag reaches the same server: the refusal is the guard's doing.
    manager.add_webhook(receiver.url(host="localhost", path="/allowed"), allow_private=True)
    manager.notify(EventType.JOB_COMPLETED, COMPLETED)
    manager.notify(EventType.JOB_FAILED, COMPLETED)
    assert manager.flush(10)
    assert [r.path for r in receiver.requests] == ["/allowed", "/allowed"]
    assert counts(manager, 0) | {"url": None} == {
        "url": None,
        "delivered": 0,
        "failed": 0,
        "refused": 2,
        "dropped": 0,
        "abandoned": 0,
        "retries": 0,  # a refusal is final
        "pending": 0,
    }
    refusals = [r for r in caplog.records if "not sent" in r.getMessage()]
    assert len(refusals) == 1  # logged once, not once per event
    assert "localhost resolves to 127.0.0.1" in refusals[0].getMessage()
    assert "allow_private=True" in refusals[0].getMessage()


def test_https_connects_to_the_checked_address_and_verifies_the_url_host(
    tmp_path: Path,
) -> None:
    cert, key = self_signed_certificate(tmp_path)
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(cert, key)
    trusting = ssl.create_default_context(cafile=str(cert))
    manager = WebhookManager(tls_context=trusting, stop_timeout_s=0.5)
    try:
        with Receiver(tls=server_side) as secure:
            # The certificate names "localhost" only: the connection goes to 127.0.0.1 (the
            # checked address) while SNI, the certificate check and Host keep the name.
            manager.add_webhook(secure.url(host="localhost", scheme="https"), allow_private=True)
            # Addressed by IP, the same certificate does not match: verification is on.
            manager.add_webhook(
                secure.url(host="127.0.0.1", scheme="https"), max_retries=0, allow_private=True
            )
            manager.notify(EventType.JOB_COMPLETED, COMPLETED)
            assert manager.flush(10)
            (request,) = secure.requests
            assert request.headers["Host"] == f"localhost:{secure.port}"
            assert json.loads(request.body)["event"] == "job.completed"
            assert counts(manager, 0)["delivered"] == 1
            assert counts(manager, 1)["failed"] == 1
    finally:
        manager.close()


def test_a_full_buffer_drops_events_with_one_warning_that_counts_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    manager = WebhookManager(max_pending=2, stop_timeout_s=0.2)
    with SilentServer() as silent:
        manager.add_webhook(silent.url(), timeout=30, allow_private=True)
        started = time.monotonic()
        for n in range(10):
            manager.notify(EventType.JOB_COMPLETED, {"job_id": str(n)})
        offering_s = time.monotonic() - started
        stats = counts(manager)
        assert stats["dropped"] >= 7 and stats["dropped"] + stats["pending"] == 10
        warnings = [r for r in caplog.records if "not keeping up" in r.getMessage()]
        assert len(warnings) == 1 and "dropped 1 event" in warnings[0].getMessage()
        closing = time.monotonic()
        manager.close()
        closing_s = time.monotonic() - closing
    assert offering_s < 5  # generous: offering never waits for the hung endpoint
    assert closing_s < 5  # stop_timeout_s 0.2 plus the interrupt's grace, not timeout=30
    final = counts(manager)
    assert final["abandoned"] == 10 - final["dropped"]
    later = [r for r in caplog.records if "more event(s) were dropped" in r.getMessage()]
    assert len(later) == 1 and f"{final['dropped'] - 1} more" in later[0].getMessage()


def test_closing_interrupts_a_hung_request_and_its_retries(manager: WebhookManager) -> None:
    with SilentServer() as silent:
        manager.add_webhook(silent.url(), timeout=60, max_retries=5, allow_private=True)
        manager.notify(EventType.JOB_COMPLETED, COMPLETED)
        wait_until(lambda: silent.accepted == 1, message="the request in flight")
        started = time.monotonic()
        manager.close()
        assert time.monotonic() - started < 5  # stop_timeout_s 0.5, not the 60 s timeout
    assert counts(manager)["abandoned"] == 1
    manager.notify(EventType.JOB_COMPLETED, COMPLETED)  # after close: ignored
    assert counts(manager)["pending"] == 0


def test_close_lets_queued_events_go_out_first(receiver: Receiver) -> None:
    manager = WebhookManager(stop_timeout_s=10)
    manager.add_webhook(receiver.url(), allow_private=True)
    for n in range(20):
        manager.notify(EventType.JOB_COMPLETED, {"job_id": str(n)})
    manager.close()
    assert [json.loads(r.body)["job_id"] for r in receiver.requests] == [str(n) for n in range(20)]


def test_no_thread_starts_before_the_first_event() -> None:
    import threading

    before = {t.name for t in threading.enumerate()}
    manager = WebhookManager()
    manager.add_webhook("https://hooks.example.com/in")
    assert {t.name for t in threading.enumerate()} == before
    manager.close()


# --- through the Queue -----------------------------------------------------------------------


def test_queue_add_webhook_posts_the_queue_events(queue: Queue, receiver: Receiver) -> None:
    @queue.task()
    def add(a: int, b: int) -> int:
        return a + b

    queue.add_webhook(receiver.url(), events=[EventType.JOB_ENQUEUED], allow_private=True)
    job = add.delay(1, 2)
    (request,) = wait_until(lambda: receiver.requests, message="job.enqueued")
    assert json.loads(request.body) == {
        "event": "job.enqueued",
        "task_name": add.name,
        "job_id": job.id,
        "queue": "default",
    }


def test_queue_pause_and_resume_events_reach_a_webhook(queue: Queue, receiver: Receiver) -> None:
    queue.add_webhook(receiver.url(), events=["queue.paused", "queue.resumed"], allow_private=True)
    queue.pause("emails")
    queue.resume("emails")
    wait_until(lambda: len(receiver.requests) == 2, message="two events")
    assert [json.loads(r.body) for r in receiver.requests] == [
        {"event": "queue.paused", "queue": "emails"},
        {"event": "queue.resumed", "queue": "emails"},
    ]


def test_queue_add_webhook_checks_its_arguments(queue: Queue) -> None:
    with pytest.raises(ValueError, match=r"http:// or https://.*ftp://"):
        queue.add_webhook("ftp://example.com/")
    with pytest.raises(ValueError, match="retry_backoff"):
        queue.add_webhook("https://example.com/", retry_backoff=0)
    with pytest.raises(ValueError, match="not a public address"):
        queue.add_webhook("http://10.0.0.5/")
    with pytest.raises(TypeError, match="allow_private must be a bool"):
        queue.add_webhook("https://example.com/", allow_private="yes")  # type: ignore[arg-type]


def test_a_closed_queue_takes_no_webhook(make_queue: MakeQueue) -> None:
    queue = make_queue()
    queue.close()
    with pytest.raises(QueueError, match="closed"):
        queue.add_webhook("https://example.com/")


def test_queue_close_stops_the_delivery_threads_while_an_endpoint_hangs(
    make_queue: MakeQueue,
) -> None:
    queue = make_queue()
    with SilentServer() as silent:
        queue.add_webhook(silent.url(), timeout=60, allow_private=True)
        queue.pause("default")
        wait_until(lambda: silent.accepted == 1, message="the hung request")
        started = time.monotonic()
        queue.close()
        assert time.monotonic() - started < 8  # about 2 s: the stop bound, not the timeout
    # The leak guard fails this test if a delivery thread is still alive.
