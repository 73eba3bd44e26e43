"""Workers run on a Queue: ``run_worker``'s options checked into ``WorkerSettings``, the
workers running in this process, so ``request_shutdown()`` from any thread reaches them
(including a worker that is still starting: building its pool, spawning children), and the
signals ``arun_worker`` routes to a shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from taskito import _checks
from taskito.exceptions import ConfigurationError
from taskito.queue import checks as check
from taskito.worker.pools import POOL_NAMES

if TYPE_CHECKING:
    from taskito.queue.settings import QueueSettings
    from taskito.worker import Worker, WorkerSettings


def worker_settings(
    settings: QueueSettings,
    queues: list[str] | None,
    tags: list[str] | None,
    pool: str,
    app: str | None,
    *,
    max_tasks_per_child: int,
    workers: int | None,
    drain_timeout: float | None,
) -> WorkerSettings:
    """``run_worker``'s options, checked (``ConfigurationError`` names a bad one), over the
    Queue's ``settings``: ``workers`` and ``drain_timeout``, when given, override its own."""
    _check_pool(pool, app)
    _checks.check_count("max_tasks_per_child", max_tasks_per_child, error=ConfigurationError)
    if max_tasks_per_child and pool != "prefork":
        raise ConfigurationError(
            f"max_tasks_per_child applies to pool='prefork' only, not pool={pool!r}"
        )
    if queues is not None:
        queues = list(check.check_storable_names("queues", queues))
        if not queues:
            raise ConfigurationError("queues=[] consumes nothing: pass None for every queue")
    tag_names = check.check_storable_names("tags", tags)
    overrides = settings.for_worker(workers, drain_timeout)
    from taskito.worker import WorkerSettings

    return WorkerSettings(
        queues=None if queues is None else tuple(queues),
        tags=tag_names,
        pool=pool,
        app=app,
        threads=overrides.workers,
        drain_timeout_s=overrides.drain_timeout,
        async_concurrency=overrides.async_concurrency,
        max_tasks_per_child=max_tasks_per_child,
        cleanup_interval_s=overrides.cleanup_interval_s,
    )


def _check_pool(pool: object, app: object) -> None:
    if pool == "prefork":
        if sys.platform == "win32":
            raise NotImplementedError(
                "pool='prefork' is not supported on Windows; use pool='thread'"
            )
        if not app:
            raise ConfigurationError(
                "app= is required when pool='prefork' (e.g. app='myapp.tasks:queue'), "
                "so that child processes can import the Queue"
            )
    elif pool not in POOL_NAMES:
        raise ConfigurationError(f"Unknown pool {pool!r}: expected one of {', '.join(POOL_NAMES)}")
    if app is not None and not isinstance(app, str):
        raise TypeError(f"app must be a 'module:attribute' string, not {type(app).__name__}")


def install_signal_handlers(
    loop: asyncio.AbstractEventLoop, callback: Callable[[], None]
) -> list[signal.Signals]:
    """Route SIGINT/SIGTERM to ``callback`` where the loop can (main thread, not Windows)."""
    if threading.current_thread() is not threading.main_thread() or sys.platform == "win32":
        return []
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, callback)
            installed.append(sig)
    return installed


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
