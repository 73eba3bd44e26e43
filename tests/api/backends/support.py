"""Façade tests that run on every backend: Queues on one fresh database per test, and a worker
in a background thread.

The ``backend`` and ``queue`` fixtures (``conftest.py`` here) give each test a fresh database;
a test opens as many Queues on it as it needs with ``backend.queue()``.
"""

from __future__ import annotations

import importlib.util
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from taskito import Queue
from taskito.job import JobRecord
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


class AppModule:
    """A test's app module: ``source`` written to ``root`` as ``<prefix><random>.py`` and
    imported, so ``--app <name>:queue`` (prefork children) finds it; its ``queue`` driven by a
    worker thread."""

    def __init__(self, root: Path, prefix: str, source: str) -> None:
        self.root = root
        self.name = f"{prefix}{uuid.uuid4().hex[:10]}"
        path = root / f"{self.name}.py"
        path.write_text(textwrap.dedent(source))
        spec = importlib.util.spec_from_file_location(self.name, path)
        assert spec is not None and spec.loader is not None
        self.module = importlib.util.module_from_spec(spec)
        sys.modules[self.name] = self.module
        spec.loader.exec_module(self.module)
        self.queue: Queue = self.module.queue
        self.spec = f"{self.name}:queue"

    def close(self) -> None:
        self.queue.close()
        sys.modules.pop(self.name, None)

    def run(self, pool: str) -> Any:
        return worker_thread(self.queue, pool=pool, app=self.spec, workers=2)

    def final(self, job_id: str, timeout_s: float = 30.0) -> JobRecord:
        def settled() -> JobRecord | None:
            record = self.queue._storage.get_job(job_id)
            done = record is not None and record.status in ("complete", "dead", "failed")
            return record if done else None

        record = wait_until(settled, timeout_s, message=f"job {job_id} to settle")
        assert record is not None
        return record
