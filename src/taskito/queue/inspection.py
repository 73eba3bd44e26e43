"""Read-only views of a Queue's storage: jobs, counts, errors, logs and workers, as the plain
dicts and ``JobResult`` handles of the reference API."""

from __future__ import annotations

import enum
from typing import Any

from taskito import _checks
from taskito.exceptions import ConfigurationError, StorageError
from taskito.job import JobStatus, now_ms
from taskito.queue import checks as check
from taskito.queue.payloads import decoded_arguments
from taskito.queue.state import QueueBase
from taskito.result import JobResult, error_to_dict
from taskito.storage.base import JobFilter, LogEntry, WorkerInfo
from taskito.storage.worker_resources import encode_health, encode_names


def job_filter_of(
    namespace: str | None,
    any_namespace: bool,
    *,
    status: str | None = None,
    queue: str | None = None,
    task_name: str | None = None,
    metadata_like: str | None = None,
    error_like: str | None = None,
    created_after: int | None = None,
    created_before: int | None = None,
    before: tuple[int, str] | None = None,
) -> JobFilter:
    """The ``JobFilter`` of a listing's arguments, each checked (a bad one raises naming it)."""
    return JobFilter(
        status=None if status is None else JobStatus.parse(status),
        queue=_checks.check_optional_str("queue", queue),
        task_name=_checks.check_optional_str("task_name", task_name),
        namespace=namespace,
        any_namespace=any_namespace,
        metadata_like=_checks.check_optional_str("metadata_like", metadata_like),
        error_like=_checks.check_optional_str("error_like", error_like),
        created_after=_checks.check_optional_int(
            "created_after", created_after, error=ConfigurationError
        ),
        created_before=_checks.check_optional_int(
            "created_before", created_before, error=ConfigurationError
        ),
        before=before,
    )


class _Unset(enum.Enum):
    UNSET = "unset"


#: The default of ``namespace=`` in listings: "this queue's namespace" (None means all).
UNSET = _Unset.UNSET

#: ``stats()`` spells ``complete`` as ``completed``, as the reference does.
_STATS_KEYS = {
    JobStatus.PENDING: "pending",
    JobStatus.RUNNING: "running",
    JobStatus.COMPLETE: "completed",
    JobStatus.FAILED: "failed",
    JobStatus.DEAD: "dead",
    JobStatus.CANCELLED: "cancelled",
}


def _stats_dict(counts: dict[JobStatus, int]) -> dict[str, int]:
    return {key: counts.get(status, 0) for status, key in _STATS_KEYS.items()}


def _check_cursor(before: object) -> tuple[int, str] | None:
    """``before``: None, or the ``(created_at, id)`` of the last job of a page."""
    if before is None:
        return None
    if not isinstance(before, tuple) or len(before) != 2:
        raise TypeError(f"before must be a (created_at, id) tuple, not {before!r}")
    created_at = _checks.check_int("before created_at", before[0], minimum=0)
    return created_at, _checks.check_text("before id", before[1])


def _log_dict(entry: LogEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "job_id": entry.job_id,
        "task_name": entry.task_name,
        "level": entry.level,
        "message": entry.message,
        "extra": entry.extra,
        "logged_at": entry.logged_at,
    }


def _worker_dict(worker: WorkerInfo) -> dict[str, Any]:
    return {
        "worker_id": worker.worker_id,
        "last_heartbeat": worker.last_heartbeat,
        # A worker that consumes every queue registers no list; "*" says so.
        "queues": "*" if worker.queues is None else ",".join(worker.queues),
        "status": worker.status,
        "tags": ",".join(worker.tags) if worker.tags else None,
        # JSON text, as the reference reports them.
        "resources": encode_names(worker.resources),
        "resource_health": encode_health(worker.resource_health),
        "threads": worker.threads,
        "started_at": worker.started_at,
        "hostname": worker.hostname,
        "pid": worker.pid,
        # The reference reports None for the default thread pool.
        "pool_type": None if worker.pool == "thread" else worker.pool,
    }


class InspectionMixin(QueueBase):
    """Looking at jobs, counts, logs and workers."""

    def get_job(self, job_id: str) -> JobResult | None:
        """The job's handle, or None when there is no such job."""
        record = self._storage.get_job(check.check_storable_name("job_id", job_id))
        return None if record is None else JobResult(record, self)

    def _namespace_filter(self, namespace: str | _Unset | None) -> tuple[str | None, bool]:
        """(namespace, any_namespace) for a ``JobFilter``."""
        if namespace is UNSET:
            return self.namespace, False
        if namespace is None:
            return None, True
        return check.check_storable_name("namespace", namespace), False

    def list_jobs(
        self,
        status: str | None = None,
        queue: str | None = None,
        task_name: str | None = None,
        limit: int = 50,
        offset: int = 0,
        namespace: str | _Unset | None = UNSET,
    ) -> list[JobResult]:
        """Jobs newest first. ``namespace`` defaults to this queue's; None lists every one."""
        return self.list_jobs_filtered(
            status=status,
            queue=queue,
            task_name=task_name,
            limit=limit,
            offset=offset,
            namespace=namespace,
        )

    def list_jobs_filtered(
        self,
        status: str | None = None,
        queue: str | None = None,
        task_name: str | None = None,
        metadata_like: str | None = None,
        error_like: str | None = None,
        created_after: int | None = None,
        created_before: int | None = None,
        limit: int = 50,
        offset: int = 0,
        namespace: str | _Unset | None = UNSET,
        before: tuple[int, str] | None = None,
    ) -> list[JobResult]:
        """``list_jobs`` with substring matches on metadata and error, and a creation window
        (integer ms since the epoch). ``before=(created_at, id)`` of the last job of a page
        reads the next page by key: exact however many jobs share a millisecond, and as fast
        however deep (use ``offset=0`` with it)."""
        limit, offset = check.check_page(limit, offset)
        ns, any_namespace = self._namespace_filter(namespace)
        job_filter = job_filter_of(
            ns,
            any_namespace,
            status=status,
            queue=queue,
            task_name=task_name,
            metadata_like=metadata_like,
            error_like=error_like,
            created_after=created_after,
            created_before=created_before,
            before=_check_cursor(before),
        )
        records = self._storage.list_jobs(job_filter, limit, offset)
        return [JobResult(record, self) for record in records]

    def stats(self) -> dict[str, int]:
        """Jobs per status over every queue and namespace: pending, running, completed,
        failed, dead, cancelled."""
        return _stats_dict(self._storage.count_jobs())

    def stats_by_queue(self, queue_name: str) -> dict[str, int]:
        return _stats_dict(
            self._storage.count_jobs(check.check_storable_name("queue_name", queue_name))
        )

    def stats_all_queues(self, *, include_completed: bool = True) -> dict[str, dict[str, int]]:
        """``stats_by_queue`` for every queue holding jobs. ``include_completed=False`` leaves
        the ``completed`` count out: the others are read from an index without visiting the
        completed jobs, which are most of a big table (the dashboard's queue depths)."""
        by_queue = self._storage.count_jobs_by_queue(
            _checks.check_bool("include_completed", include_completed)
        )
        return {
            queue: {
                key: value
                for key, value in _stats_dict(counts).items()
                if include_completed or key != "completed"
            }
            for queue, counts in by_queue.items()
        }

    def job_errors(self, job_id: str) -> list[dict[str, Any]]:
        """Every failed attempt of the job: ``{id, job_id, attempt, error, failed_at}``."""
        return [
            error_to_dict(e)
            for e in self._storage.job_errors(check.check_storable_name("job_id", job_id))
        ]

    def job_arguments(self, job_id: str) -> tuple[Any, Any] | None:
        """The ``(args, kwargs)`` a job was enqueued with, decoded with this queue's rules
        (the task's serializer; with a signing key, the signature checked first); None for
        an unknown job. ``SignatureError``/``SerializationError`` when it does not decode."""
        record = self._storage.get_job(check.check_storable_name("job_id", job_id))
        if record is None:
            return None
        return decoded_arguments(self, record.task_name, record.payload, record.id)

    def update_progress(self, job_id: str, progress: int) -> None:
        """Set a job's progress (0-100); an unknown job raises ``StorageError`` (RuntimeError)."""
        check.check_storable_name("job_id", job_id)
        _checks.check_int("progress", progress, minimum=0, error=ConfigurationError)
        if progress > 100:
            raise ConfigurationError(f"progress must be between 0 and 100, got {progress}")
        if not self._storage.update_progress(job_id, progress):
            raise StorageError(f"job not found: {job_id}")

    def task_logs(self, job_id: str) -> list[dict[str, Any]]:
        """The job's log lines, oldest first."""
        return [
            _log_dict(e)
            for e in self._storage.task_logs(check.check_storable_name("job_id", job_id))
        ]

    def query_logs(
        self,
        task_name: str | None = None,
        level: str | None = None,
        since: float = 3600,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Log lines of the last ``since`` seconds, newest first."""
        since_s = check.check_duration("since", since)
        entries = self._storage.query_logs(
            _checks.check_optional_str("task_name", task_name),
            _checks.check_optional_str("level", level),
            now_ms() - round(since_s * 1000),
            _checks.check_int("limit", limit, minimum=0, error=ConfigurationError),
        )
        return [_log_dict(e) for e in entries]

    def workers(self) -> list[dict[str, Any]]:
        """Registered workers, with the reference's keys."""
        return [_worker_dict(w) for w in self._storage.list_workers()]


__all__ = ["UNSET", "InspectionMixin"]
