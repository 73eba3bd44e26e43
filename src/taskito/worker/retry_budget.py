"""Retry budgets (``@queue.task(retry_budget="100/m")``): a cap on the retries of all of a
task's jobs per (namespace, task), shared by every worker through storage.

A budget is a rate-slot key (``retry::<namespace>::<task>``, ``Storage.take_rate_slot``): the
same smooth limiter as rate limits, one retry every period/N and no burst, so "100/m" lets a
retry through every 600 ms whichever worker asks. We chose that over a bucket that starts full
on purpose: a broken dependency meets a steady trickle of retries from the first failure on,
never a burst of N. A token is taken only for a failure that would otherwise retry (the retry
policy already said PENDING); a failure that finds none left is dead-lettered at once with an
error that starts ``retry_budget_exhausted:``. A storage error fails open: the job retries as
usual and the error is logged.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from taskito.job import JobStatus
from taskito.registry import retry_budget_key
from taskito.worker.flow import rate_interval_ms

if TYPE_CHECKING:
    from taskito.registry import RateLimit
    from taskito.storage.base import Finish, Storage
    from taskito.worker.running import HeldJob

logger = logging.getLogger("taskito.worker.retry_budget")

#: The start of the error of a job dead-lettered because its task's retry budget was spent.
EXHAUSTED = "retry_budget_exhausted"


def exhausted_error(task_name: str, budget: RateLimit, error: str | None) -> str:
    """The dead letter's error: why it did not retry, then the failure's own error."""
    return (
        f"{EXHAUSTED}: task {task_name!r} is over its retry budget of {budget.describe()}; "
        f"the failure was: {error or 'task failed'}"
    )


class RetryBudgets:
    """Turns a retry into a dead letter when its task's budget is spent. The verdict of each
    attempt is kept until its outcome is written, so writing it again after a failed write
    neither takes a second token nor changes its mind."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        #: (job id, attempt) -> the finish decided for it, while its write is not done.
        self._verdicts: dict[tuple[str, int], Finish] = {}

    def apply(self, held: HeldJob, finish: Finish, now: int) -> Finish:
        """``finish``, or, for a retry of a task whose budget is spent, a dead letter."""
        spec = held.claimed.spec
        if finish.status is not JobStatus.PENDING or spec is None or spec.retry_budget is None:
            return finish
        key = (finish.job_id, finish.attempt)
        decided = self._verdicts.get(key)
        if decided is not None:
            return decided
        job = held.job
        slot = retry_budget_key(job.namespace, job.task_name)
        try:
            refused = self._storage.take_rate_slot(slot, rate_interval_ms(spec.retry_budget), now)
        except Exception:
            logger.exception(
                "taking a token of the retry budget of %s failed; retrying the job as usual",
                job.task_name,
                extra={"job_id": job.id},
            )
            refused = None
        if refused is None:
            decided = finish
        else:
            error = exhausted_error(job.task_name, spec.retry_budget, finish.error)
            decided = replace(finish, status=JobStatus.DEAD, error=error, retry_at=None)
            logger.warning(
                "job %s of %s is dead-lettered: its task's retry budget (%s) is spent",
                job.id,
                job.task_name,
                spec.retry_budget.describe(),
                extra={"job_id": job.id, "attempt": job.attempt},
            )
        self._verdicts[key] = decided
        return decided

    def exhausted(self, finish: Finish) -> bool:
        """Whether ``finish`` is a dead letter this budget made (not yet ``forget``-ten)."""
        decided = self._verdicts.get((finish.job_id, finish.attempt))
        return decided is not None and decided.status is JobStatus.DEAD

    def forget(self, finishes: list[Finish]) -> None:
        """These outcomes are written (or dropped): their verdicts are no longer needed."""
        if self._verdicts:
            for finish in finishes:
                self._verdicts.pop((finish.job_id, finish.attempt), None)


__all__ = ["EXHAUSTED", "RetryBudgets", "exhausted_error"]
