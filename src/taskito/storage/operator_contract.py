"""The operator's half of the storage contract: requeue of a hung attempt, dead-letter
management, keyset pages and retention (``Storage`` inherits it; ``storage/base.py``).

A namespace argument matches exactly (None: records without one), and a keyset page is newest
first by ``(sort key, id)`` strictly after the cursor (``storage/operations.py``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from taskito.job import JobRecord
from taskito.storage.operations import Cursor, HistoryKind
from taskito.storage.records import DeadLetter, JobFilter, LogEntry


class OperatorStorage(ABC):
    """Requeue, dead-letter management, keyset pages and retention, on every backend."""

    # --- the operator's tools: requeue ------------------------------------------------

    @abstractmethod
    def requeue_job(self, job_id: str, namespace: str | None, now: int) -> bool:
        """Send a running job of ``namespace`` back to pending as a fresh attempt: status
        pending, ``scheduled_at = now``; started_at, completed_at, error, cancel request,
        worker and lease cleared; ``retry_count`` and ``rescue_count`` unchanged; an error
        row ``(attempt=retry_count, "requeued by an operator (worker <id>)")``. The old
        attempt is fenced off (its worker no longer holds the row, and the next claim numbers
        a new attempt), so its late outcome is dropped. False when no running job of that
        namespace has this id."""

    # --- dead letters -------------------------------------------------------------------

    @abstractmethod
    def delete_dead(self, dead_id: str, namespace: str | None) -> bool:
        """Delete one dead letter of ``namespace``; False when there is none."""

    @abstractmethod
    def dead_letters_after(
        self,
        limit: int,
        after: Cursor | None,
        task_name: str | None,
        namespace: str | None,
    ) -> list[DeadLetter]:
        """Dead letters of ``namespace`` (and of ``task_name`` when given), newest first by
        ``(failed_at, id)``, strictly after the cursor ``(failed_at, id)``."""

    @abstractmethod
    def purge_dead_by_task(self, task_name: str, namespace: str | None) -> int:
        """Delete every dead letter of ``task_name`` in ``namespace``; return how many."""

    @abstractmethod
    def dead_letters_due(
        self,
        namespace: str | None,
        queues: Sequence[str] | None,
        failed_before: int,
        max_auto_retries: int,
        limit: int,
    ) -> list[DeadLetter]:
        """Up to ``limit`` dead letters of ``namespace`` in one of ``queues`` (None: any) that
        failed before ``failed_before`` with ``dlq_retry_count < max_auto_retries``, oldest
        first: the candidates of the automatic dead-letter retry."""

    # --- keyset pages -------------------------------------------------------------------

    @abstractmethod
    def list_jobs_after(
        self, filter: JobFilter, limit: int, after: Cursor | None
    ) -> list[JobRecord]:
        """``list_jobs`` as a keyset page: newest first by ``(created_at, id)``, strictly
        after the cursor ``(created_at, id)``."""

    @abstractmethod
    def list_archived_after(self, limit: int, after: Cursor | None) -> list[JobRecord]:
        """``list_archived`` as a keyset page: newest first by ``(completed_at, id)``,
        strictly after the cursor ``(completed_at, id)``."""

    @abstractmethod
    def query_logs_after(
        self,
        task_name: str | None,
        level: str | None,
        limit: int,
        after: Cursor | None,
    ) -> list[LogEntry]:
        """Log lines newest first by ``(logged_at, id)`` (the id as a decimal string),
        strictly after the cursor."""

    # --- retention ----------------------------------------------------------------------

    @abstractmethod
    def count_history(self, kind: HistoryKind, before: int) -> int:
        """How many rows of ``kind`` a purge with cutoff ``before`` would delete now: complete
        jobs by ``completed_at``, dead letters by ``failed_at``, job errors by ``failed_at``,
        log lines by ``logged_at``, metric rows by ``finished_at``."""

    @abstractmethod
    def purge_history(self, kind: HistoryKind, before: int, limit: int) -> int:
        """Delete up to ``limit`` (>= 1) of the oldest rows of ``kind`` older than ``before``
        (the rows ``count_history`` counts) in one transaction; return how many (fewer than
        ``limit``: none is left). Each kind ages on its own: a purged job's error rows, logs
        and metrics stay until their own window (its dependency edges go with it)."""
