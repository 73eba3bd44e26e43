"""The async pool: the worker runs its jobs on one event loop thread, up to
``async_concurrency`` ``async def`` tasks at once.

A sync task claimed by this worker runs on a small thread pool (``threads`` threads, started
with the first such job), so a mixed app still works; the claim size keeps every claimed job
able to start at once (see ``free_slots`` and docs/pools.md).
"""

from __future__ import annotations

import threading
import time

from taskito.registry import ClaimedJob, ExecutionEnv
from taskito.worker.pools.asyncio_loop import EventLoopRunner, TaskKinds, is_async_job
from taskito.worker.pools.base import OnDone, Pool
from taskito.worker.pools.thread import ThreadPool


class AsyncPool(Pool):
    """``async def`` tasks on one event loop; sync tasks on ``threads`` helper threads."""

    name = "async"

    def __init__(
        self,
        env: ExecutionEnv,
        threads: int,
        *,
        app: str | None = None,
        async_concurrency: int = 100,
    ) -> None:
        self._env = env
        self._loop = EventLoopRunner(env, async_concurrency, thread_name="taskito-async-loop")
        self._sync = ThreadPool(env, threads, thread_name_prefix="taskito-async-sync")
        self._kinds = TaskKinds(env)
        self._lock = threading.Lock()
        self._sync_started = False
        self._closed = False

    @property
    def capacity(self) -> int:
        return self._loop.concurrency

    def free_slots(self, executing: int) -> int:
        """Free loop slots and, with sync tasks registered, free helper threads: no more than
        the fewer of the two then, since a claimed job may be of either kind and must start at
        once (and never more than the worker's own count allows; see ``ThreadPool``)."""
        if not self._kinds.has_sync:
            return min(self._loop.free(), self.capacity - executing)
        total = self.capacity + self._sync.capacity - executing
        return min(self._loop.free(), self._sync.free_threads(), total)

    def start(self) -> None:
        self._loop.start()

    def submit(self, claimed: ClaimedJob, on_done: OnDone) -> None:
        if is_async_job(claimed):
            self._loop.submit(claimed, on_done)
            return
        with self._lock:
            if self._closed:
                raise RuntimeError("the async pool is not running")
            if not self._sync_started:
                self._sync.start()
                self._sync_started = True
        self._sync.submit(claimed, on_done)

    def cancel(self, job_id: str, force: bool = False) -> bool:
        return self._loop.cancel(job_id, force) or self._sync.cancel(job_id, force)

    def abandon(self, job_id: str) -> bool:
        return self._loop.abandon(job_id) or self._sync.abandon(job_id)

    def shutdown(self, drain_timeout_s: float) -> None:
        with self._lock:
            self._closed = True
            sync_started = self._sync_started
        deadline = time.monotonic() + max(0.0, drain_timeout_s)
        if sync_started:
            self._sync.shutdown(drain_timeout_s)
        # The loop's tasks went on running meanwhile; they get what is left of the timeout.
        self._loop.shutdown(max(0.0, deadline - time.monotonic()))


__all__ = ["AsyncPool"]
