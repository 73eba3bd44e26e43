"""Changing jobs from the producer side: cancellation (``cancel`` for any state, and the
reference's narrower ``cancel_job``/``cancel_running_job``), dead letters, and purges."""

from __future__ import annotations

from typing import Any

from taskito.exceptions import StorageError
from taskito.ids import new_job_id
from taskito.job import now_ms
from taskito.queue import checks as check
from taskito.queue.payloads import binds_payloads, rebound_payload
from taskito.queue.state import QueueBase
from taskito.storage.base import CancelResult, DeadLetter


def _dead_letter_dict(dead: DeadLetter) -> dict[str, Any]:
    return {
        "id": dead.id,
        "original_job_id": dead.original_job_id,
        "queue": dead.queue,
        "task_name": dead.task_name,
        "error": dead.error,
        "retry_count": dead.retry_count,
        "dlq_retry_count": dead.dlq_retry_count,
        "failed_at": dead.failed_at,
        "metadata": dead.metadata,
    }


def _cutoff_ms(older_than: object) -> int:
    return now_ms() - round(check.check_duration("older_than", older_than) * 1000)


class AdminMixin(QueueBase):
    """Cancelling, retrying dead letters, purging."""

    def cancel(self, job_id: str, force: bool = False) -> bool:
        """Cancel a job in any state: a pending job becomes cancelled and never starts (its
        pending dependents too); a running job gets a cancel request that the worker delivers
        to the pool running it. False when the job is finished or unknown.

        ``force`` asks the pool to stop a task that never checks for cancellation: prefork
        kills the child running it, async cancels the asyncio task; the thread pool cannot
        stop a thread, so there it stays a cooperative request (the worker logs it).
        """
        return self.cancel_outcome(job_id, force) in (
            CancelResult.CANCELLED,
            CancelResult.REQUESTED,
        )

    def cancel_outcome(self, job_id: str, force: bool = False) -> CancelResult:
        """``cancel``, saying what it did (a ``str`` enum): ``"cancelled"`` (it was pending),
        ``"requested"`` (it was running; its worker got the request), ``"not_found"`` or
        ``"finished"`` (nothing changed). One atomic storage call, as ``cancel``."""
        check.check_storable_name("job_id", job_id)
        if not isinstance(force, bool):
            raise TypeError(f"force must be a bool, not {type(force).__name__}")
        return self._storage.cancel(job_id, force, now_ms())

    def cancel_job(self, job_id: str) -> bool:
        """Cancel a pending job (dependents cascade). False for any other state."""
        return self._storage.cancel_pending(check.check_storable_name("job_id", job_id), now_ms())

    def cancel_running_job(self, job_id: str) -> bool:
        """Ask a running job to stop. False for any other state."""
        return self._storage.request_cancel(check.check_storable_name("job_id", job_id))

    def dead_letters(
        self, limit: int = 10, offset: int = 0, *, before: tuple[int, str] | None = None
    ) -> list[dict[str, Any]]:
        """Dead-lettered jobs, newest first, as dicts with the reference's keys.
        ``before=(failed_at, id)`` of the last letter of a page reads the next page by key
        (exact, and as fast however deep); when that letter is gone, the page starts at the
        letters that failed before it."""
        if before is not None and (
            not isinstance(before, tuple)
            or len(before) != 2
            or not isinstance(before[0], int)
            or isinstance(before[0], bool)
            or not isinstance(before[1], str)
        ):
            raise TypeError(f"before must be a (failed_at, id) tuple, not {before!r}")
        page = self._storage.dead_letters(*check.check_page(limit, offset), before)
        return [_dead_letter_dict(dead) for dead in page]

    def retry_dead(self, dead_id: str) -> str:
        """Enqueue a fresh copy of a dead letter (retry_count 0), delete the dead letter, and
        return the new job's id. An unknown id raises ``StorageError`` (a RuntimeError).

        With a signing key the letter's payload is verified and signed again for the new id;
        one that fails the check raises ``SignatureError`` and the letter stays."""
        dead_id = check.check_storable_name("dead_id", dead_id)
        job_id = new_job_id()
        payload: bytes | None = None
        # An admin call: one more read, so that a letter is never copied unverified.
        letter = self._storage.dead_letter(dead_id)
        if letter is not None and binds_payloads(self, letter.task_name):
            payload = rebound_payload(
                self, letter.task_name, letter.payload, letter.original_job_id, job_id
            )
        record = self._storage.retry_dead(dead_id, job_id, now_ms(), payload)
        if record is None:
            raise StorageError(f"dead letter not found: {dead_id}")
        return record.id

    def purge_dead(self, older_than: float = 86400) -> int:
        """Delete dead letters older than ``older_than`` seconds; return how many."""
        return self._storage.purge_dead(_cutoff_ms(older_than))

    def purge_completed(self, older_than: float = 86400) -> int:
        """Delete complete jobs finished more than ``older_than`` seconds ago."""
        return self._storage.purge_completed(_cutoff_ms(older_than))

    def purge(self, queue_name: str) -> int:
        """Cancel every pending job of a queue (error ``"purged"``); return how many."""
        return self._storage.purge_queue(
            check.check_storable_name("queue_name", queue_name), now_ms()
        )

    def revoke_task(self, task_name: str) -> int:
        """Cancel every pending job of a task (error ``"revoked"``); return how many."""
        return self._storage.revoke_task(
            check.check_storable_name("task_name", task_name), now_ms()
        )


__all__ = ["AdminMixin"]
