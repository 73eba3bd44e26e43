"""Jobs of tasks this worker does not know, held back for a worker that does.

During a deploy an older worker meets jobs of a task only the newer code defines. Such a job
goes back to pending (through the flow gate's fenced ``defer_many``: no retry spent) with an
exponential back-off, so a worker that knows the task can take it, for up to the
``unknown_task_window``. Past the window it is let through and fails as before: dead-lettered
with "task 'x' is not registered". A window of 0 lets it through at once.

The window is measured from the moment this worker first claimed the job. A claimed job is
due, so a job enqueued with ``delay=`` is not punished for its delay, and a backlog an old
worker finds after an outage gets the whole window rather than none (``created_at`` would have
dead-lettered it at once). The first sight is this worker's memory: a restart, or another old
worker, starts its own count, so the window is a lower bound: a job of an unknown task waits at
least that long, then the next worker past its own window dead-letters it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from taskito.registry import ClaimedJob, ExecutionEnv

logger = logging.getLogger("taskito.worker.unknown_tasks")

#: The first hold lasts this long, then each doubles, up to ``MAX_BACKOFF_MS``.
FIRST_BACKOFF_MS = 1_000
MAX_BACKOFF_MS = 60_000
#: Each hold is stretched by up to this fraction, so that held jobs spread out.
JITTER_FRACTION = 0.25


@dataclass(slots=True)
class _Seen:
    first_seen: int  # ms: when this worker first claimed the job; its window starts here
    holds: int  # how many times this worker held it back


class UnknownTaskHold:
    """Decides, per claimed job of an unknown task, whether it waits or fails now. One thread
    (the worker loop) calls it; not thread-safe."""

    def __init__(self, env: ExecutionEnv, jitter: Callable[[], float]) -> None:
        self._env = env
        self._jitter = jitter
        self._seen: dict[str, _Seen] = {}
        self._warn_at: dict[str, int] = {}  # task name -> earliest time of the next warning

    def hold(self, claimed: Sequence[ClaimedJob], now: int) -> dict[str, int]:
        """Job id -> when it is due again, for the jobs of unknown tasks (resolved to no
        ``spec``) still in their window. Jobs of known tasks, and those past the window, are
        not in the answer."""
        window_ms = self._env.unknown_task_window_ms
        if window_ms <= 0:
            return {}
        held: dict[str, int] = {}
        by_task: dict[str, int] = {}
        for one in claimed:
            if one.spec is not None:
                continue
            job = one.job
            seen = self._seen.get(job.id)
            if seen is None:
                seen = self._seen[job.id] = _Seen(now, 0)
            if now - seen.first_seen >= window_ms:
                del self._seen[job.id]  # let it through: it fails as not registered
                continue
            held[job.id] = now + self._backoff_ms(seen.holds)
            seen.holds += 1
            by_task[job.task_name] = by_task.get(job.task_name, 0) + 1
        self._warn(by_task, now, window_ms)
        self._forget_old(now, window_ms)
        return held

    def _backoff_ms(self, holds: int) -> int:
        base = min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS << min(holds, 16))
        return base + round(base * JITTER_FRACTION * self._jitter())

    def _warn(self, by_task: dict[str, int], now: int, window_ms: int) -> None:
        """One WARNING per task name per ``MAX_BACKOFF_MS``, however many jobs it has."""
        for task_name, count in by_task.items():
            if now < self._warn_at.get(task_name, 0):
                continue
            self._warn_at[task_name] = now + MAX_BACKOFF_MS
            logger.warning(
                "task %r is not registered in this worker: put %d job(s) back for a worker "
                "that knows it (each waits up to %.0f s, then is dead-lettered)",
                task_name,
                count,
                window_ms / 1000,
                extra={"task_name": task_name, "jobs": count},
            )

    def _forget_old(self, now: int, window_ms: int) -> None:
        """Drop what this worker remembers of jobs another worker has since run: a job not
        seen again within one window and one back-off step is gone from this worker's view."""
        if len(self._seen) < 1024:
            return
        horizon = now - window_ms - 2 * MAX_BACKOFF_MS
        for job_id in [job_id for job_id, seen in self._seen.items() if seen.first_seen < horizon]:
            del self._seen[job_id]


__all__ = ["FIRST_BACKOFF_MS", "MAX_BACKOFF_MS", "UnknownTaskHold"]
