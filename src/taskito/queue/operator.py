"""The operator's tools on the Queue: requeue a job stuck on a hung worker, dead-letter
management (delete, per task, automatic retry), keyset pages, and retention (report, dry run,
sweep), each scoped by the Queue's namespace, with their ``a*`` mirrors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from taskito.job import now_ms
from taskito.queue import checks as check
from taskito.queue.inspection import job_filter_of
from taskito.queue.state import QueueBase
from taskito.registry import ExecutionEnv
from taskito.result import job_to_dict
from taskito.retention import Retention, RetentionPreview
from taskito.storage.base import DeadLetter
from taskito.storage.operations import format_cursor, page_cursor, parse_cursor
from taskito.worker import retention as retention_rules
from taskito.worker.upkeep import HistoryUpkeep, report_key


@dataclass(frozen=True, slots=True)
class Page:
    """One keyset page: its ``items`` and the opaque ``next_cursor`` to pass as ``after`` for
    the next page (None: this was the last page)."""

    items: tuple[Any, ...]
    next_cursor: str | None

    def __iter__(self) -> Iterator[Any]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def dead_letter_dict(dead: DeadLetter) -> dict[str, Any]:
    return {
        "id": dead.id,
        "original_job_id": dead.original_job_id,
        "queue": dead.queue,
        "task_name": dead.task_name,
        "error": dead.error,
        "retry_count": dead.retry_count,
        "failed_at": dead.failed_at,
        "metadata": dead.metadata,
        "dlq_retry_count": dead.dlq_retry_count,
    }


def _page(items: list[Any], limit: int, key: tuple[int, object] | None) -> Page:
    cursor = None if len(items) < limit or key is None else format_cursor(page_cursor(*key))
    return Page(tuple(items), cursor)


class OperatorMixin(QueueBase):
    """Requeue, dead-letter management, keyset pages and retention."""

    _retention: Retention | None
    _dlq_auto_retry_delay_ms: int | None
    _dlq_auto_retry_max: int

    def _execution_env(self) -> ExecutionEnv:
        raise NotImplementedError  # Queue's

    def requeue_job(self, job_id: str) -> bool:
        """Send a running job of this Queue's namespace back to pending as a new attempt (for a
        job stuck on a hung worker): the old attempt can no longer write its outcome, and its
        retries are kept. False when no running job of this namespace has this id."""
        job_id = check.check_storable_name("job_id", job_id)
        return self._storage.requeue_job(job_id, self.namespace, now_ms())

    def delete_dead(self, dead_id: str) -> bool:
        """Delete one dead letter of this namespace; False when there is none."""
        dead_id = check.check_storable_name("dead_id", dead_id)
        return self._storage.delete_dead(dead_id, self.namespace)

    def dead_letters_after(
        self, limit: int = 10, after: str | None = None, task_name: str | None = None
    ) -> Page:
        """Dead letters of this namespace (of ``task_name`` when given), newest first, one
        keyset page after the cursor a previous page returned."""
        cursor = parse_cursor(after)
        letters = self._storage.dead_letters_after(limit, cursor, task_name, self.namespace)
        last = None if not letters else (letters[-1].failed_at, letters[-1].id)
        return _page([dead_letter_dict(d) for d in letters], limit, last)

    def dead_letters_by_task(
        self, task_name: str, limit: int = 10, after: str | None = None
    ) -> Page:
        """``dead_letters_after`` for one task."""
        return self.dead_letters_after(
            limit, after, check.check_storable_name("task_name", task_name)
        )

    def purge_dead_by_task(self, task_name: str) -> int:
        """Delete every dead letter of ``task_name`` in this namespace; return how many."""
        task_name = check.check_storable_name("task_name", task_name)
        return self._storage.purge_dead_by_task(task_name, self.namespace)

    def list_jobs_after(
        self,
        status: str | None = None,
        queue: str | None = None,
        task_name: str | None = None,
        limit: int = 50,
        after: str | None = None,
    ) -> Page:
        """Jobs of this namespace, newest first, one keyset page after ``after``."""
        return self.list_jobs_filtered_after(status, queue, task_name, limit=limit, after=after)

    def list_jobs_filtered_after(
        self,
        status: str | None = None,
        queue: str | None = None,
        task_name: str | None = None,
        metadata_like: str | None = None,
        error_like: str | None = None,
        created_after: int | None = None,
        created_before: int | None = None,
        limit: int = 50,
        after: str | None = None,
    ) -> Page:
        """``list_jobs_filtered``'s filters as keyset pages: jobs of this namespace, newest
        first, one page after ``after``."""
        job_filter = job_filter_of(
            self.namespace,
            False,
            status=status,
            queue=queue,
            task_name=task_name,
            metadata_like=metadata_like,
            error_like=error_like,
            created_after=created_after,
            created_before=created_before,
        )
        jobs = self._storage.list_jobs_after(job_filter, limit, parse_cursor(after))
        last = None if not jobs else (jobs[-1].created_at, jobs[-1].id)
        return _page([job_to_dict(job) for job in jobs], limit, last)

    def list_archived_after(self, limit: int = 50, after: str | None = None) -> Page:
        """Archived jobs, most recently finished first, one keyset page after ``after``."""
        records = self._storage.list_archived_after(limit, parse_cursor(after))
        last = None if not records else (records[-1].completed_at or 0, records[-1].id)
        return _page([job_to_dict(record) for record in records], limit, last)

    def logs_after(
        self,
        task_name: str | None = None,
        level: str | None = None,
        limit: int = 50,
        after: str | None = None,
    ) -> Page:
        """Task log lines, newest first, one keyset page after ``after``."""
        lines = self._storage.query_logs_after(task_name, level, limit, parse_cursor(after))
        last = None if not lines else (lines[-1].logged_at, lines[-1].id)
        return _page(
            [
                {"id": line.id, "job_id": line.job_id, "task_name": line.task_name,
                 "level": line.level, "message": line.message, "extra": line.extra,
                 "logged_at": line.logged_at}
                for line in lines
            ],
            limit,
            last,
        )  # fmt: skip

    def retry_dead_due(self) -> list[str]:
        """One pass of the automatic dead-letter retry (``Queue(dlq_auto_retry_delay=...)``),
        as a worker runs it on its cleanup timer: retry up to 50 letters of this namespace at
        least the delay old whose automatic count is under ``dlq_auto_retry_max``; return the
        new job ids. A no-op without a delay. The count lives in the letter's own field
        (``dlq_retry_count``), never in its metadata; a manual ``retry_dead`` keeps it."""
        return HistoryUpkeep(self._execution_env()).retry_dead_letters(now_ms())

    # --- retention ----------------------------------------------------------------------

    def retention(self) -> Retention | None:
        """The windows this Queue was built with (None: off, history kept forever)."""
        return self._retention

    def dry_run_retention(self, retention: Retention | None = None) -> RetentionPreview:
        """Count per kind what a sweep would delete now under ``retention`` (default: this
        Queue's windows), deleting nothing."""
        if retention is not None and not isinstance(retention, Retention):
            raise TypeError(f"retention must be a Retention, not {type(retention).__name__}")
        chosen = retention or self._retention or Retention()
        return retention_rules.preview(self._storage, chosen, self.namespace, now_ms())

    def apply_retention(self) -> dict[str, int]:
        """Run one retention sweep now with this Queue's windows, as a worker does on its
        cleanup timer, and publish its report; return what it deleted per kind."""
        return HistoryUpkeep(self._execution_env()).apply_retention(now_ms())

    def effective_retention(self) -> dict[str, Any] | None:
        """The windows the last sweep in this namespace applied, as its worker reported them:
        ``{"enabled", "namespace", "reported_at", "windows"}`` (ms). None: no sweep yet (which
        is not the same as retention being off)."""
        stored = self._storage.get_setting(report_key(self.namespace))
        return None if stored is None else dict(json.loads(stored))

    # --- async mirrors ------------------------------------------------------------------

    async def arequeue_job(self, job_id: str) -> bool:
        return await self._blocking.run(self.requeue_job, job_id)

    async def adelete_dead(self, dead_id: str) -> bool:
        return await self._blocking.run(self.delete_dead, dead_id)

    async def adead_letters_after(
        self, limit: int = 10, after: str | None = None, task_name: str | None = None
    ) -> Page:
        return await self._blocking.run(self.dead_letters_after, limit, after, task_name)

    async def alist_jobs_after(
        self,
        status: str | None = None,
        queue: str | None = None,
        task_name: str | None = None,
        limit: int = 50,
        after: str | None = None,
    ) -> Page:
        return await self._blocking.run(
            self.list_jobs_after, status, queue, task_name, limit, after
        )

    async def alist_jobs_filtered_after(
        self,
        status: str | None = None,
        queue: str | None = None,
        task_name: str | None = None,
        metadata_like: str | None = None,
        error_like: str | None = None,
        created_after: int | None = None,
        created_before: int | None = None,
        limit: int = 50,
        after: str | None = None,
    ) -> Page:
        return await self._blocking.run(
            self.list_jobs_filtered_after,
            status,
            queue,
            task_name,
            metadata_like,
            error_like,
            created_after,
            created_before,
            limit,
            after,
        )

    async def alist_archived_after(self, limit: int = 50, after: str | None = None) -> Page:
        return await self._blocking.run(self.list_archived_after, limit, after)

    async def alogs_after(
        self,
        task_name: str | None = None,
        level: str | None = None,
        limit: int = 50,
        after: str | None = None,
    ) -> Page:
        return await self._blocking.run(self.logs_after, task_name, level, limit, after)

    async def apurge_dead_by_task(self, task_name: str) -> int:
        return await self._blocking.run(self.purge_dead_by_task, task_name)

    async def adry_run_retention(self, retention: Retention | None = None) -> RetentionPreview:
        return await self._blocking.run(self.dry_run_retention, retention)
