"""The worker driven through the Queue façade: ``queue.run_worker()`` in a thread or in a
process of its own, ``queue.cancel()`` from another process, events and hooks; on every
backend (the ``target`` fixture)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from taskito import EventType, Queue, TaskCancelledError, TaskMiddleware, current_job
from tests.backends import QueueTarget
from tests.helpers import wait_until


@pytest.fixture
def queue(target: QueueTarget) -> Iterator[Queue]:
    q = Queue(**target.kwargs, workers=2)
    try:
        yield q
    finally:
        q.close()


def status_of(queue: Queue, job_id: str) -> str:
    job = queue.get_job(job_id)
    assert job is not None, f"no job {job_id}"
    return job.status


@contextmanager
def worker_thread(queue: Queue, **options: Any) -> Iterator[None]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            queue.run_worker(**options)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, name="test-queue-worker")
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


def test_run_worker_consumes_every_queue_by_default(queue: Queue) -> None:
    @queue.task(queue="emails")
    def send(to: str) -> str:
        return f"sent to {to}"

    @queue.task()
    def add(a: int, b: int) -> int:
        return a + b

    with worker_thread(queue):
        assert send.delay("ann").result(timeout=10) == "sent to ann"
        assert add.delay(2, 3).result(timeout=10) == 5
    assert queue.workers() == []


def test_outcome_hooks_and_events_through_the_queue(queue: Queue) -> None:
    retry_counts: list[tuple[str, int, int]] = []
    events: list[tuple[EventType, dict[str, Any]]] = []

    class Recorder(TaskMiddleware):
        def on_retry(self, ctx: Any, error: BaseException, retry_count: int) -> None:
            retry_counts.append(("retry", ctx.retry_count, retry_count))

        def on_dead_letter(self, ctx: Any, error: BaseException) -> None:
            retry_counts.append(("dead", ctx.retry_count, -1))

    queue._global_middleware.append(Recorder())
    for kind in (EventType.JOB_RETRYING, EventType.JOB_DEAD, EventType.JOB_FAILED):
        queue.on_event(kind, lambda t, p: events.append((t, p)))

    @queue.task(max_retries=2, retry_backoff=0.01)
    def always_fails() -> None:
        raise RuntimeError(f"attempt {current_job.retry_count}")

    with worker_thread(queue):
        job = always_fails.delay()
        wait_until(lambda: status_of(queue, job.id) == "dead", timeout_s=10)
        queue._event_bus.flush(5)
    assert retry_counts == [("retry", 0, 0), ("retry", 1, 1), ("dead", 2, -1)]
    kinds = sorted(kind.value for kind, _ in events)
    assert kinds == ["job.dead"] + ["job.failed"] * 3 + ["job.retrying"] * 2


CANCEL_WITH_A_QUEUE = textwrap.dedent(
    """
    import json, sys, time
    from taskito import Queue

    queue = Queue(**json.loads(sys.argv[1]))
    sent_at = time.time()
    ok = queue.cancel(sys.argv[2])
    print(repr(sent_at), ok, flush=True)
    queue.close()
    """
)


def test_queue_cancel_from_another_process_reaches_the_task(
    target: QueueTarget, queue: Queue
) -> None:
    seen: dict[str, float] = {}
    started = threading.Event()

    @queue.task()
    def patient() -> None:
        started.set()
        try:
            while True:
                current_job.check_cancelled()
                time.sleep(0.0005)
        except TaskCancelledError:
            seen["at"] = time.time()
            raise

    with worker_thread(queue):
        job = patient.delay()
        assert started.wait(10)
        done = subprocess.run(
            [sys.executable, "-c", CANCEL_WITH_A_QUEUE, target.as_json(), job.id],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        sent_at, ok = done.stdout.split()
        assert ok == "True"
        wait_until(lambda: status_of(queue, job.id) == "cancelled", timeout_s=10)
    assert seen["at"] - float(sent_at) < 0.1
    with pytest.raises(TaskCancelledError):
        job.result(timeout=1)


APP_MODULE = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from taskito import Queue

    queue = Queue(**json.loads(sys.argv[1]), workers=2, drain_timeout={drain_timeout})
    marker = Path(sys.argv[2])


    @queue.task(name="slow")
    def slow(seconds):
        marker.write_text("started")
        time.sleep(seconds)
        return "slept"


    if __name__ == "__main__":
        queue.run_worker()
        print("stopped", flush=True)
    """
)


@contextmanager
def app_process(target: QueueTarget, tmp_path: Path, drain_timeout: float) -> Iterator[Any]:
    module = tmp_path / "worker_app.py"
    module.write_text(APP_MODULE.format(drain_timeout=drain_timeout))
    marker = tmp_path / "started.txt"
    process = subprocess.Popen(
        [sys.executable, str(module), target.as_json(), str(marker)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process, marker
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


def enqueue_slow(queue: Queue, seconds: float) -> str:
    return queue.enqueue("slow", args=(seconds,)).id


def test_sigint_drains_an_app_worker_and_a_second_signal_stops_it(
    target: QueueTarget, tmp_path: Path, queue: Queue
) -> None:
    first = enqueue_slow(queue, 0.5)
    with app_process(target, tmp_path, drain_timeout=30) as (process, marker):
        wait_until(marker.exists, timeout_s=20)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
        assert process.returncode == 0, err
        assert out.strip() == "stopped"
    assert status_of(queue, first) == "complete"

    marker = tmp_path / "started.txt"
    marker.unlink()
    stuck = enqueue_slow(queue, 60)
    with app_process(target, tmp_path, drain_timeout=60) as (process, marker):
        wait_until(marker.exists, timeout_s=20)
        process.send_signal(signal.SIGINT)
        wait_until(lambda: [w["status"] for w in queue.workers()] == ["draining"])
        began = time.monotonic()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
        assert time.monotonic() - began < 5
        assert process.returncode == 0, err
    assert status_of(queue, stuck) == "pending"  # released as a rescue when it stopped


def test_run_worker_keywords_override_workers_and_drain_timeout_for_that_worker(
    queue: Queue,
) -> None:
    release = threading.Event()

    @queue.task()
    def hold() -> None:
        release.wait(30)

    try:
        with worker_thread(queue, workers=3, drain_timeout=0.2):
            wait_until(lambda: len(queue.workers()) == 1, message="worker listed")
            assert queue.workers()[0]["threads"] == 3  # the Queue says workers=2
            job = hold.delay()
            wait_until(lambda: status_of(queue, job.id) == "running", timeout_s=10)
            stopping_at = time.monotonic()
        # The Queue's drain_timeout (30 s) would still be waiting for the held job.
        assert time.monotonic() - stopping_at < 10
    finally:
        release.set()


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"workers": -1}, ValueError, "workers must be >= 0, got -1"),
        ({"workers": "2"}, TypeError, "workers must be an int"),
        ({"drain_timeout": -1}, ValueError, "drain_timeout must be a finite non-negative"),
        ({"drain_timeout": 1e10}, ValueError, "drain_timeout must be at most"),
    ],
)
def test_run_worker_refuses_bad_overrides_before_it_starts(
    queue: Queue, options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        queue.run_worker(**options)
    assert queue.workers() == []
