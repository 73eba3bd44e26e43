"""``TaskitoRouter`` on Postgres and Redis (SQLite is the other tests' backend): counts, a job,
a result waited for while a real worker runs it, cancel, dead letters; and, when the storage
server cannot be reached, 503 and the end of a progress stream."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from taskito import Queue
from tests.api.backends.support import Backend, open_backend, worker_thread
from tests.contrib.fastapi_support import PREFIX, EventStream, make_app, register
from tests.dashboard.harness import Forwarder, serve
from tests.helpers import require_redis, wait_until


@pytest.fixture(params=["postgres", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with open_backend(request.param, tmp_path) as opened:
        yield opened


@pytest.fixture
def queue(backend: Backend) -> Queue:
    return backend.queue()


def test_the_routes_on_a_server_backend(queue: Queue) -> None:
    tasks: dict[str, Any] = register(queue)
    pending = tasks["add"].delay(1, 2)
    with TestClient(make_app(queue)) as client:
        assert client.get(f"{PREFIX}/stats").json()["pending"] == 1
        assert client.get(f"{PREFIX}/jobs/{pending.id}").json()["task_name"] == "add"
        assert client.post(f"{PREFIX}/jobs/{pending.id}/cancel").json()["outcome"] == "cancelled"
        added, doomed = tasks["add"].delay(20, 22), tasks["boom"].delay("no")
        with worker_thread(queue):
            answer = client.get(f"{PREFIX}/jobs/{added.id}/result?timeout=30").json()
            assert (answer["status"], answer["result"]) == ("complete", 42)
            wait_until(lambda: client.get(f"{PREFIX}/stats").json()["dead"] == 1, timeout_s=15)
        [letter] = client.get(f"{PREFIX}/dead-letters").json()
        assert (letter["original_job_id"], letter["exception"]) == (doomed.id, "ValueError")
        retried = client.post(f"{PREFIX}/dead-letters/{letter['id']}/retry").json()
        assert client.get(f"{PREFIX}/jobs/{retried['new_job_id']}").json()["status"] == "pending"
        assert client.get(f"{PREFIX}/stats/queues").json()["default"]["pending"] == 1


@contextmanager
def redis_behind_a_forwarder() -> Iterator[tuple[Queue, Forwarder]]:
    """A Queue on Redis through a forwarder the test can cut; its keys deleted afterwards."""
    import redis

    real_url = require_redis()
    url = urlsplit(real_url)
    prefix = f"t{uuid.uuid4().hex[:16]}"
    forwarder = Forwarder((url.hostname or "127.0.0.1", url.port or 6379))
    try:
        queue = Queue(
            backend="redis", db_url=f"redis://127.0.0.1:{forwarder.port}{url.path}", schema=prefix
        )
        with queue:
            yield queue, forwarder
    finally:
        forwarder.cut()
        cleaner = redis.Redis.from_url(real_url)
        keys = list(cleaner.scan_iter(match=f"{prefix}:*"))
        if keys:
            cleaner.unlink(*keys)
        cleaner.close()


def test_unreachable_storage_is_503() -> None:
    """Redis cut off: 503, while /health still answers."""
    with redis_behind_a_forwarder() as (queue, forwarder), TestClient(make_app(queue)) as client:
        assert client.get(f"{PREFIX}/stats").status_code == 200
        forwarder.cut()
        answer = client.get(f"{PREFIX}/stats")
        assert (answer.status_code, answer.json()) == (503, {"detail": "Storage unavailable"})
        assert client.get(f"{PREFIX}/readiness").status_code == 503
        assert client.get(f"{PREFIX}/health").status_code == 200


def test_storage_lost_while_streaming_ends_the_stream_with_an_error() -> None:
    with redis_behind_a_forwarder() as (queue, forwarder):
        job = queue.enqueue("never_runs")
        path = f"{PREFIX}/jobs/{job.id}/progress"
        with serve(make_app(queue, sse_poll_interval=0.02)) as port, EventStream(port, path) as s:
            events = iter(s)
            assert next(events) == {"status": "pending", "progress": None}
            forwarder.cut()
            assert list(events) == [{"event": "error", "error": "Storage unavailable"}]
