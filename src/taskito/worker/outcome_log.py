"""The worker's log line for each written outcome: at INFO one line per retry, dead letter,
cancel and timeout (job id, task, attempt, a one-line error), then the failing task's
traceback once per attempt; a completion at DEBUG.

The traceback goes to its own logger, ``taskito.worker.outcomes.traceback``, at INFO: a task
failing is the task's business, not the worker's trouble (WARNING would page people for every
expected retry), and the separate name lets an operator keep the one-liners and drop the
tracebacks (or the reverse) with one logging setting. Called once per applied write, so
neither line repeats when a batch write had to be tried again.
"""

from __future__ import annotations

import logging

from taskito.job import JobStatus, OutcomeKind
from taskito.storable import one_line, storable_text
from taskito.storage.base import Finish
from taskito.worker.running import HeldJob

logger = logging.getLogger("taskito.worker.outcomes")
traceback_logger = logging.getLogger("taskito.worker.outcomes.traceback")

#: How long the one-line error in an outcome's log line may be.
ERROR_LINE_CHARS = 200


def log_outcome(held: HeldJob, finish: Finish, now_ms: int) -> None:
    """Log the outcome ``finish`` just written for ``held``."""
    job, outcome = held.job, held.outcome
    if outcome is None:
        return
    if finish.status is JobStatus.COMPLETE and not logger.isEnabledFor(logging.DEBUG):
        return  # the common case: nothing to log, so nothing to build
    fields = {
        "job_id": job.id,
        "task_name": job.task_name,
        "attempt": job.attempt,
        "retry_count": job.retry_count,
        "status": finish.status.value,
    }
    if finish.status is JobStatus.COMPLETE:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "job %s (%s) completed in %.3f s",
                job.id,
                job.task_name,
                outcome.wall_time_ns / 1e9,
                extra=fields,
            )
        return
    error = one_line(finish.error or outcome.error or "", ERROR_LINE_CHARS)
    fields["error"] = error
    what = "timed out" if outcome.kind is OutcomeKind.TIMED_OUT else "failed"
    if finish.status is JobStatus.CANCELLED:
        logger.info("job %s (%s) cancelled", job.id, job.task_name, extra=fields)
    elif finish.status is JobStatus.PENDING:
        delay_s = max(0, (finish.retry_at or now_ms) - now_ms) / 1000
        logger.info(
            "job %s (%s) %s on attempt %d; retry %d of %d in %.1f s: %s",
            job.id,
            job.task_name,
            what,
            job.retry_count + 1,
            job.retry_count + 1,
            job.max_retries,
            delay_s,
            error,
            extra={**fields, "retry_at": finish.retry_at},
        )
    else:
        why = "no retries left" if job.retry_count >= job.max_retries else "not retryable"
        logger.info(
            "job %s (%s) %s on attempt %d; dead-lettered (%s): %s",
            job.id,
            job.task_name,
            what,
            job.retry_count + 1,
            why,
            error,
            extra=fields,
        )
    _log_traceback(held, fields)


def _log_traceback(held: HeldJob, fields: dict[str, object]) -> None:
    """The task's own traceback, for a failure that has one (a timeout or an error made by
    the worker has none worth repeating)."""
    outcome = held.outcome
    if outcome is None or outcome.kind is not OutcomeKind.FAILURE or not outcome.error:
        return
    if "\n" not in outcome.error or not traceback_logger.isEnabledFor(logging.INFO):
        return
    traceback_logger.info(
        "job %s (%s) attempt %d traceback:\n%s",
        held.job.id,
        held.job.task_name,
        held.job.retry_count + 1,
        storable_text(outcome.error),
        extra=fields,
    )


__all__ = ["ERROR_LINE_CHARS", "log_outcome"]
