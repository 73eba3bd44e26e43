"""The hard-timeout watchdog: the worker loop calls ``expire_overdue`` each round to settle the
attempts that ran past their deadline (docs/architecture.md: the deadline is enforced on every
pool)."""

from __future__ import annotations

import logging
import time

from taskito.job import Outcome, OutcomeKind
from taskito.worker.pools import Pool
from taskito.worker.running import HeldJob, HeldJobs

logger = logging.getLogger("taskito.worker")

#: The loop wakes at least this often while a job with a deadline runs.
WATCHDOG_S = 0.25


def expire_overdue(held_jobs: HeldJobs, pool: Pool) -> None:
    """Mark each overdue attempt timed out (fenced, hooks fire when written) and tell the pool
    to stop counting it. Only the worker loop's thread reads or writes deadlines."""
    now = time.monotonic()
    for held in held_jobs.overdue(now):
        job = held.job
        if _postponed(held, pool, now):
            continue
        outcome = Outcome(
            OutcomeKind.TIMED_OUT,
            error=f"job timed out after {job.timeout_ms}ms",
            retryable=True,
            wall_time_ns=round((now - held.started_mono) * 1e9),
            exception_type="TaskTimeoutError",
        )
        if held_jobs.settle(held, outcome):
            logger.warning(
                "job %s (%s) timed out after %sms",
                job.id,
                job.task_name,
                job.timeout_ms,
                extra={"job_id": job.id, "task_name": job.task_name},
            )
            pool.abandon(job.id)


def _postponed(held: HeldJob, pool: Pool, now: float) -> bool:
    """A job that waited in the pool (prefork prefetch) is timed from its start: move its
    deadline instead of expiring it."""
    delay_s = pool.start_delay_s(held.job.id)
    if delay_s == 0.0 or held.job.timeout_ms is None:
        return False
    if delay_s is None:  # not started yet: look again at the next watchdog round
        held.deadline_mono = now + WATCHDOG_S
        return True
    deadline = held.started_mono + delay_s + held.job.timeout_ms / 1000.0
    if deadline <= now:
        return False
    held.deadline_mono = deadline
    return True


__all__ = ["WATCHDOG_S", "expire_overdue"]
