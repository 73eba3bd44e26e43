"""The retry policy as a pure function: ``decide(job, outcome, policy, now) -> Finish``."""

from __future__ import annotations

import random as _random
from collections.abc import Callable
from dataclasses import dataclass

from taskito.job import AttemptMetric, JobRecord, JobStatus, Outcome, OutcomeKind
from taskito.storage.base import Finish

DEFAULT_MAX_RETRY_DELAY_S = 300.0
CANCELLED_ERROR = "cancelled by request"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a task retries: exponential backoff from ``backoff_s``, capped at ``max_delay_s``
    (300 s when None), unless ``delays_s`` gives the delay for that attempt index."""

    backoff_s: float = 1.0
    delays_s: tuple[float, ...] | None = None
    max_delay_s: float | None = None

    def delay_s(self, retry_count: int, random: Callable[[], float] = _random.random) -> float:
        """Seconds before the retry that follows failure number ``retry_count`` (0-based),
        jitter included: uniform in ``[0, backoff_s)``."""
        if self.delays_s is not None and retry_count < len(self.delays_s):
            base = self.delays_s[retry_count]
        else:
            cap = DEFAULT_MAX_RETRY_DELAY_S if self.max_delay_s is None else self.max_delay_s
            base = min(cap, self.backoff_s * (2.0 ** min(retry_count, 62)))
        return base + random() * self.backoff_s


def decide(
    job: JobRecord,
    outcome: Outcome,
    policy: RetryPolicy,
    now: int,
    *,
    random: Callable[[], float] = _random.random,
    metric: AttemptMetric | None = None,
) -> Finish:
    """The storage write for ``outcome``: complete, cancelled, a retry, or dead.

    ``job.max_retries`` is the job's own budget: 0 means no retries (docs/architecture.md, "Where
    taskito differs"). ``job`` is the claimed record: its ``(worker_id, attempt)`` fences the write.
    ``metric`` (the attempt's cost) rides along on the write.
    """
    worker = job.worker_id or ""
    if outcome.kind is OutcomeKind.SUCCESS:
        return Finish(
            job.id,
            job.attempt,
            JobStatus.COMPLETE,
            result=outcome.result,
            worker_id=worker,
            metric=metric,
        )
    if outcome.kind is OutcomeKind.CANCELLED:
        return Finish(
            job.id,
            job.attempt,
            JobStatus.CANCELLED,
            error=CANCELLED_ERROR,
            worker_id=worker,
            metric=metric,
        )
    error = outcome.error or "task failed"
    if outcome.retryable and job.retry_count < job.max_retries:
        delay_ms = int(policy.delay_s(job.retry_count, random) * 1000)
        retry_at = now + delay_ms
        return Finish(
            job.id,
            job.attempt,
            JobStatus.PENDING,
            error=error,
            retry_at=retry_at,
            worker_id=worker,
            metric=metric,
        )
    return Finish(job.id, job.attempt, JobStatus.DEAD, error=error, worker_id=worker, metric=metric)
