"""The flow gate: right after ``claim``, hold back the claimed jobs that a concurrency cap, a
rate limit or a circuit breaker does not let start yet, and the jobs of tasks this worker does
not know (``unknown_tasks``: left for a worker that knows them).

Checks run in this order for each job: the task's share of this worker
(``max_in_flight_per_task``, ``in_flight.py``: no storage call), the task's and the queue's
``max_concurrent``, then the task's and the queue's rate limit, then the task's circuit
breaker. The breaker comes last so that a half-open probe it admits always runs (a probe
admitted and then held back by a rate limit would be counted as started but never finish).
Held-back jobs go back to pending in one ``defer_many`` write and never reach the pool; a
deferral does not spend a retry (docs/architecture.md, "Where taskito differs"). The gate
reads each job's task from its ``ClaimedJob`` (resolved once, after the claim). A job whose
task and queue have no limit costs nothing here: no storage call, at most one dictionary
look-up (its queue's limits).

A task with ``on_excess="drop"`` sheds load instead: a job of it that its task's or its queue's
rate limit refuses is dead-lettered at once without running, by a fenced ``finish_many`` write
(error ``rate_limit: ...``, ``retry_count`` unchanged, pending dependents cancelled as for any
dead job). No middleware hook, task event or metric row is written for it: it never ran; the
worker logs it. A concurrency cap or an open circuit breaker always defers.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from taskito.job import JobStatus
from taskito.registry import OnExcess
from taskito.storage.base import Finish
from taskito.storage.control import BreakerConfig, Deferral
from taskito.worker.in_flight import over_share
from taskito.worker.overrides import PAUSED_RECHECK_MS, OverrideSnapshot
from taskito.worker.unknown_tasks import UnknownTaskHold

if TYPE_CHECKING:
    from taskito.job import JobRecord
    from taskito.registry import CircuitBreakerConfig, ClaimedJob, ExecutionEnv, RateLimit

logger = logging.getLogger("taskito.worker.flow")

#: A job over a concurrency cap comes back after this long, plus up to ``CAP_JITTER_MS``, so
#: that two workers that held each other back do not meet again at the same instant.
CAP_RETRY_MS = 500
CAP_JITTER_MS = 250
#: A job whose limit could not be checked (storage error) comes back after this long.
CHECK_FAILED_RETRY_MS = 1000


def breaker_config(config: CircuitBreakerConfig) -> BreakerConfig:
    """The task option (seconds) in storage units (ms)."""
    return BreakerConfig(
        threshold=config.threshold,
        window_ms=round(config.window_s * 1000),
        cooldown_ms=round(config.cooldown_s * 1000),
        half_open_probes=config.half_open_probes,
        half_open_success_rate=config.half_open_success_rate,
    )


def rate_interval_ms(rate: RateLimit) -> int:
    """ "N per period" as one evenly spaced slot every period/N (at least 1 ms)."""
    return max(1, round(rate.period_s * 1000 / rate.count))


@dataclass(frozen=True, slots=True)
class _Limits:
    """What limits one claimed job, keyed for storage; None fields are not limited."""

    task_cap: int | None
    queue_cap: int | None
    task_rate_ms: int | None
    queue_rate_ms: int | None
    breaker: BreakerConfig | None
    #: ``on_excess="drop"``: a rate limit's refusal dead-letters the job instead of deferring.
    drop_excess: bool = False


@dataclass(slots=True)
class Admission:
    """The gate's answer for one claimed batch.

    ``admitted`` may start now, in claim order. ``due_again`` lists when the held-back jobs
    are due again (ms since the epoch), so the worker can wake then.
    """

    admitted: list[ClaimedJob]
    due_again: list[int] = field(default_factory=list)


@dataclass(slots=True)
class _Batch:
    """One ``admit`` call's working state: the limited jobs and the verdicts so far."""

    jobs: list[tuple[JobRecord, _Limits]]
    claimed_ids: frozenset[str]
    now: int
    denied: dict[str, int] = field(default_factory=dict)  # job id -> until (ms)
    dropped: set[str] = field(default_factory=set)  # job ids shed by a rate limit

    def open(self) -> list[tuple[JobRecord, _Limits]]:
        return [
            (job, limits)
            for job, limits in self.jobs
            if job.id not in self.denied and job.id not in self.dropped
        ]

    def deny(self, job: JobRecord, until: int) -> None:
        self.denied.setdefault(job.id, until)


class FlowGate:
    """Applied by the worker loop to every claimed batch (one thread; not thread-safe)."""

    def __init__(
        self,
        env: ExecutionEnv,
        *,
        jitter: Callable[[], float] = random.random,
        overrides: OverrideSnapshot | None = None,
        running_here: Callable[[str], int] | None = None,
    ) -> None:
        self._env = env
        #: How many jobs of a task this worker runs now (``max_in_flight_per_task``).
        self._running_here = running_here
        #: Runtime overrides (a cached snapshot): paused tasks and queue limits set at runtime.
        self._overrides = overrides
        self._storage = env.storage
        self._jitter = jitter
        self._unknown = UnknownTaskHold(env, jitter)
        #: Deferrals whose write failed; retried before the next batch (fenced, so safe).
        self._unwritten: list[Deferral] = []
        #: Drops (dead letters of shed jobs) whose write failed; retried the same way.
        self._unwritten_drops: list[Finish] = []

    def admit(self, claimed: Sequence[ClaimedJob], now: int) -> Admission:
        """Split ``claimed`` (just claimed, running under this worker) into the jobs that may
        start now and those that go back to pending. Never raises for a storage error: a limit
        that cannot be checked holds its job back, and a failed write is retried later."""
        self.write_unwritten(now)
        held = self._unknown.hold(claimed, now)
        if self._overrides is not None:
            # A paused task's job goes back to pending, untouched but for its due time.
            paused = self._overrides.paused
            for one in claimed:
                if one.job.id not in held and paused(one.job.task_name):
                    held[one.job.id] = now + PAUSED_RECHECK_MS
        if self._running_here is not None:
            held.update(over_share(claimed, held, self._running_here, lambda: self._cap_retry(now)))
        limited = [
            (one.job, limits)
            for one in claimed
            if one.job.id not in held and (limits := self._limits_of(one)) is not None
        ]
        if not limited and not held:
            return Admission(list(claimed))
        batch = _Batch(limited, frozenset(one.job.id for one in claimed), now, dict(held))
        if limited:
            self._check_caps(batch)
            self._check_rates(batch)
            self._check_breakers(batch)
        if not batch.denied and not batch.dropped:
            return Admission(list(claimed))
        jobs = [one.job for one in claimed]
        if batch.denied:
            deferrals = [
                Deferral(job.id, job.attempt, batch.denied[job.id], worker_id=job.worker_id or "")
                for job in jobs
                if job.id in batch.denied
            ]
            self._write(deferrals, now)
        if batch.dropped:
            self._drop([_shed(job) for job in jobs if job.id in batch.dropped], now)
        admitted = [
            one
            for one in claimed
            if one.job.id not in batch.denied and one.job.id not in batch.dropped
        ]
        return Admission(admitted, list(batch.denied.values()))

    def unwritten_ids(self) -> list[str]:
        """Jobs held back whose deferral is not written yet: still running under this worker,
        though the pool does not hold them."""
        return [
            *(deferral.job_id for deferral in self._unwritten),
            *(finish.job_id for finish in self._unwritten_drops),
        ]

    def write_unwritten(self, now: int) -> None:
        """Try again to put back the jobs of an earlier failed ``defer_many``, and to
        dead-letter the jobs of an earlier failed drop."""
        if self._unwritten:
            pending, self._unwritten = self._unwritten, []
            self._write(pending, now)
        if self._unwritten_drops:
            drops, self._unwritten_drops = self._unwritten_drops, []
            self._drop(drops, now)

    # --- what limits a job ----------------------------------------------------------------

    def _limits_of(self, claimed: ClaimedJob) -> _Limits | None:
        spec = claimed.spec
        queue_limits = (
            self._env.queue_limits.get(claimed.job.queue) if self._env.queue_limits else None
        )
        if self._overrides is not None:
            queue_limits = self._overrides.queue_limits(claimed.job.queue, queue_limits)
        task_cap = task_rate = breaker = None
        drop_excess = False
        if spec is not None:
            task_cap, task_rate, breaker = (
                spec.max_concurrent,
                spec.rate_limit,
                spec.circuit_breaker,
            )
            drop_excess = spec.on_excess is OnExcess.DROP
        queue_cap = queue_rate = None
        if queue_limits is not None:
            queue_cap, queue_rate = queue_limits.max_concurrent, queue_limits.rate_limit
        if (task_cap, task_rate, breaker, queue_cap, queue_rate) == (None,) * 5:
            return None
        return _Limits(
            task_cap=task_cap,
            queue_cap=queue_cap,
            task_rate_ms=None if task_rate is None else rate_interval_ms(task_rate),
            queue_rate_ms=None if queue_rate is None else rate_interval_ms(queue_rate),
            breaker=None if breaker is None else breaker_config(breaker),
            drop_excess=drop_excess,
        )

    # --- the three checks -----------------------------------------------------------------

    def _check_caps(self, batch: _Batch) -> None:
        """Per-task caps, then per-queue caps (see ``_apply_cap`` for the rule)."""
        by_task: dict[str, list[JobRecord]] = {}
        task_caps: dict[str, int] = {}
        for job, limits in batch.jobs:
            if limits.task_cap is not None:
                by_task.setdefault(job.task_name, []).append(job)
                task_caps[job.task_name] = limits.task_cap
        for task_name, group in by_task.items():
            self._apply_cap(batch, group, task_caps[task_name], task_name, None)
        by_queue: dict[str, list[JobRecord]] = {}
        queue_caps: dict[str, int] = {}
        for job, limits in batch.open():
            if limits.queue_cap is not None:
                by_queue.setdefault(job.queue, []).append(job)
                queue_caps[job.queue] = limits.queue_cap
        for queue_name, group in by_queue.items():
            self._apply_cap(batch, group, queue_caps[queue_name], None, queue_name)

    def _apply_cap(
        self,
        batch: _Batch,
        group: list[JobRecord],
        cap: int,
        task_name: str | None,
        queue_name: str | None,
    ) -> None:
        """Let the first ``cap - others`` jobs of ``group`` start, in ``running_ids`` order.

        ``others`` counts every running job of the task/queue outside this batch, whether it
        already runs user code or was just claimed by another worker and is being checked too.
        Counting the latter is what makes the cap hold: of two workers that claim at once, at
        least one sees the other's job and holds its own back (both may, and then both retry
        after a jittered delay). Ranking by index alone would let a job whose claim committed
        late but carries an earlier ``started_at`` jump ahead of one already running.
        """
        try:
            running = self._storage.running_ids(task_name, queue_name)
        except Exception:
            logger.exception("reading running jobs for a concurrency cap failed")
            for job in group:
                batch.deny(job, batch.now + CHECK_FAILED_RETRY_MS)
            return
        others = sum(1 for job_id in running if job_id not in batch.claimed_ids)
        rank = {job_id: index for index, job_id in enumerate(running)}
        candidates = sorted(
            (job for job in group if job.id not in batch.denied),
            key=lambda job: rank.get(job.id, len(rank)),
        )
        for job in candidates[max(0, cap - others) :]:
            batch.deny(job, self._cap_retry(batch.now))

    def _cap_retry(self, now: int) -> int:
        """When a job held back by a cap is due again."""
        return now + CAP_RETRY_MS + round(self._jitter() * CAP_JITTER_MS)

    def _check_rates(self, batch: _Batch) -> None:
        refused: dict[str, tuple[int, int]] = {}  # key -> (next free time, jobs sent there)
        for job, limits in batch.open():
            for key, interval_ms in (
                (f"task:{job.task_name}", limits.task_rate_ms),
                (f"queue:{job.queue}", limits.queue_rate_ms),
            ):
                if interval_ms is None:
                    continue
                until = self._take_rate_slot(
                    key, interval_ms, batch.now, refused, spread=not limits.drop_excess
                )
                if until is not None:
                    if limits.drop_excess:
                        batch.dropped.add(job.id)
                    else:
                        batch.deny(job, until)
                    break

    def _take_rate_slot(
        self,
        key: str,
        interval_ms: int,
        now: int,
        refused: dict[str, tuple[int, int]],
        *,
        spread: bool = True,
    ) -> int | None:
        """None when a slot was taken; else when to try again. Once a key refused, the
        batch's later jobs of that key are spread one interval apart without asking again,
        so they do not all come back at the same instant (a job that will be dropped, not
        ``spread``, takes no place in that line)."""
        seen = refused.get(key)
        if seen is not None:
            first_free, sent = seen
            if not spread:
                return first_free
            refused[key] = (first_free, sent + 1)
            return first_free + sent * interval_ms
        try:
            until = self._storage.take_rate_slot(key, interval_ms, now)
        except Exception:
            logger.exception("taking a rate-limit slot for %s failed", key)
            return now + CHECK_FAILED_RETRY_MS
        if until is not None:
            refused[key] = (until, 1 if spread else 0)
        return until

    def _check_breakers(self, batch: _Batch) -> None:
        refused: dict[str, int] = {}
        for job, limits in batch.open():
            if limits.breaker is None:
                continue
            until = refused.get(job.task_name)
            if until is None:
                try:
                    until = self._storage.breaker_admit(job.task_name, limits.breaker, batch.now)
                except Exception:
                    logger.exception("asking the circuit breaker of %s failed", job.task_name)
                    until = batch.now + CHECK_FAILED_RETRY_MS
                if until is not None:
                    refused[job.task_name] = until
            if until is not None:
                batch.deny(job, until)

    # --- writing --------------------------------------------------------------------------

    def _write(self, deferrals: list[Deferral], now: int) -> None:
        try:
            applied = self._storage.defer_many(deferrals, now)
        except Exception:
            logger.exception("putting %d held-back job(s) back failed; will retry", len(deferrals))
            self._unwritten.extend(deferrals)
            return
        logger.debug(
            "held back %d job(s) by limits or for a worker that knows their task",
            sum(applied),
            extra={"job_ids": [d.job_id for d, ok in zip(deferrals, applied, strict=True) if ok]},
        )

    def _drop(self, drops: list[Finish], now: int) -> None:
        """Dead-letter the shed jobs in one fenced write; a failed write is tried again
        before the next batch (a drop that no longer applies is skipped by the fence)."""
        try:
            applied = self._storage.finish_many(drops, now)
        except Exception:
            logger.exception("dead-lettering %d shed job(s) failed; will retry", len(drops))
            self._unwritten_drops.extend(drops)
            return
        for finish, ok in zip(drops, applied, strict=True):
            if ok:
                logger.warning(
                    "job %s dropped: %s",
                    finish.job_id,
                    finish.error,
                    extra={"job_id": finish.job_id, "attempt": finish.attempt},
                )


def shed_error(task_name: str) -> str:
    """The error of a job its task's ``on_excess="drop"`` shed at a rate limit."""
    return (
        f"rate_limit: task {task_name!r} is over its dispatch rate limit, and its on_excess is drop"
    )


def _shed(job: JobRecord) -> Finish:
    """The write that dead-letters a claimed job a rate limit refused, without running it."""
    return Finish(
        job.id,
        job.attempt,
        JobStatus.DEAD,
        error=shed_error(job.task_name),
        worker_id=job.worker_id or "",
    )


__all__ = ["Admission", "FlowGate", "breaker_config", "rate_interval_ms", "shed_error"]
