"""The workers a Queue runs in this process, so ``request_shutdown()`` from any thread reaches
them — including a worker that is still starting (building its pool, spawning children)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from taskito.worker import Worker


class RunningWorkers:
    """Running workers plus a count of ``run_worker`` calls that have not registered yet.

    A shutdown requested while a call is starting is remembered and delivered to the worker
    as soon as it registers, so it is never lost in that window.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._workers: set[Worker] = set()
        self._starting = 0
        self._stop_starting = False

    def __bool__(self) -> bool:
        with self._lock:
            return bool(self._workers)

    def __iter__(self) -> Iterator[Worker]:
        """Iterate over a snapshot: safe while workers come and go."""
        with self._lock:
            return iter(list(self._workers))

    @contextmanager
    def starting(self) -> Iterator[None]:
        """Wrap the construction of a worker: a shutdown requested meanwhile is kept."""
        with self._lock:
            self._starting += 1
        try:
            yield
        finally:
            with self._lock:
                self._starting -= 1
                if self._starting == 0:
                    self._stop_starting = False

    def register(self, worker: Worker) -> None:
        """Add a constructed worker (inside ``starting()``); a pending shutdown reaches it."""
        with self._lock:
            self._workers.add(worker)
            stop = self._stop_starting
        if stop:
            worker.request_shutdown()

    def discard(self, worker: Worker) -> None:
        with self._lock:
            self._workers.discard(worker)

    def request_shutdown(self) -> None:
        with self._lock:
            workers = list(self._workers)
            if self._starting:
                self._stop_starting = True
        for worker in workers:
            worker.request_shutdown()
