"""``/api/interception-stats`` and ``/api/proxy-stats`` show the live figures of the process the
dashboard runs in: what its Queue intercepted at enqueue, and what its worker (a real one, on a
thread) rebuilt."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskito import InterceptionError, Queue
from taskito.dashboard import create_app
from tests.api.backends.support import worker_thread
from tests.dashboard.harness import Client, serve
from tests.helpers import wait_until


@pytest.fixture
def intercepting(tmp_path: Path) -> Iterator[Queue]:
    opened = Queue(db_path=str(tmp_path / "taskito.db"), interception="strict")
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def client(intercepting: Queue) -> Iterator[Client]:
    with serve(create_app(intercepting)) as port:
        opened = Client(port)
        opened.prime()
        yield opened


def test_the_views_follow_what_the_queue_and_its_worker_do(
    intercepting: Queue, client: Client
) -> None:
    @intercepting.task(name="log_it", max_retries=0)
    def log_it(log: logging.Logger, when: dt.date) -> str:
        return f"{log.name} {when.isoformat()}"

    assert client.get("/api/proxy-stats").json() == []
    empty = client.get("/api/interception-stats").json()
    assert empty["total_intercepts"] == 0 and set(empty["strategy_counts"]) == {
        "pass",
        "convert",
        "redirect",
        "reject",
        "proxy",
    }
    job = log_it.delay(logging.getLogger("dash"), dt.date(2024, 1, 2))
    with pytest.raises(InterceptionError):
        log_it.delay(threading.Lock(), dt.date(2024, 1, 2))
    stats = client.get("/api/interception-stats").json()
    assert stats["total_intercepts"] == 2
    assert stats["strategy_counts"]["proxy"] == 1 and stats["strategy_counts"]["reject"] == 1
    with worker_thread(intercepting):
        assert job.result(20) == "dash 2024-01-02"
        proxies = wait_until(lambda: client.get("/api/proxy-stats").json())
    (logger_stats,) = proxies
    assert logger_stats["handler"] == "logger" and logger_stats["total_reconstructions"] == 1
    assert logger_stats["total_errors"] == 0 and logger_stats["avg_duration_ms"] >= 0
