"""The operator's half of the storage contract: requeueing a job stuck on a hung worker,
dead-letter management, keyset pages over the listings, and retention counts and purges.

``storage.base.Storage`` inherits ``OperationsStorage``; the same rules hold as in ``base``: each
method is one atomic operation (a purge: one per chunk), callers pass ``now``, and a namespace
argument matches exactly (None: records without a namespace).

Keyset pages are newest first by ``(sort key, id)`` with a strict "before the cursor" bound:
``after`` is the ``(sort key, id)`` of the last row of the previous page (``page_cursor``), so
a page costs the same at any depth and rows inserted meanwhile neither repeat nor hide others.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from taskito.job import JobRecord
    from taskito.storage.base import DeadLetter, JobFilter, LogEntry

#: A keyset position: the sort key (ms) and the id of the last row of the previous page.
Cursor = tuple[int, str]


class HistoryKind(StrEnum):
    """A kind of history a retention window ages out."""

    COMPLETED_JOBS = "completed_jobs"
    DEAD_LETTERS = "dead_letters"
    JOB_ERRORS = "job_errors"
    TASK_LOGS = "task_logs"
    TASK_METRICS = "task_metrics"


class OperationsStorage(ABC):
    """Requeue, dead-letter management, keyset pages and retention (module docstring)."""

    # --- requeue ------------------------------------------------------------------------

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


def page_cursor(sort_key: int, row_id: object) -> Cursor:
    """The cursor that continues after a row."""
    return (int(sort_key), str(row_id))


def format_cursor(cursor: Cursor) -> str:
    """The opaque text form of a cursor: ``"<sort key>:<id>"``."""
    return f"{cursor[0]}:{cursor[1]}"


def parse_cursor(text: object) -> Cursor | None:
    """A cursor from its text form (None and "" start at the newest row); anything else that
    is not ``"<integer>:<id>"`` raises ``ValueError("invalid cursor: ...")``."""
    if text is None or text == "":
        return None
    if isinstance(text, tuple) and len(text) == 2:
        text = format_cursor((text[0], text[1])) if isinstance(text[0], int) else repr(text)
    if not isinstance(text, str):
        raise ValueError(f"invalid cursor: {text!r} (expected the text a page returned)")
    key, sep, row_id = text.partition(":")
    if not sep or not row_id or not key.lstrip("-").isdigit():
        raise ValueError(f"invalid cursor: {text!r} (expected '<sort key>:<id>')")
    return (int(key), row_id)
