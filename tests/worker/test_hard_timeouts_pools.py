"""Hard timeouts on every pool: at the deadline the attempt fails as timed out (``on_timeout``,
then a retry or the dead-letter queue), and the pool stops the work where it can: prefork
kills the child and starts a fresh one, the event loop cancels the asyncio task. A job with no
timeout is never stopped."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskito import EventType
from tests.backends import QueueTarget
from tests.helpers import wait_until
from tests.worker.pool_app import MakeApp, pool_apps, process_gone

TIMEOUT_S = 0.5

#: (pool, task whose first attempt hangs without checking, seconds it hangs). The thread pool
#: cannot stop its thread, so its task hangs for a bounded time only.
HANGING = [
    pytest.param("thread", "hangs", 1.5, id="thread"),
    pytest.param("thread", "ahangs", 3600.0, id="thread-async-task"),
    pytest.param("prefork", "hangs", 3600.0, id="prefork"),
    pytest.param("async", "ahangs", 3600.0, id="async"),
]


@pytest.fixture
def make_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: QueueTarget
) -> Iterator[MakeApp]:
    """Apps on ``target``: every test here runs on each pool and each backend."""
    yield from pool_apps(tmp_path, monkeypatch, target)


@pytest.mark.parametrize(("pool", "task_name", "hang_s"), HANGING)
def test_a_hung_attempt_is_stopped_at_its_timeout_and_retried(
    make_app: MakeApp, pool: str, task_name: str, hang_s: float
) -> None:
    app = make_app(workers=1)
    retrying = []
    app.queue.on_event(EventType.JOB_RETRYING, lambda _t, payload: retrying.append(payload))
    with app.running(pool):
        enqueued_at = time.monotonic()
        job = app.task(task_name).apply_async(args=(hang_s,), timeout=TIMEOUT_S)
        first_runner = app.pid_of(job.id, "attempt0")
        if pool == "prefork":
            wait_until(lambda: process_gone(first_runner), timeout_s=TIMEOUT_S + 5)
            assert time.monotonic() - enqueued_at < TIMEOUT_S + 1.0
        elif task_name == "ahangs":
            app.wait_for_mark(job.id, "interrupted", timeout_s=TIMEOUT_S + 5)
            assert time.monotonic() - enqueued_at < TIMEOUT_S + 1.0
        assert job.result(timeout=20) == "recovered"
    second_runner = app.pid_of(job.id, "attempt1")
    assert (second_runner != first_runner) is (pool == "prefork")
    (error,) = job.errors
    assert error["attempt"] == 0 and "timed out" in error["error"]
    me = os.getpid()
    assert app.hook_calls() == [("on_timeout", job.id, me), ("on_retry", job.id, me)]
    app.queue._event_bus.flush(5)
    assert [payload["job_id"] for payload in retrying] == [job.id]


@pytest.mark.parametrize(("pool", "task_name", "hang_s"), HANGING)
def test_a_timed_out_job_without_retries_is_dead_lettered(
    make_app: MakeApp, pool: str, task_name: str, hang_s: float
) -> None:
    app = make_app(workers=1)
    dead = []
    app.queue.on_event(EventType.JOB_DEAD, lambda _t, payload: dead.append(payload))
    with app.running(pool):
        job = app.task(task_name).apply_async(args=(hang_s,), timeout=TIMEOUT_S, max_retries=0)
        assert app.wait_for_status(job.id, "dead", "complete") == "dead"
        # The pool still serves (a prefork child was replaced; the loop runs on).
        assert app.task("pid").delay().result(timeout=20) > 0
    job.refresh()
    assert job.error is not None and "timed out" in job.error
    me = os.getpid()
    assert app.hook_calls() == [("on_timeout", job.id, me), ("on_dead_letter", job.id, me)]
    app.queue._event_bus.flush(5)
    assert [payload["job_id"] for payload in dead] == [job.id]
    assert [d["original_job_id"] for d in app.queue.dead_letters()] == [job.id]


@pytest.mark.parametrize(
    ("pool", "task_name"),
    [
        pytest.param("thread", "untimed", id="thread"),
        pytest.param("thread", "auntimed", id="thread-async-task"),
        pytest.param("prefork", "untimed", id="prefork"),
        pytest.param("async", "auntimed", id="async"),
    ],
)
def test_a_job_without_a_timeout_is_never_stopped(
    make_app: MakeApp, pool: str, task_name: str
) -> None:
    app = make_app(workers=1, default_timeout=None)
    with app.running(pool):
        job = app.task(task_name).delay(0.6)  # past the watchdog's 250 ms rounds
        record = app.queue._storage.get_job(job.id)
        assert record is not None and record.timeout_ms is None
        runner = job.result(timeout=20)
        assert app.task("pid").delay().result(timeout=20) == runner
    assert app.hook_calls() == []
    assert job.errors == []
