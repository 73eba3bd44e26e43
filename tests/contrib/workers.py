"""Running a real worker for a test: ``queue.run_worker`` on a thread for the length of a
block, then drained and joined; and waiting for jobs to settle."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from taskito import JobResult, Queue
from tests.helpers import wait_until

#: The ``make_queue`` fixture: ``make_queue(**Queue_kwargs) -> Queue``.
MakeQueue = Callable[..., Queue]

FINAL = ("complete", "dead", "cancelled")


@contextmanager
def running_worker(queue: Queue, **options: Any) -> Iterator[None]:
    """``queue.run_worker(**options)`` on a thread while the block runs; then drain and join."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            queue.run_worker(**options)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, name="test-contrib-worker")
    thread.start()
    try:
        wait_until(
            lambda: queue._running_workers or not thread.is_alive(),
            timeout_s=20,
            message="the worker to register",
        )
        yield
    finally:
        deadline = time.monotonic() + 60
        while thread.is_alive() and time.monotonic() < deadline:
            queue.request_shutdown()
            thread.join(0.05)
        assert not thread.is_alive(), "the worker did not stop"
    if errors:
        raise errors[0]


def wait_for_final(queue: Queue, jobs: Sequence[JobResult], timeout_s: float = 30.0) -> list[str]:
    """Wait until every job is complete, dead or cancelled; return their statuses."""

    def statuses() -> list[str]:
        found = [queue.get_job(job.id) for job in jobs]
        return [job.status if job is not None else "missing" for job in found]

    wait_until(
        lambda: all(status in FINAL for status in statuses()),
        timeout_s,
        message="the jobs to settle",
    )
    return statuses()
