"""The storage contract every backend implements, and the plain records it deals in.

Each method is one atomic operation. Storage deals in bytes and records: it never imports
serializers, pools or the Queue, and it never reads the clock: callers pass ``now`` (integer
ms since the epoch). Driver exceptions are translated into ``taskito.exceptions.StorageError``
subclasses at the backend boundary.

The methods come in families: jobs (enqueue, read, cancel, purge), the claim cycle (claim,
extend leases, finish, and rescue: requeue expired, release), the side tables (errors, dead
letters, logs, progress, task metrics), workers, and change notification.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from taskito.job import AttemptMetric, JobBatch, JobRecord, JobStatus, NewJob, TaskMetric
from taskito.storage.control import ControlStorage
from taskito.storage.operations import Cursor, HistoryKind


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


class Storage(ControlStorage, ABC):
    """The one storage contract. A backend that passes ``tests/storage/`` is a backend.

    The flow-control families (queue state, limits, breakers, schedules, locks, archive,
    settings) are declared in ``storage/control.py``. In the operator's tools (requeue,
    dead-letter management, keyset pages, retention) a namespace argument matches exactly
    (None: records without one), and a keyset page is newest first by ``(sort key, id)``
    strictly after the cursor (``storage/operations.py``).
    """

    # --- lifecycle --------------------------------------------------------------------

    @abstractmethod
    def close(self) -> None:
        """Release connections. Safe to call twice."""

    def describe(self) -> str:
        """One line naming the backend and the database, for banners and messages: e.g.
        ``sqlite /abs/path/taskito.db``, ``postgres postgresql://user:***@host:5432/db schema
        taskito``, ``redis redis://host:6379/0 prefix taskito``. Never a password."""
        return type(self).__name__

    # --- jobs: enqueue, read ------------------------------------------------------------

    @abstractmethod
    def enqueue(self, job: NewJob) -> JobRecord:
        """Insert one job; return the stored record.

        With a ``unique_key`` held by a pending or running job, insert nothing and return
        that job instead (atomic under concurrent producers). ``depends_on`` ids must exist
        and be neither dead nor cancelled, else ``DependencyError`` and nothing is stored.
        """

    @abstractmethod
    def enqueue_many(self, jobs: Sequence[NewJob]) -> list[JobRecord]:
        """Insert every job in one transaction; all or nothing.

        Unique keys are not deduplicated: a key held by an active job (or repeated in the
        batch) raises ``UniqueConflictError`` and nothing is inserted.
        """

    @abstractmethod
    def enqueue_coalescing(
        self, jobs: Sequence[NewJob], max_pending: int | None = None
    ) -> list[tuple[JobRecord, bool]]:
        """Insert the jobs in one transaction, coalescing each on its unique key: a job whose
        key is held by an active job (or by an earlier job of the batch) is not inserted,
        and its entry is that holder and False; an inserted one's is its record and True.
        Atomic under concurrent producers, like ``enqueue``. Batches carry no dependencies.
        ``max_pending``: jobs of one queue under that cap, checked first and whole, as
        ``enqueue_capped`` checks a batch."""

    @abstractmethod
    def enqueue_capped(
        self, jobs: Sequence[NewJob], max_pending: int, *, batch: bool
    ) -> list[JobRecord]:
        """``enqueue`` (one job, ``batch`` False) or ``enqueue_many`` (``batch`` True) of
        jobs of one queue, under a cap: when the queue's pending jobs (every namespace,
        delayed ones included) plus ``len(jobs)`` would pass ``max_pending``, raise
        ``QueueFullError`` and store nothing. The count and the insert are one atomic step
        under concurrent producers. The cap is checked first, even for a held unique key."""

    def enqueue_batch(self, batch: JobBatch) -> None:
        """``enqueue_many`` of ``batch.jobs()``: every job in one transaction, all or nothing;
        job ``i`` is then stored as ``batch.record(i)``. A backend may store the columns
        directly, without an object per job (``map()``)."""
        self.enqueue_many(batch.jobs())

    @abstractmethod
    def get_job(self, job_id: str) -> JobRecord | None: ...

    @abstractmethod
    def list_jobs(self, filter: JobFilter, limit: int, offset: int) -> list[JobRecord]:
        """Matching jobs, newest first (``created_at`` then id, descending)."""

    @abstractmethod
    def count_jobs(self, queue: str | None = None) -> dict[JobStatus, int]:
        """Jobs per status (every status present, zeros included), optionally for one queue."""

    @abstractmethod
    def count_jobs_by_queue(self, include_complete: bool = True) -> dict[str, dict[JobStatus, int]]:
        """``count_jobs`` for every queue that has jobs. Without ``include_complete`` the
        counts leave out ``COMPLETE`` (on a big table, most jobs: a backend may count the
        others from an index without visiting them), and every queue is still listed."""

    @abstractmethod
    def dependencies(self, job_id: str) -> list[str]:
        """Ids of the jobs ``job_id`` depends on."""

    @abstractmethod
    def dependents(self, job_id: str) -> list[str]:
        """Ids of the jobs that depend on ``job_id``."""

    # --- jobs: cancel and purge ---------------------------------------------------------

    @abstractmethod
    def cancel_pending(self, job_id: str, now: int) -> bool:
        """A pending job becomes cancelled (no error), dependents cascade. False otherwise."""

    @abstractmethod
    def request_cancel(self, job_id: str, force: bool = False) -> bool:
        """Flag a running job for cancellation; ``force`` asks the pool to stop a task that
        never checks (a forced request stays forced). False when the job is not running."""

    @abstractmethod
    def cancel(self, job_id: str, force: bool, now: int) -> CancelResult:
        """Cancel a job in whatever state it is, in one atomic step: a pending job is
        cancelled (``cancel_pending``), a running one gets a cancel request (``request_cancel``
        with ``force``); see ``CancelResult``. Notifies like those two when it changes a job.
        A ``job_id`` that is not a non-empty str, a ``force`` that is not a bool or a ``now``
        that is not an int is refused (TypeError/ValueError) before anything is read."""

    @abstractmethod
    def cancel_requests(self, job_ids: Collection[str]) -> dict[str, bool]:
        """Which of ``job_ids`` are running with a cancel request, each mapped to whether the
        request is forced: the cancel watcher's query."""

    @abstractmethod
    def purge_queue(self, queue: str, now: int) -> int:
        """Cancel every pending job of ``queue`` with error ``"purged"``; return the count."""

    @abstractmethod
    def revoke_task(self, task_name: str, now: int) -> int:
        """Cancel every pending job of ``task_name`` with error ``"revoked"``."""

    @abstractmethod
    def purge_completed(self, before: int) -> int:
        """Delete complete jobs finished before ``before`` with their side rows."""

    # --- the claim cycle ----------------------------------------------------------------

    @abstractmethod
    def claim(
        self,
        worker_id: str,
        queues: Sequence[str] | None,
        namespace: str | None,
        limit: int,
        now: int,
        lease_ms: int,
    ) -> list[JobRecord]:
        """Move up to ``limit`` due jobs to running for ``worker_id``; return them.

        Due: pending, ``scheduled_at <= now``, every dependency complete, in one of
        ``queues`` (None: any queue) that is not paused (``set_queue_paused``), with exactly
        ``namespace`` (None: no namespace). Highest priority first, then oldest
        ``scheduled_at``. Each claimed job gets ``attempt += 1``, ``started_at = now``,
        ``lease_expires_at = now + lease_ms``. Pending jobs past ``expires_at`` met on the
        way are cancelled with ``"expired before execution"``. Concurrent claimers get
        disjoint jobs.
        """

    @abstractmethod
    def extend_leases(
        self, worker_id: str, job_ids: Collection[str], now: int, lease_ms: int
    ) -> set[str]:
        """Push the lease of these running jobs of ``worker_id``; return the ids still held."""

    @abstractmethod
    def finish_many(self, finishes: Sequence[Finish], now: int) -> list[bool]:
        """Apply outcomes in one transaction; True for each one that applied (fenced)."""

    def finish_and_claim(
        self,
        finishes: Sequence[Finish],
        worker_id: str,
        queues: Sequence[str] | None,
        namespace: str | None,
        limit: int,
        now: int,
        lease_ms: int,
    ) -> tuple[list[bool], list[JobRecord]]:
        """``finish_many(finishes, now)``, then ``claim(worker_id, ..., limit, now, lease_ms)``:
        the worker's cycle when slots freed up, so one wake-up costs one write. Backends that
        can do both in one transaction (or script) override this; this default makes two
        calls. Either way, when it raises, any part of it may have been applied (a lost reply):
        the caller treats the outcomes as unsure and the claim as lost."""
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise ValueError(f"limit must be an integer >= 0, got {limit!r}")
        self.claim(worker_id, queues, namespace, 0, now, lease_ms)  # checks, claims nothing
        applied = self.finish_many(finishes, now)
        return applied, self.claim(worker_id, queues, namespace, limit, now, lease_ms)

    @abstractmethod
    def requeue_expired(self, now: int, max_rescues: int = DEFAULT_MAX_RESCUES) -> list[JobRecord]:
        """Rescue running jobs whose lease expired before ``now`` (their worker died or
        stalled): see ``release_jobs`` for what a rescue does. The error row reads
        ``"rescued: worker <id> stopped renewing its lease"``. Returns the records as they
        were before (``rescue_count`` tells a poison pill: it equals ``max_rescues``)."""

    @abstractmethod
    def release_jobs(
        self,
        worker_id: str,
        keep: Collection[str],
        now: int,
        max_rescues: int,
        reason: str,
    ) -> list[JobRecord]:
        """Rescue at once every job running under ``worker_id`` except those in ``keep``:
        the worker is known to have given them up (it died on this host, its drain timeout
        ran out, or its claim reply was lost after commit and it never saw the rows).

        A rescue never spends a retry: the job goes back to pending (``scheduled_at = now``;
        started_at, lease and worker cleared; error cleared; a cancel request kept, so the
        next attempt honours it at once) with ``rescue_count += 1``, ``retry_count``
        unchanged, and a job error row ``(attempt=retry_count, reason)``. A job already
        rescued ``max_rescues`` times goes to dead instead, with ``poison_pill_error``
        as its error, an error row, a dead-letter row, and its pending dependents cancelled
        as for any dead job. Returns the records as they were before."""

    # --- progress, logs, errors, dead letters -------------------------------------------

    @abstractmethod
    def update_progress(self, job_id: str, progress: int) -> bool:
        """Set progress (0-100); False for an unknown job."""

    @abstractmethod
    def add_log(
        self,
        job_id: str,
        task_name: str,
        level: str,
        message: str,
        extra: str | None,
        now: int,
    ) -> None: ...

    @abstractmethod
    def task_logs(self, job_id: str) -> list[LogEntry]:
        """Logs of one job, oldest first."""

    @abstractmethod
    def query_logs(
        self, task_name: str | None, level: str | None, since: int, limit: int
    ) -> list[LogEntry]:
        """Logs at or after ``since``, newest first."""

    @abstractmethod
    def job_errors(self, job_id: str) -> list[JobError]:
        """The job's failed attempts, by attempt."""

    @abstractmethod
    def dead_letters(
        self, limit: int, offset: int, before: tuple[int, str] | None = None
    ) -> list[DeadLetter]:
        """Newest first (``failed_at``, then the order they were written). ``before``, the
        ``(failed_at, id)`` of a letter, pages by key: only the letters after it; when that
        letter is gone (retried, purged), those that failed before ``failed_at``."""

    @abstractmethod
    def dead_letter(self, dead_id: str) -> DeadLetter | None:
        """One dead letter by its id; None when there is none."""

    @abstractmethod
    def retry_dead(
        self,
        dead_id: str,
        new_job_id: str,
        now: int,
        payload: bytes | None = None,
        *,
        automatic: bool = False,
    ) -> JobRecord | None:
        """Enqueue a fresh pending copy of the dead letter and delete the row; None when
        there is no such dead letter. ``payload``, when given, replaces the letter's (a
        signed payload made valid for the new id, see taskito.signing.rebind). The copy
        carries the letter's ``dlq_retry_count`` (plus one when ``automatic``: the dead-letter
        auto-retry), so the next dead letter of that job reports it."""

    @abstractmethod
    def purge_dead(self, before: int) -> int:
        """Delete dead letters that failed before ``before``."""

    @abstractmethod
    def task_metrics(self, task_name: str | None, since: int) -> list[TaskMetric]:
        """Metric rows (``Finish.metric``) finished at or after ``since``, of ``task_name``
        (None: every task), by ``finished_at`` (rows of one ms in no set order)."""

    @abstractmethod
    def purge_metrics(self, before: int, limit: int) -> int:
        """Delete up to ``limit`` (>= 1) of the oldest metric rows finished before ``before``;
        return how many (fewer than ``limit``: none is left)."""

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

    # --- workers ------------------------------------------------------------------------

    @abstractmethod
    def register_worker(self, worker: WorkerInfo) -> None: ...

    @abstractmethod
    def heartbeat(
        self,
        worker_id: str,
        status: str,
        now: int,
        resource_health: Mapping[str, str] | None = None,
    ) -> None:
        """Touch the worker's row; ``resource_health``, when given, replaces the stored one
        (None keeps it). A worker that is not registered stays unregistered."""

    @abstractmethod
    def unregister_worker(self, worker_id: str) -> None: ...

    @abstractmethod
    def list_workers(self) -> list[WorkerInfo]: ...

    @abstractmethod
    def reap_workers(self, stale_before: int) -> list[str]:
        """Remove workers whose last heartbeat is older than ``stale_before``; return ids."""

    # --- change notification ------------------------------------------------------------

    @abstractmethod
    def wait_for_change(self, timeout_s: float) -> bool:
        """Block until jobs may have changed (an enqueue, a cancel request, a finish in this
        or another process) or ``timeout_s`` passes; True when woken by a change.

        A hint, never a guarantee: callers still poll. Backends wake at once for changes
        made through this same object, and cheaply detect others (SQLite: data_version;
        Postgres: LISTEN; Redis: pub/sub).
        """
