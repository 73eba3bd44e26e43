"""The event loop that runs ``async def`` tasks: one thread, one loop, each job an asyncio task
running ``execution.run_job_async``, at most ``concurrency`` of them at once.

The async pool runs everything here; the thread pool sends its ``async def`` tasks here too.
A cancel sets the job's flag (``check_cancelled()`` raises at the task's next check); a forced
cancel and a hard timeout also ``Task.cancel()`` the job, which raises ``CancelledError`` at the
task's current ``await``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from taskito._checks import check_positive
from taskito.execution import escaped_outcome, run_job_async
from taskito.job import Outcome, OutcomeKind
from taskito.registry import ClaimedJob, ExecutionEnv
from taskito.worker.pools.base import CancelFlag, OnDone

logger = logging.getLogger("taskito.worker.pools.asyncio")

#: How long tasks still running at shutdown get to react to ``Task.cancel()``.
_CANCEL_GRACE_S = 1.0
#: How long shutdown waits for the loop thread to end; a task that blocks the loop (a sync
#: call inside a coroutine) can keep it busy forever, and the worker must still stop.
_LOOP_EXIT_S = 5.0


class _AsyncSlot:
    """One submitted job, its cancel flag, and its asyncio task once the loop started it."""

    __slots__ = ("abandoned", "cancel_flag", "claimed", "job", "on_done", "task")

    def __init__(self, claimed: ClaimedJob, on_done: OnDone) -> None:
        self.claimed = claimed
        self.job = claimed.job
        self.on_done = on_done
        self.cancel_flag = CancelFlag()
        self.task: asyncio.Task[Outcome] | None = None
        self.abandoned = False


class EventLoopRunner:
    """Runs jobs as asyncio tasks on a loop of its own, in a thread named ``thread_name``."""

    def __init__(self, env: ExecutionEnv, concurrency: int, *, thread_name: str) -> None:
        check_positive("async_concurrency", concurrency, type_error=ValueError)
        self._env = env
        self._concurrency = concurrency
        self._thread_name = thread_name
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._slots: dict[str, _AsyncSlot] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def concurrency(self) -> int:
        return self._concurrency

    def free(self) -> int:
        """How many more jobs may start now."""
        with self._lock:
            return self._concurrency - len(self._slots)

    def start(self) -> None:
        with self._lock:
            if self._loop is not None:
                raise RuntimeError("this event loop runner was already started")
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(
                target=self._run_loop, args=(self._loop,), name=self._thread_name, daemon=True
            )
        self._thread.start()

    def submit(self, claimed: ClaimedJob, on_done: OnDone) -> None:
        job = claimed.job
        slot = _AsyncSlot(claimed, on_done)
        with self._lock:
            if self._loop is None or self._closed:
                raise RuntimeError("the event loop is not running")
            if job.id in self._slots:
                raise ValueError(f"job {job.id} is already running on this event loop")
            self._slots[job.id] = slot
        self._call_soon(self._begin, slot)

    def holds(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._slots

    def cancel(self, job_id: str, force: bool = False) -> bool:
        with self._lock:
            slot = self._slots.get(job_id)
        if slot is None:
            return False
        # Set first: a forced CancelledError counts as a cancellation only with the flag set.
        slot.cancel_flag.set()
        if force:
            self._call_soon(self._cancel_task, slot)
        return True

    def abandon(self, job_id: str) -> bool:
        with self._lock:
            slot = self._slots.pop(job_id, None)
            if slot is None:
                return False
            slot.abandoned = True
            self._idle.notify_all()
        slot.cancel_flag.set()
        self._call_soon(self._cancel_task, slot)
        logger.warning(
            "job %s passed its hard timeout; its asyncio task was cancelled",
            job_id,
            extra={"job_id": job_id, "task_name": slot.job.task_name},
        )
        return True

    def shutdown(self, drain_timeout_s: float) -> None:
        """Wait up to ``drain_timeout_s`` for running jobs; cancel what is left (unreported:
        their leases bring them back), stop the loop and join its thread."""
        deadline = time.monotonic() + max(0.0, drain_timeout_s)
        with self._lock:
            if self._closed:
                return
            self._closed = True
            while self._slots and (remaining := deadline - time.monotonic()) > 0:
                self._idle.wait(remaining)
            left = list(self._slots.values())
            self._slots.clear()
            for slot in left:
                slot.abandoned = True
        if left:
            logger.warning(
                "event loop stopped with %d job(s) unfinished: %s",
                len(left),
                ", ".join(slot.job.id for slot in left),
            )
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop already ended
            loop.call_soon_threadsafe(loop.stop)
        thread.join(_LOOP_EXIT_S)
        if thread.is_alive():
            logger.warning(
                "the event loop thread %s is still blocked %ss after shutdown; left running",
                thread.name,
                _LOOP_EXIT_S,
            )

    # --- on the loop thread -------------------------------------------------------------

    def _run_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            try:
                _finish(loop)
            finally:
                loop.close()

    def _begin(self, slot: _AsyncSlot) -> None:
        if slot.abandoned:
            return
        loop = asyncio.get_running_loop()
        task = loop.create_task(
            _run_contained(slot.claimed, self._env, slot.cancel_flag),
            name=f"taskito-job-{slot.job.id}",
        )
        slot.task = task
        task.add_done_callback(functools.partial(self._task_done, slot))

    @staticmethod
    def _cancel_task(slot: _AsyncSlot) -> None:
        if slot.task is not None and not slot.task.done():
            slot.task.cancel()

    def _task_done(self, slot: _AsyncSlot, task: asyncio.Task[Outcome]) -> None:
        with self._lock:
            if slot.abandoned:
                return
            del self._slots[slot.job.id]
            self._idle.notify_all()
        try:
            slot.on_done(slot.job, _outcome_of(task, slot))
        except Exception:
            logger.exception("on_done callback raised", extra={"job_id": slot.job.id})

    def _call_soon(self, callback: Callable[..., Any], *args: Any) -> None:
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # closed: nothing runs there any more
            loop.call_soon_threadsafe(callback, *args)


async def _run_contained(
    claimed: ClaimedJob, env: ExecutionEnv, cancel_flag: CancelFlag
) -> Outcome:
    """``run_job_async``, with anything that still escapes it made the job's outcome: a
    ``KeyboardInterrupt`` or ``SystemExit`` reaching the asyncio task would stop the loop."""
    try:
        return await run_job_async(claimed, env, cancel_flag)
    except asyncio.CancelledError:
        raise
    except BaseException as exc:
        job_id = claimed.job.id
        logger.exception("running job %s raised", job_id, extra={"job_id": job_id})
        return escaped_outcome(exc)


def _outcome_of(task: asyncio.Task[Outcome], slot: _AsyncSlot) -> Outcome:
    if task.cancelled():
        # Cancelled before run_job_async began, so it could not classify the cancellation.
        if slot.cancel_flag.is_set():
            return Outcome(
                OutcomeKind.CANCELLED,
                error=f"job {slot.job.id} was cancelled before it started",
                retryable=False,
                exception_type="TaskCancelledError",
            )
        return Outcome(OutcomeKind.FAILURE, error="the job's asyncio task was cancelled")
    error = task.exception()
    if error is not None:
        text = "".join(traceback.format_exception(error)).rstrip()
        return Outcome(OutcomeKind.FAILURE, error=text, exception_type=type(error).__name__)
    return task.result()


def _finish(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel the tasks still on the loop, give them a moment, and release what the loop
    holds (async generators, the default executor's threads)."""
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.wait(pending, timeout=_CANCEL_GRACE_S))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.run_until_complete(loop.shutdown_default_executor())


class TaskKinds:
    """Whether the registry holds sync tasks, ``async def`` tasks, or both. Tasks are only
    ever added, so the answer is recomputed only when their number changes."""

    def __init__(self, env: ExecutionEnv) -> None:
        self._env = env
        self._counted = -1
        self._has_sync = False
        self._has_async = False

    def _refresh(self) -> None:
        # Asked at every claim: the count alone, unless it changed.
        if len(self._env.tasks) == self._counted:
            return
        specs = list(self._env.tasks.values())
        if len(specs) != self._counted:
            self._has_sync = any(not spec.is_async for spec in specs)
            self._has_async = any(spec.is_async for spec in specs)
            self._counted = len(specs)

    @property
    def has_sync(self) -> bool:
        self._refresh()
        return self._has_sync

    @property
    def has_async(self) -> bool:
        self._refresh()
        return self._has_async


def is_async_job(claimed: ClaimedJob) -> bool:
    """Whether the job runs on an event loop: its task, resolved at the claim, is ``async def``."""
    spec = claimed.spec
    return spec is not None and spec.is_async


__all__ = ["EventLoopRunner", "TaskKinds", "is_async_job"]
