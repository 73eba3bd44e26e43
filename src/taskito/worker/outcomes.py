"""Applying outcomes: the retry decision (``retry.decide``, then the task's retry budget,
``worker/retry_budget.py``), one fenced ``finish_many`` write per batch (each outcome carrying
its attempt's metric row, unless the queue records none), then circuit-breaker bookkeeping,
outcome events, middleware hooks and the outcome's log line, once, for the writes that applied
(docs/architecture.md, invariants 3 and 6). The retry policy, the breaker and the middleware
chain come with each job (``HeldJob.claimed``), resolved at its claim: nothing is looked up by
task name here.

Every error text is made storable first (``taskito.storable``). A batch that storage refuses
twice for a reason other than being unreachable is written in halves, down to the one job it
refuses: that job is written as dead with an error saying why, or, if storage refuses even
that, given up here (its lease expires and it is rescued). No write is repeated forever.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from taskito.events import EventType, outcome_duration_ms
from taskito.exceptions import StorageUnavailableError
from taskito.job import AttemptMetric, JobStatus, OutcomeKind, now_ms
from taskito.retry import CANCELLED_ERROR, RetryPolicy, decide
from taskito.storable import error_line, storable_text
from taskito.storage.base import Finish
from taskito.worker.flow import breaker_config
from taskito.worker.outcome_log import log_outcome
from taskito.worker.retry_budget import RetryBudgets
from taskito.worker.running import HeldJob

if TYPE_CHECKING:
    from taskito.events import EventBus
    from taskito.job import JobRecord
    from taskito.middleware import TaskMiddleware
    from taskito.registry import ExecutionEnv

logger = logging.getLogger("taskito.worker.outcomes")

#: Writes outcomes and claims in one storage call: ``(finishes, now) -> (applied, claimed)``.
ClaimWith = Callable[[Sequence[Finish], int], tuple[list[bool], list["JobRecord"]]]

_FAILED_KINDS = (OutcomeKind.FAILURE, OutcomeKind.TIMED_OUT)
_DEFAULT_POLICY = RetryPolicy()
#: Finish status -> "was the attempt a success" for circuit breakers (cancelled: not counted).
_BREAKER_VERDICTS = {JobStatus.COMPLETE: True, JobStatus.PENDING: False, JobStatus.DEAD: False}


class OutcomeApplier:
    """Turns settled attempts into storage writes, events and hooks."""

    def __init__(self, env: ExecutionEnv, events: EventBus | None) -> None:
        self._env = env
        self._storage = env.storage
        self._events = events
        # (job id, attempt) of outcomes whose last write raised: it may have committed with
        # only the reply lost, so the retry tells "applied by that write" from "dropped".
        self._unsure: set[tuple[str, int]] = set()
        # (job id, attempt) of outcomes in a batch that storage refused (not unreachable):
        # refused again, the batch is split to find the one it cannot take.
        self._refused: set[tuple[str, int]] = set()
        # Outcomes refused even as dead in a split where nothing else was written either: the
        # storage may refuse everything (a database locked past its timeout), so such a job
        # is given up only when it happens to it a second time.
        self._refused_as_dead: set[tuple[str, int]] = set()
        self._split_wrote = False
        self._budgets = RetryBudgets(self._storage)

    def can_claim_with(self) -> bool:
        """Whether the next ``apply`` may write together with a claim: not while an earlier
        write is unsure or refused (that one is written alone, split if need be, so a batch
        storage refuses never holds up the claims)."""
        return not self._unsure and not self._refused

    def apply(
        self, settled: Sequence[HeldJob], claim: ClaimWith | None = None
    ) -> tuple[int | None, list[JobRecord]]:
        """Write every outcome in one transaction and announce the ones that applied; return
        the earliest ``retry_at`` written (ms since the epoch), so the caller can wake then,
        and the jobs ``claim`` claimed. With ``claim`` (only when ``can_claim_with()``), the
        outcomes are written by ``claim(finishes, now)``, which claims in the same write.

        Raises what storage raises; then nothing was written and the caller may try again
        (or, with ``claim``, any part may have been: the outcomes are checked when written
        again, and the caller rescues the jobs it does not hold).
        """
        if not settled:
            return None, []
        self._note_late_cancel_requests(settled)
        now = now_ms()
        finishes = [self._decide(held, now) for held in settled]
        claimed: list[JobRecord] = []
        if claim is None:
            written = self._write_or_split(finishes, now)
        else:
            if not self.can_claim_with():
                raise RuntimeError("an unsure or refused outcome must be written alone")
            written, claimed = self._write_with_claim(finishes, now, claim)
        applied = [ok is True for ok in written]
        self._record_breakers(settled, finishes, applied, now)
        next_retry_at: int | None = None
        for held, finish, ok in zip(settled, finishes, written, strict=True):
            if ok:
                log_outcome(held, finish, now)
                self._announce(held, finish)
                if finish.retry_at is not None:
                    next_retry_at = min(finish.retry_at, next_retry_at or finish.retry_at)
            elif ok is False:
                logger.info(
                    "outcome of job %s dropped: the attempt is no longer running here",
                    held.job.id,
                    extra={"job_id": held.job.id, "attempt": held.job.attempt},
                )
        self._budgets.forget(finishes)
        return next_retry_at, claimed

    def _write_with_claim(
        self, finishes: list[Finish], now: int, claim: ClaimWith
    ) -> tuple[list[bool | None], list[JobRecord]]:
        """The outcomes and a claim in one storage call. Should it raise, the outcomes are
        unsure (it may have committed), and, unless storage is unreachable, refused once:
        the next write of them goes alone and is split if refused again."""
        keys = [(finish.job_id, finish.attempt) for finish in finishes]
        try:
            applied, claimed = claim(finishes, now)
        except StorageUnavailableError:
            self._unsure.update(keys)
            raise
        except Exception:
            self._unsure.update(keys)
            self._refused.update(keys)
            raise
        return list(applied), claimed

    def _write_or_split(self, finishes: list[Finish], now: int) -> list[bool | None]:
        """``_write``, or, when storage refuses a batch that holds an outcome it refused
        before, the batch written in halves; a refused outcome is replaced in ``finishes``.
        Per outcome: applied, dropped (False), or given up (None)."""
        keys = [(finish.job_id, finish.attempt) for finish in finishes]
        try:
            written: list[bool | None] = list(self._write(finishes, now))
        except StorageUnavailableError:
            raise
        except Exception as exc:
            if self._refused.isdisjoint(keys):
                self._refused.update(keys)
                raise
            logger.warning(
                "storage refused the outcomes of %d job(s) twice (%s); writing them in parts "
                "to find the one it cannot take",
                len(finishes),
                error_line(exc),
            )
            written = [None] * len(finishes)
            self._split_wrote = False
            try:
                middle = (len(finishes) + 1) // 2
                self._write_part(finishes, written, 0, middle, now)
                self._write_part(finishes, written, middle, len(finishes), now)
            except BaseException:
                # Some parts may have committed: the next attempt must recognise them.
                self._unsure.update(keys)
                raise
        self._refused.difference_update(keys)
        self._refused_as_dead.difference_update(keys)
        return written

    def _write_part(
        self, finishes: list[Finish], written: list[bool | None], start: int, end: int, now: int
    ) -> None:
        """Write ``finishes[start:end]``; refused, split it again, down to one outcome."""
        if start >= end:
            return
        try:
            written[start:end] = self._write(finishes[start:end], now)
            self._split_wrote = True
            return
        except StorageUnavailableError:
            raise
        except Exception as exc:
            if end - start == 1:
                written[start] = self._write_refused(finishes, start, exc, now)
                return
        middle = (start + end) // 2
        self._write_part(finishes, written, start, middle, now)
        self._write_part(finishes, written, middle, end, now)

    def _write_refused(
        self, finishes: list[Finish], index: int, refusal: Exception, now: int
    ) -> bool | None:
        """Write the job whose outcome storage refuses as dead, its result dropped; None when
        storage refuses that too (the job is given up here: its lease brings it back)."""
        refused = finishes[index]
        reason = error_line(refusal, 500)
        metric = refused.metric
        replacement = Finish(
            refused.job_id,
            refused.attempt,
            JobStatus.DEAD,
            error=f"outcome could not be stored: {reason}",
            worker_id=refused.worker_id,
            metric=None if metric is None else replace(metric, outcome=OutcomeKind.FAILURE),
        )
        finishes[index] = replacement
        logger.error(
            "storage refused the outcome of job %s (%s); writing it as dead instead",
            refused.job_id,
            reason,
            extra={"job_id": refused.job_id, "attempt": refused.attempt},
        )
        key = (refused.job_id, refused.attempt)
        try:
            applied = self._write([replacement], now)[0]
        except StorageUnavailableError:
            raise
        except Exception as again:
            if not self._split_wrote and key not in self._refused_as_dead:
                # Nothing at all was written: maybe storage refuses every write just now.
                self._refused_as_dead.add(key)
                raise
            logger.error(
                "storage refused job %s even as dead (%s); giving up on it in this worker: "
                "its lease will expire and it will be rescued",
                refused.job_id,
                error_line(again),
                extra={"job_id": refused.job_id, "attempt": refused.attempt},
            )
            self._unsure.discard(key)
            return None
        self._split_wrote = True
        return applied

    def _write(self, finishes: Sequence[Finish], now: int) -> list[bool]:
        """``finish_many``, made safe to repeat after a lost reply: an outcome that a write
        which raised had in fact applied counts as applied, so its hooks and events fire
        (once) instead of being dropped as someone else's."""
        keys = [(finish.job_id, finish.attempt) for finish in finishes]
        try:
            applied = self._storage.finish_many(finishes, now)
        except Exception:
            self._unsure.update(keys)
            raise
        if self._unsure:
            applied = [
                ok or (key in self._unsure and self._already_written(finish))
                for finish, key, ok in zip(finishes, keys, applied, strict=True)
            ]
            self._unsure.difference_update(keys)
        return applied

    def _already_written(self, finish: Finish) -> bool:
        """The job holds this attempt's outcome: the earlier write applied it."""
        record = self._storage.get_job(finish.job_id)
        return (
            record is not None
            and record.attempt == finish.attempt
            and record.status is finish.status
            and record.worker_id is None
        )

    # --- deciding -----------------------------------------------------------------------

    def _note_late_cancel_requests(self, settled: Sequence[HeldJob]) -> None:
        """A failure must not retry a job whose cancel request the watcher has not seen yet."""
        unflagged = [
            held.job.id
            for held in settled
            if held.outcome is not None
            and held.outcome.kind in _FAILED_KINDS
            and not held.cancel_requested
        ]
        if not unflagged:
            return
        requested = self._storage.cancel_requests(unflagged)
        for held in settled:
            if held.job.id in requested:
                held.cancel_requested = True

    def _decide(self, held: HeldJob, now: int) -> Finish:
        """The write for ``held``'s outcome, carrying its metric when the queue records them."""
        job, outcome = held.job, held.outcome
        if outcome is None:
            raise ValueError(f"job {job.id} has no outcome yet")
        cancelled = held.cancel_requested and outcome.kind in _FAILED_KINDS
        metric = None
        if self._env.records_metrics:
            kind = OutcomeKind.CANCELLED if cancelled else outcome.kind
            started_at = job.started_at if job.started_at is not None else now
            metric = AttemptMetric(
                job.task_name, job.queue, kind, started_at, max(0, outcome.wall_time_ns)
            )
        if cancelled:
            return Finish(
                job.id,
                job.attempt,
                JobStatus.CANCELLED,
                error=CANCELLED_ERROR,
                worker_id=job.worker_id or "",
                metric=metric,
            )
        spec = held.claimed.spec
        policy = spec.retry if spec is not None else _DEFAULT_POLICY
        finish = self._budgets.apply(held, decide(job, outcome, policy, now, metric=metric), now)
        if finish.error is not None:
            error = storable_text(finish.error)
            if error is not finish.error:
                return replace(finish, error=error)
        return finish

    def _record_breakers(
        self,
        settled: Sequence[HeldJob],
        finishes: Sequence[Finish],
        applied: Sequence[bool],
        now: int,
    ) -> None:
        """Tell each applied attempt of a task with a circuit breaker to its breaker: a
        completion is a success; a retry or a dead letter (failure, timeout) is a failure; a
        cancellation is neither. The outcomes are already written, so an error here is
        logged and not raised (raising would make the caller write them again)."""
        for held, finish, ok in zip(settled, finishes, applied, strict=True):
            if not ok or finish.status not in _BREAKER_VERDICTS:
                continue
            spec = held.claimed.spec
            if spec is None or spec.circuit_breaker is None:
                continue
            try:
                self._storage.breaker_record(
                    held.job.task_name,
                    breaker_config(spec.circuit_breaker),
                    _BREAKER_VERDICTS[finish.status],
                    now,
                )
            except Exception:
                logger.exception(
                    "recording an outcome in the circuit breaker of %s failed",
                    held.job.task_name,
                    extra={"job_id": held.job.id},
                )

    # --- announcing ---------------------------------------------------------------------

    def _announce(self, held: HeldJob, finish: Finish) -> None:
        job, outcome = held.job, held.outcome
        assert outcome is not None
        if finish.status is JobStatus.COMPLETE:
            self._emit(
                EventType.JOB_COMPLETED,
                lambda: {
                    "task_name": job.task_name,
                    "job_id": job.id,
                    "queue": job.queue,
                    "duration_ms": outcome_duration_ms(outcome.wall_time_ns),
                },
            )
            return
        if self._budgets.exhausted(finish):
            error = finish.error or ""  # says why it did not retry, then the failure
        else:
            error = outcome.error or finish.error or ""
        self._emit(
            EventType.JOB_FAILED,
            lambda: {
                "task_name": job.task_name,
                "job_id": job.id,
                "queue": job.queue,
                "error": error,
                "duration_ms": outcome_duration_ms(outcome.wall_time_ns),
            },
        )
        ctx = SimpleNamespace(
            id=job.id, task_name=job.task_name, queue_name=job.queue, retry_count=job.retry_count
        )
        timed_out = outcome.kind is OutcomeKind.TIMED_OUT
        middleware = held.claimed.middleware
        if finish.status is JobStatus.PENDING:
            self._emit(
                EventType.JOB_RETRYING,
                lambda: {
                    "job_id": job.id,
                    "task_name": job.task_name,
                    "error": error,
                    "retry_count": job.retry_count,
                },
            )
            if timed_out:
                _call_hooks(middleware, "on_timeout", ctx)
            _call_hooks(middleware, "on_retry", ctx, RuntimeError(error), job.retry_count)
        elif finish.status is JobStatus.DEAD:
            self._emit(
                EventType.JOB_DEAD,
                lambda: {"job_id": job.id, "task_name": job.task_name, "error": error},
            )
            if timed_out:
                _call_hooks(middleware, "on_timeout", ctx)
            _call_hooks(middleware, "on_dead_letter", ctx, RuntimeError(error))
        elif finish.status is JobStatus.CANCELLED:
            self._emit(
                EventType.JOB_CANCELLED, lambda: {"job_id": job.id, "task_name": job.task_name}
            )
            _call_hooks(middleware, "on_cancel", ctx)

    def _emit(self, event_type: EventType, payload: Callable[[], dict[str, Any]]) -> None:
        bus = self._events
        if bus is None:
            return
        try:
            if bus.has_listeners(event_type):
                bus.emit(event_type, payload())
        except Exception:
            logger.exception("emitting %s failed", event_type)


def _call_hooks(middleware: Sequence[TaskMiddleware], hook: str, *args: Any) -> None:
    for mw in middleware:
        try:
            getattr(mw, hook)(*args)
        except Exception:
            logger.warning("middleware %s.%s raised", type(mw).__name__, hook, exc_info=True)


__all__ = ["OutcomeApplier"]
