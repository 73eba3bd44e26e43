"""The plain records the storage contract deals in: outcomes to write, filters, and the rows
of the side tables (errors, dead letters, workers, log lines).

``storage/base.py`` re-exports every name here, so callers keep importing them from there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from taskito.job import AttemptMetric, JobStatus


@dataclass(frozen=True, slots=True)
class Finish:
    """An outcome to write for one claimed attempt (docs/architecture.md, invariant 3: fenced).

    It applies only while the job is still ``running`` under ``attempt`` for ``worker_id``
    (attempt numbers can repeat when a crash rolls back a claim, so the attempt alone is not
    enough); otherwise it is dropped and ``finish_many`` reports False for it. ``worker_id``
    is keyword-only and required.

    * ``COMPLETE``: store ``result``, set ``completed_at``.
    * ``PENDING`` (a retry): ``retry_count += 1``, ``scheduled_at = retry_at``, clear
      ``started_at``/``completed_at``/``error``/``cancel_requested``, and append a job error
      row ``(attempt=old retry_count, error)``.
    * ``DEAD``: set ``error`` and ``completed_at``, append a job error row and a dead-letter
      row, and cancel pending dependents transitively with ``"dependency failed: <id>"``.
    * ``CANCELLED``: set ``error`` (default ``"cancelled by request"``) and ``completed_at``,
      and cancel pending dependents with ``"dependency cancelled: <id>"``.
    * ``FAILED``: set ``error`` and ``completed_at`` (not produced by the normal flow).

    In every case the lease and worker fields are cleared. ``metric``, when given, is written
    as a ``TaskMetric`` row (``finished_at = now``) in the same transaction, if the outcome
    applies.
    """

    job_id: str
    attempt: int
    status: JobStatus
    result: bytes | None = None
    error: str | None = None
    retry_at: int | None = None
    worker_id: str = field(kw_only=True)
    metric: AttemptMetric | None = field(default=None, kw_only=True)


class CancelResult(StrEnum):
    """What ``Storage.cancel`` did to a job, decided atomically from the state it found.

    * ``CANCELLED``: it was pending; it is now cancelled (no error) and its pending
      dependents cascade, as ``cancel_pending`` does.
    * ``REQUESTED``: it was running; it now carries a cancel request for its worker (forced
      when asked; a request never downgrades), as ``request_cancel`` does.
    * ``NOT_FOUND``: no job has this id.
    * ``FINISHED``: it had already reached a final state; nothing changed.
    """

    CANCELLED = "cancelled"
    REQUESTED = "requested"
    NOT_FOUND = "not_found"
    FINISHED = "finished"


#: How many times a job may be rescued (sent back to pending because its worker died or gave
#: it up) before the next rescue dead-letters it as a poison pill instead.
DEFAULT_MAX_RESCUES = 5


def poison_pill_error(rescues: int) -> str:
    """The error of a job dead-lettered because its worker kept dying while running it (the
    Redis scripts write the same text)."""
    return f"poison pill: rescued {rescues} times (its worker kept dying while running it)"


@dataclass(frozen=True, slots=True)
class JobFilter:
    """Which jobs ``list_jobs``/``count_jobs`` look at. ``None`` fields do not filter.

    ``namespace`` filters only when ``any_namespace`` is False; then ``None`` means
    "jobs without a namespace".
    """

    status: JobStatus | None = None
    queue: str | None = None
    task_name: str | None = None
    namespace: str | None = None
    any_namespace: bool = True
    metadata_like: str | None = None
    error_like: str | None = None
    created_after: int | None = None
    created_before: int | None = None
    #: Keyset paging: only jobs after ``(created_at, id)`` in the list's order (newest first),
    #: that is strictly older, or as old with a smaller id. Exact when many jobs share a
    #: millisecond, and the cost of a page does not grow with how deep it is.
    before: tuple[int, str] | None = None


@dataclass(frozen=True, slots=True)
class JobError:
    """One failed attempt: ``attempt`` is the job's retry_count when it failed."""

    id: int
    job_id: str
    attempt: int
    error: str
    failed_at: int


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A job whose retries ran out, kept with everything needed to enqueue it again."""

    id: str
    original_job_id: str
    queue: str
    task_name: str
    payload: bytes
    error: str | None
    retry_count: int
    failed_at: int
    metadata: str | None
    priority: int
    max_retries: int
    timeout_ms: int | None
    result_ttl_ms: int | None
    namespace: str | None
    #: How many times the automatic dead-letter retry sent this job back (its own field: the
    #: user's metadata is never touched; manual retries keep it as it is).
    dlq_retry_count: int = 0


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A registered worker, as ``queue.workers()`` reports it."""

    worker_id: str
    hostname: str
    pid: int
    queues: tuple[str, ...] | None  # None: every queue
    pool: str
    threads: int
    status: str
    started_at: int
    last_heartbeat: int
    tags: tuple[str, ...] = ()
    #: The worker's resource names, sorted (None: it has none).
    resources: tuple[str, ...] | None = None
    #: Resource name -> "healthy"/"unhealthy"/..., as of its last heartbeat that carried it
    #: (None until then, and for a worker without resources).
    resource_health: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class LogEntry:
    """A task log line, or (``level == "result"``) a partial result published by the task."""

    id: int
    job_id: str
    task_name: str
    level: str
    message: str
    extra: str | None
    logged_at: int
