"""Cancellation: the watcher pushes requests to the pool, check_cancelled() reads a flag."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from taskito.context import current_job, get_active
from taskito.events import EventType
from taskito.exceptions import TaskCancelledError
from taskito.job import JobStatus, now_ms
from taskito.worker.pools.thread import ThreadPool
from tests.helpers import wait_until
from tests.worker.harness import Harness

CANCEL_FROM_ANOTHER_PROCESS = textwrap.dedent(
    """
    import json, sys, time
    from taskito.storage import open_storage

    storage = open_storage(**json.loads(sys.argv[1]))
    sent_at = time.time()
    ok = storage.request_cancel(sys.argv[2])
    print(repr(sent_at), ok, flush=True)
    storage.close()
    """
)


def cooperative_task(seen: dict[str, float], started: threading.Event) -> None:
    started.set()
    try:
        while True:
            current_job.check_cancelled()
            time.sleep(0.0005)
    except TaskCancelledError:
        seen["at"] = time.time()
        raise


def test_a_cooperative_task_stops_on_a_cancel_request(harness: Harness) -> None:
    seen: dict[str, float] = {}
    started = threading.Event()
    harness.task(lambda: cooperative_task(seen, started), name="loop")
    with harness.running():
        job_id = harness.enqueue("loop", max_retries=3)
        assert started.wait(5)
        requested_at = time.time()
        assert harness.storage.request_cancel(job_id)
        wait_until(lambda: harness.is_terminal(job_id))
    record = harness.job(job_id)
    assert (record.status, record.error) == (JobStatus.CANCELLED, "cancelled by request")
    assert seen["at"] - requested_at < 0.1
    assert harness.events.of(EventType.JOB_CANCELLED) == [{"job_id": job_id, "task_name": "loop"}]


def storage_json(harness: Harness) -> str:
    """The harness's database, for ``open_storage(**json.loads(...))`` in another process."""
    return json.dumps(harness.target.storage_kwargs())


def cancel_in_another_process(harness: Harness) -> float:
    """Cancel a cooperative job from a second process; return the seconds until the task
    saw ``TaskCancelledError``, counted from just before the request was written."""
    seen: dict[str, float] = {}
    started = threading.Event()
    harness.task(lambda: cooperative_task(seen, started), name="loop")
    with harness.running():
        job_id = harness.enqueue("loop")
        assert started.wait(5)
        done = subprocess.run(
            [sys.executable, "-c", CANCEL_FROM_ANOTHER_PROCESS, storage_json(harness), job_id],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        sent_at, ok = done.stdout.split()
        assert ok == "True"
        wait_until(lambda: harness.is_terminal(job_id))
    assert harness.status(job_id) is JobStatus.CANCELLED
    return seen["at"] - float(sent_at)


def test_cancel_from_another_process_arrives_within_100ms(harness: Harness) -> None:
    latencies = [cancel_in_another_process(harness) for _ in range(3)]
    assert max(latencies) < 0.1, latencies


def test_a_task_that_ignores_cancel_runs_to_completion(harness: Harness) -> None:
    started, requested = threading.Event(), threading.Event()

    def stubborn() -> bool:
        started.set()
        requested.wait(5)
        active = get_active()
        assert active is not None
        # The request did reach this run; the task just never looks at it.
        wait_until(active.cancel_flag.is_set, timeout_s=2)
        return True

    harness.task(stubborn)
    with harness.running():
        job_id = harness.enqueue("stubborn", max_retries=2)
        assert started.wait(5)
        assert harness.storage.request_cancel(job_id)
        requested.set()
        wait_until(lambda: harness.is_terminal(job_id))
    assert harness.result(job_id) is True
    assert harness.events.of(EventType.JOB_CANCELLED) == []


def test_a_cancelled_pending_job_never_starts(harness: Harness) -> None:
    ran: list[str] = []
    harness.task(lambda tag: ran.append(tag), name="record")
    doomed = harness.enqueue("record", "doomed")
    kept = harness.enqueue("record", "kept")
    assert harness.storage.cancel_pending(doomed, now_ms())
    harness.burst(lambda: harness.is_terminal(kept))
    assert ran == ["kept"]
    assert harness.status(doomed) is JobStatus.CANCELLED
    assert harness.events.of(EventType.JOB_CANCELLED) == []


def test_force_cancel_on_the_thread_pool_falls_back_to_cooperative(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    seen: dict[str, float] = {}
    started = threading.Event()
    harness.task(lambda: cooperative_task(seen, started), name="loop")
    pool = ThreadPool(harness.env, 1)
    outcomes: list[object] = []
    pool.start()
    try:
        job_id = harness.enqueue("loop")
        (job,) = harness.storage.claim("w", None, None, 1, now_ms(), 10_000)
        pool.submit(harness.env.resolve(job), lambda _job, outcome: outcomes.append(outcome))
        assert started.wait(5)
        with caplog.at_level(logging.INFO, logger="taskito.worker.pools.thread"):
            assert pool.cancel(job_id, force=True)
        assert "cannot stop a running thread" in caplog.text
        wait_until(lambda: outcomes)
        assert pool.cancel(job_id) is False  # no longer running here
    finally:
        pool.shutdown(5)
    assert "at" in seen
