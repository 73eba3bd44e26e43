"""Webhooks with a real worker on SQLite: the outcome events a worker emits reach an HTTP
endpoint, and an endpoint that never answers slows neither the worker nor the producer."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from taskito import EventType, Queue
from tests.helpers import wait_until
from tests.webhook_servers import Receiver, SilentServer


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[Queue]:
    q = Queue(db_path=str(tmp_path / "webhooks.db"), workers=4)
    try:
        yield q
    finally:
        q.close()


@contextmanager
def worker_thread(queue: Queue) -> Iterator[None]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            queue.run_worker()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, name="test-webhook-worker")
    thread.start()
    try:
        wait_until(lambda: queue._running_workers, message="worker registered")
        yield
    finally:
        queue.request_shutdown()
        thread.join(30)
    assert not thread.is_alive()
    if errors:
        raise errors[0]


def test_a_completed_job_reaches_the_webhook_signed(queue: Queue) -> None:
    @queue.task()
    def add(a: int, b: int) -> int:
        return a + b

    @queue.task(max_retries=0)
    def explode() -> None:
        raise ValueError("no")

    with Receiver() as receiver:
        queue.add_webhook(
            receiver.url(),
            events=[EventType.JOB_COMPLETED, EventType.JOB_FAILED],
            secret="k",
            allow_private=True,
        )
        with worker_thread(queue):
            job = add.delay(2, 3)
            assert job.result(timeout=10) == 5
            failing = explode.delay()
            wait_until(lambda: len(receiver.requests) == 2, timeout_s=10, message="2 events")
        bodies = {json.loads(r.body)["event"]: json.loads(r.body) for r in receiver.requests}
        for request in receiver.requests:
            digest = hmac.new(b"k", request.body, hashlib.sha256).hexdigest()
            assert request.headers["X-Taskito-Signature"] == f"sha256={digest}"
    assert isinstance(bodies["job.completed"].pop("duration_ms"), float)
    assert bodies["job.completed"] == {
        "event": "job.completed",
        "task_name": add.name,
        "job_id": job.id,
        "queue": "default",
    }
    assert bodies["job.failed"]["job_id"] == failing.id
    assert "no" in bodies["job.failed"]["error"]


def test_jobs_complete_promptly_while_the_endpoint_never_answers(queue: Queue) -> None:
    jobs = 200

    @queue.task()
    def noop(n: int) -> int:
        return n

    with SilentServer() as silent:
        # A delivery waits up to 60 s for an answer that never comes: had it run on the
        # worker's or the producer's path, the deadlines below could not be met.
        queue.add_webhook(silent.url(), timeout=60, max_retries=3, allow_private=True)
        with worker_thread(queue):
            started = time.monotonic()
            results = [noop.delay(n) for n in range(jobs)]
            assert time.monotonic() - started < 30  # enqueueing did not wait for the endpoint
            wait_until(
                lambda: queue.stats()["completed"] == jobs,
                timeout_s=30,
                interval_s=0.05,
                message=f"{jobs} jobs completed",
            )
            assert [r.result(timeout=5) for r in results[:3]] == [0, 1, 2]
            assert silent.accepted >= 1  # the webhook really was trying
        closing = time.monotonic()
        queue.close()
        assert time.monotonic() - closing < 10  # bounded, though the endpoint still hangs
    assert queue._webhook_manager is not None
    (stats,) = queue._webhook_manager.stats()
    assert stats["delivered"] == 0
    assert stats["dropped"] + stats["abandoned"] + stats["pending"] > 0
