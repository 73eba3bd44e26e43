"""The storage contract every backend implements (its records live in ``storage/records.py``
and are re-exported here; its operator half is ``storage/operator_contract.py``).

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

from taskito.job import JobBatch, JobRecord, JobStatus, NewJob, TaskMetric
from taskito.storage.control import ControlStorage
from taskito.storage.operator_contract import OperatorStorage
from taskito.storage.records import (
    DEFAULT_MAX_RESCUES,
    CancelResult,
    DeadLetter,
    Finish,
    JobError,
    JobFilter,
    LogEntry,
    WorkerInfo,
    poison_pill_error,
)
from taskito.storage.workflow_contract import WorkflowStorage

__all__ = [
    "DEFAULT_MAX_RESCUES",
    "CancelResult",
    "DeadLetter",
    "Finish",
    "JobError",
    "JobFilter",
    "LogEntry",
    "Storage",
    "WorkerInfo",
    "poison_pill_error",
]


class Storage(ControlStorage, OperatorStorage, WorkflowStorage, ABC):
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

    @abstractmethod
    def enqueue_debounced(
        self,
        job: NewJob,
        key: str,
        window_ms: int,
        max_wait_ms: int,
        replace_payload: bool,
        now: int,
        *,
        max_pending: int | None = None,
    ) -> tuple[JobRecord, bool]:
        """Debounce (trailing edge), found, slid or inserted in one atomic step under
        concurrent producers: while a job of ``job.task_name`` and ``job.namespace`` with
        debounce ``key`` is pending and was never claimed (``attempt`` 0), move its
        ``scheduled_at`` to ``min(now + window_ms, its created_at + max_wait_ms)`` (and, with
        ``replace_payload``, store ``job.payload`` in place of its own) and return it and
        True; ``job`` is not stored. Otherwise insert ``job`` as it is (the caller schedules
        it at ``now + window_ms``) holding ``key``, and return it and False. A claimed job
        is never moved, even once a retry sends it back to pending.

        ``job`` carries no unique key; ``key`` is non-empty text; ``window_ms`` >= 1 and
        ``max_wait_ms`` >= ``window_ms``. ``max_pending``: an insert (never a slide, which
        adds no job) is checked against that cap as ``enqueue_capped`` checks one job."""

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
