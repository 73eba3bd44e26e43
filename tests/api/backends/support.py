"""Façade tests that run on every backend: Queues on one fresh database per test, and a worker
in a background thread.

The ``backend`` and ``queue`` fixtures (``conftest.py`` here) give each test a fresh database;
a test opens as many Queues on it as it needs with ``backend.queue()``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from taskito import Queue
from tests.backends import BACKEND_NAMES, QueueTarget, queue_target
from tests.helpers import wait_until

__all__ = [
    "BACKEND_NAMES",
    "Backend",
    "open_backend",
    "record_of",
    "status_of",
    "worker_thread",
]


class Backend:
    """One fresh database: ``queue(**options)`` opens a Queue on it (closed at the end)."""

    def __init__(self, target: QueueTarget) -> None:
        self.name = target.name
        self.target = target
        self._opened: list[Queue] = []

    def queue(self, **options: Any) -> Queue:
        opened = Queue(**self.target.kwargs, **options)
        self._opened.append(opened)
        return opened

    def close(self) -> None:
        for opened in self._opened:
            opened.close()


@contextmanager
def open_backend(name: str, tmp_path: Path) -> Iterator[Backend]:
    backend = Backend(queue_target(name, tmp_path))
    try:
        yield backend
    finally:
        try:
            backend.close()
        finally:
            backend.target.cleanup()


@contextmanager
def worker_thread(queue: Queue, **options: Any) -> Iterator[None]:
    """``queue.run_worker(**options)`` in a thread for the block; then stop and join it."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            queue.run_worker(**options)
        except BaseException as exc:  # reported after the join
            errors.append(exc)

    thread = threading.Thread(target=run, name="test-api-worker")
    thread.start()
    try:
        wait_until(lambda: queue._running_workers or errors, message="worker registered")
        yield
    finally:
        queue.request_shutdown()
        thread.join(30)
    assert not thread.is_alive(), "the worker did not stop within 30s"
    if errors:
        raise errors[0]


def status_of(queue: Queue, job_id: str) -> str:
    job = queue.get_job(job_id)
    assert job is not None, f"no job {job_id}"
    return job.status


def record_of(queue: Queue, job_id: str) -> Any:
    """The stored record of ``job_id`` (fails the test when there is none)."""
    record = queue._storage.get_job(job_id)
    assert record is not None, f"no job {job_id}"
    return record
