"""The thread pool (the default): N threads in this process, each running one job at a time,
and for ``async def`` tasks an event loop thread (started on the first one), at most
``async_concurrency`` of them at once.

A thread cannot be stopped from outside, so a hard timeout abandons the thread instead: the
worker has already recorded the timeout, the pool starts a replacement so capacity stays at N,
and the stuck thread exits when its job finally returns, its result unreported. A forced cancel
stays cooperative for the same reason (async tasks do get ``Task.cancel()``).
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time

from taskito._checks import check_positive
from taskito.execution import escaped_outcome, run_job
from taskito.job import Outcome
from taskito.registry import ClaimedJob, ExecutionEnv
from taskito.worker.pools.asyncio_loop import EventLoopRunner, TaskKinds, is_async_job
from taskito.worker.pools.base import CancelFlag, OnDone, Pool

logger = logging.getLogger("taskito.worker.pools.thread")


class _Slot:
    """One submitted job, its cancel flag, and the thread running it once one took it."""

    __slots__ = ("abandoned", "cancel_flag", "claimed", "job", "on_done", "thread")

    def __init__(self, claimed: ClaimedJob, on_done: OnDone) -> None:
        self.claimed = claimed
        self.job = claimed.job
        self.on_done = on_done
        self.cancel_flag = CancelFlag()
        self.thread: threading.Thread | None = None
        self.abandoned = False


class ThreadPool(Pool):
    """Runs jobs on ``threads`` daemon threads sharing one work queue."""

    name = "thread"

    def __init__(
        self,
        env: ExecutionEnv,
        threads: int,
        *,
        async_concurrency: int = 100,
        thread_name_prefix: str = "",
    ) -> None:
        check_positive("threads", threads, type_error=ValueError)
        self._env = env
        self._threads = threads
        self._prefix = thread_name_prefix or "taskito-thread"
        # Built now so a bad value fails here; its thread starts with the first async job.
        self._loop = EventLoopRunner(env, async_concurrency, thread_name=f"{self._prefix}-loop")
        self._loop_started = False
        self._kinds = TaskKinds(env)
        self._work: queue.SimpleQueue[_Slot | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._slots: dict[str, _Slot] = {}
        self._live: set[threading.Thread] = set()
        self._abandoned: set[threading.Thread] = set()
        self._numbers = itertools.count(1)
        self._started = False
        self._closed = False

    @property
    def capacity(self) -> int:
        return self._threads

    def free_slots(self, executing: int) -> int:
        """Free threads and, with async tasks registered, free loop slots: no more than the
        fewer of the two when both kinds are registered, since a claimed job may be of either
        kind and must start at once. Never more than the worker's own count allows either: a
        job finished here but not yet recorded holds its place until its outcome is written."""
        has_sync, has_async = self._kinds.has_sync, self._kinds.has_async
        if not has_async:
            return self._threads - executing
        free = min(self._threads + self._loop.concurrency - executing, self._loop.free())
        return min(free, self.free_threads()) if has_sync else free

    def free_threads(self) -> int:
        """Threads not running or about to run a sync job."""
        with self._lock:
            return self._threads - len(self._slots)

    def start(self) -> None:
        with self._lock:
            if self._started:
                raise RuntimeError("this ThreadPool was already started")
            self._started = True
            for _ in range(self._threads):
                self._spawn_locked()

    def submit(self, claimed: ClaimedJob, on_done: OnDone) -> None:
        if is_async_job(claimed):
            self._start_loop().submit(claimed, on_done)
            return
        job = claimed.job
        slot = _Slot(claimed, on_done)
        with self._lock:
            if not self._started or self._closed:
                raise RuntimeError("the thread pool is not running")
            if job.id in self._slots:
                raise ValueError(f"job {job.id} is already running in this pool")
            self._slots[job.id] = slot
        self._work.put(slot)

    def _start_loop(self) -> EventLoopRunner:
        with self._lock:
            if not self._started or self._closed:
                raise RuntimeError("the thread pool is not running")
            if not self._loop_started:
                self._loop.start()
                self._loop_started = True
        return self._loop

    def cancel(self, job_id: str, force: bool = False) -> bool:
        with self._lock:
            slot = self._slots.get(job_id)
        if slot is None:
            return self._loop.cancel(job_id, force)
        slot.cancel_flag.set()
        if force:
            logger.info(
                "the thread pool cannot stop a running thread; the cancel stays cooperative",
                extra={"job_id": job_id},
            )
        return True

    def abandon(self, job_id: str) -> bool:
        with self._lock:
            slot = self._slots.pop(job_id, None)
            if slot is None:
                return self._loop.abandon(job_id)
            slot.abandoned = True
            # Not started yet (the thread has not taken it): the thread will skip it.
            stuck = slot.thread
            if stuck is not None:
                self._live.discard(stuck)
                self._abandoned.add(stuck)
                if not self._closed:
                    self._spawn_locked()
        # A task that checks for cancellation can still stop early.
        slot.cancel_flag.set()
        if stuck is not None:
            logger.warning(
                "job %s passed its hard timeout; its thread %s is abandoned and replaced",
                job_id,
                stuck.name,
                extra={"job_id": job_id, "task_name": slot.job.task_name},
            )
        return True

    def shutdown(self, drain_timeout_s: float) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            threads = list(self._live)
            abandoned = [thread.name for thread in self._abandoned]
            loop_started = self._loop_started
            for _ in threads:
                self._work.put(None)
        deadline = time.monotonic() + max(0.0, drain_timeout_s)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if loop_started:
            # Its tasks have been draining meanwhile; they get what is left of the timeout.
            self._loop.shutdown(max(0.0, deadline - time.monotonic()))
        still_running = [t.name for t in threads if t.is_alive()]
        if still_running:
            logger.warning(
                "thread pool shut down with %d thread(s) still running a job: %s",
                len(still_running),
                ", ".join(still_running),
            )
        if abandoned:
            # Their jobs were already recorded as timed out; nothing is waiting for them.
            logger.warning(
                "thread pool shut down with %d abandoned (timed-out) thread(s) still running: %s",
                len(abandoned),
                ", ".join(abandoned),
            )

    # --- threads ------------------------------------------------------------------------

    def _spawn_locked(self) -> None:
        thread = threading.Thread(
            target=self._serve,
            name=f"{self._prefix}-{next(self._numbers)}",
            daemon=True,
        )
        self._live.add(thread)
        thread.start()

    def _serve(self) -> None:
        me = threading.current_thread()
        while True:
            slot = self._work.get()
            if slot is None:
                break
            with self._lock:
                if slot.abandoned:
                    continue
                slot.thread = me
            try:
                outcome = run_job(slot.claimed, self._env, slot.cancel_flag)
            except BaseException as exc:
                # run_job contains what the task raises; this guard keeps the thread (and
                # the slot) alive whatever else escapes, and the job gets an outcome.
                logger.exception(
                    "running job %s raised", slot.job.id, extra={"job_id": slot.job.id}
                )
                outcome = escaped_outcome(exc)
            with self._lock:
                abandoned = slot.abandoned
                if not abandoned:
                    del self._slots[slot.job.id]
            if abandoned:
                logger.info(
                    "abandoned job %s returned after its timeout; its result is dropped",
                    slot.job.id,
                    extra={"job_id": slot.job.id},
                )
                break
            self._report(slot, outcome)
        with self._lock:
            self._live.discard(me)
            self._abandoned.discard(me)

    @staticmethod
    def _report(slot: _Slot, outcome: Outcome) -> None:
        try:
            slot.on_done(slot.job, outcome)
        except Exception:
            logger.exception("on_done callback raised", extra={"job_id": slot.job.id})


__all__ = ["ThreadPool"]
