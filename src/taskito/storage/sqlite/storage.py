"""The SQLite storage backend: the default, embedded in one WAL-mode file.

Connections, transactions and change notification live in ``connections``; group commit of
concurrent enqueues in ``enqueue``; the schema in ``schema``; SQL text in ``queries``;
multi-step transitions in ``transitions``; the flow-control half of the contract in
``control``. This module maps the ``Storage`` contract onto them.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence

from taskito._checks import check_count, check_optional_bytes, check_positive, check_text
from taskito.exceptions import QueueFullError
from taskito.job import JobBatch, JobRecord, JobStatus, NewJob, TaskMetric
from taskito.storage import validation
from taskito.storage.base import (
    DEFAULT_MAX_RESCUES,
    CancelResult,
    DeadLetter,
    Finish,
    JobError,
    JobFilter,
    LogEntry,
    Storage,
    WorkerInfo,
)
from taskito.storage.sqlite import claim as sqlite_claim
from taskito.storage.sqlite import queries as q
from taskito.storage.sqlite import transitions
from taskito.storage.sqlite.connections import SqliteConnections
from taskito.storage.sqlite.control import SqliteControl
from taskito.storage.sqlite.enqueue import GroupCommit
from taskito.storage.sqlite.operations import SqliteOperations
from taskito.storage.sqlite.workflows import SqliteWorkflows
from taskito.storage.validation import (
    check_job_cursor,
    check_page,
    claim_queue_names,
    require_new_job,
)
from taskito.storage.worker_resources import encode_health
from taskito.storage.workflow_contract import WorkflowStorage

# Pending jobs of one queue, every namespace and delayed ones included (a max_pending cap).
_COUNT_PENDING_IN_QUEUE = "SELECT count(*) FROM jobs WHERE queue = ? AND status = 0"


class SqliteStorage(SqliteControl, SqliteOperations, SqliteWorkflows, Storage, WorkflowStorage):
    """``Storage`` on one SQLite file (or ``":memory:"`` for a single process). The
    flow-control methods come from ``SqliteControl``, the operator's from
    ``SqliteOperations``, the workflow half (``WorkflowStorage``) from ``SqliteWorkflows``."""

    def __init__(
        self, path: str, *, busy_timeout_ms: int = 5000, durable_enqueue: bool = True
    ) -> None:
        if isinstance(path, os.PathLike):
            path = os.fspath(path)
        if not isinstance(path, str) or not path:
            raise ValueError(f"path must be a non-empty file path or ':memory:', got {path!r}")
        check_count("busy_timeout_ms", busy_timeout_ms, type_error=ValueError)
        if not isinstance(durable_enqueue, bool):
            raise TypeError(f"durable_enqueue must be a bool, not {type(durable_enqueue).__name__}")
        # Enqueues (and the other writes that make jobs) commit with synchronous=FULL: a
        # returned delay() survives power loss. The worker's writes stay NORMAL: one lost to
        # power loss only runs a job again (at-least-once holds).
        self._durable = durable_enqueue
        self.path = path
        self._conns = SqliteConnections(path, busy_timeout_ms)
        self._group_commit = GroupCommit(self._conns, durable_enqueue)

    def __repr__(self) -> str:
        return f"<SqliteStorage path={self.path!r}>"

    def close(self) -> None:
        self._conns.close()

    def describe(self) -> str:
        where = self.path if self._conns.memory else os.path.abspath(self.path)
        return f"sqlite {where}"

    def _notify(self) -> None:
        self._conns.notifier.notify()

    # --- jobs: enqueue, read ------------------------------------------------------------

    def enqueue(self, job: NewJob) -> JobRecord:
        """See ``Storage.enqueue``. Concurrent calls from threads of this process share
        commits (``enqueue.GroupCommit``); each returns once its own row is committed."""
        require_new_job(job)
        return self._group_commit.enqueue(job)[0]

    def enqueue_many(self, jobs: Sequence[NewJob]) -> list[JobRecord]:
        batch = [require_new_job(job) for job in jobs]
        if not batch:
            return []
        outside_dependencies = validation.batch_outside_dependencies(batch)
        with self._conns.write(notify=False, durable=self._durable) as conn:
            transitions.check_dependencies(conn, outside_dependencies)
            for sql, rows in q.insert_jobs(batch):
                conn.executemany(sql, rows)
            transitions.insert_dependencies(conn, batch)
        self._notify()
        return [JobRecord.from_new(job) for job in batch]

    def enqueue_coalescing(
        self, jobs: Sequence[NewJob], max_pending: int | None = None
    ) -> list[tuple[JobRecord, bool]]:
        """See ``Storage.enqueue_coalescing``: one write transaction (``BEGIN IMMEDIATE``,
        so no other producer inserts a key between a row's lookup and its insert)."""
        batch = validation.require_coalescing_batch(jobs)
        if max_pending is not None:
            validation.require_capped_jobs(batch, max_pending, True)
        if not batch:
            return []
        with self._conns.write(notify=False, durable=self._durable) as conn:
            if max_pending is not None:
                (pending,) = conn.execute(_COUNT_PENDING_IN_QUEUE, (batch[0].queue,)).fetchone()
                if pending + len(batch) > max_pending:
                    raise QueueFullError(batch[0].queue, pending, len(batch), max_pending)
            # Each row looks its key up inside the transaction, so an earlier row's insert
            # is seen: a key repeated in the batch coalesces onto its first row.
            outcomes = [transitions.enqueue_one(conn, job) for job in batch]
        if any(inserted for _, inserted in outcomes):
            self._notify()
        return outcomes

    def enqueue_capped(
        self, jobs: Sequence[NewJob], max_pending: int, *, batch: bool
    ) -> list[JobRecord]:
        """See ``Storage.enqueue_capped``: the count and the insert share one ``BEGIN
        IMMEDIATE`` transaction, so no other writer adds a job in between."""
        checked = validation.require_capped_jobs(jobs, max_pending, batch)
        if not checked:
            return []
        queue = checked[0].queue
        with self._conns.write(notify=False, durable=self._durable) as conn:
            (pending,) = conn.execute(_COUNT_PENDING_IN_QUEUE, (queue,)).fetchone()
            if pending + len(checked) > max_pending:
                raise QueueFullError(queue, pending, len(checked), max_pending)
            if batch:
                transitions.check_dependencies(conn, validation.batch_outside_dependencies(checked))
                for sql, rows in q.insert_jobs(checked):
                    conn.executemany(sql, rows)
                transitions.insert_dependencies(conn, checked)
                records = [JobRecord.from_new(job) for job in checked]
            else:
                record, _ = transitions.enqueue_one(conn, checked[0])
                records = [record]
        self._notify()
        return records

    def enqueue_batch(self, batch: JobBatch) -> None:
        validation.require_job_batch(batch)
        if not batch.ids:
            return
        with self._conns.write(notify=False, durable=self._durable) as conn:
            conn.executemany(*q.insert_batch(batch))
        self._notify()

    def get_job(self, job_id: str) -> JobRecord | None:
        with self._conns.read() as conn:
            row = conn.execute(q.SELECT_JOB, (job_id,)).fetchone()
        return None if row is None else q.row_to_job(row)

    def list_jobs(self, filter: JobFilter, limit: int, offset: int) -> list[JobRecord]:
        """Matching jobs, newest first. ``created_after``/``created_before`` are inclusive;
        ``*_like`` are case-insensitive substring matches."""
        if not isinstance(filter, JobFilter):
            raise TypeError(f"filter must be a JobFilter, got {type(filter).__name__}")
        sql, params = q.list_jobs_query(filter, *check_page(limit, offset))
        with self._conns.read() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [q.row_to_job(row) for row in rows]

    def count_jobs(self, queue: str | None = None) -> dict[JobStatus, int]:
        counts = dict.fromkeys(JobStatus, 0)
        with self._conns.read() as conn:
            if queue is None:
                total, *others = conn.execute(q.COUNT_BY_STATUS).fetchone()
                for code, count in zip(q.COUNT_BY_STATUS_CODES, others, strict=True):
                    counts[JobStatus.from_code(code)] = count
                counts[JobStatus.COMPLETE] = total - sum(others)
                return counts
            rows = conn.execute(q.COUNT_BY_STATUS_IN_QUEUE, (queue,)).fetchall()
        for code, count in rows:
            counts[JobStatus.from_code(code)] = count
        return counts

    def count_jobs_by_queue(self, include_complete: bool = True) -> dict[str, dict[JobStatus, int]]:
        statuses = [s for s in JobStatus if include_complete or s is not JobStatus.COMPLETE]
        with self._conns.read() as conn:
            if include_complete:
                rows = conn.execute(q.COUNT_BY_QUEUE_AND_STATUS).fetchall()
                names = []
            else:
                rows = conn.execute(q.COUNT_UNFINISHED_BY_QUEUE).fetchall()
                names = [row[0] for row in conn.execute(q.QUEUES_WITH_COMPLETED)]
        by_queue = {name: dict.fromkeys(statuses, 0) for name in names}
        for queue, code, count in rows:
            by_queue.setdefault(queue, dict.fromkeys(statuses, 0))[JobStatus.from_code(code)] = (
                count
            )
        return by_queue

    def dependencies(self, job_id: str) -> list[str]:
        with self._conns.read() as conn:
            return [row[0] for row in conn.execute(q.SELECT_DEPENDENCIES, (job_id,))]

    def dependents(self, job_id: str) -> list[str]:
        with self._conns.read() as conn:
            return [row[0] for row in conn.execute(q.SELECT_DEPENDENTS, (job_id,))]

    # --- jobs: cancel and purge ---------------------------------------------------------

    def cancel_pending(self, job_id: str, now: int) -> bool:
        with self._conns.write(notify=False) as conn:
            cancelled = transitions.cancel_pending(conn, job_id, now)
        if cancelled:
            self._notify()
        return cancelled

    def request_cancel(self, job_id: str, force: bool = False) -> bool:
        with self._conns.write(notify=False) as conn:
            requested = transitions.request_cancel(conn, job_id, force)
        if requested:
            self._notify()
        return requested

    def cancel(self, job_id: str, force: bool, now: int) -> CancelResult:
        job_id, force, now = validation.cancel_arguments(job_id, force, now)
        with self._conns.write(notify=False) as conn:
            result = transitions.cancel(conn, job_id, force, now)
        if result in (CancelResult.CANCELLED, CancelResult.REQUESTED):
            self._notify()
        return result

    def cancel_requests(self, job_ids: Collection[str]) -> dict[str, bool]:
        wanted = set(job_ids)
        if not wanted:
            return {}
        with self._conns.read() as conn:
            rows = conn.execute(q.SELECT_CANCEL_REQUESTED).fetchall()
        return {job_id: level > 1 for job_id, level in rows if job_id in wanted}

    def purge_queue(self, queue: str, now: int) -> int:
        return self._bulk_cancel(q.PURGE_QUEUE, queue, now)

    def revoke_task(self, task_name: str, now: int) -> int:
        return self._bulk_cancel(q.REVOKE_TASK, task_name, now)

    def _bulk_cancel(self, sql: str, key: str, now: int) -> int:
        with self._conns.write(notify=False) as conn:
            count = conn.execute(sql, (now, key)).rowcount
        if count:
            self._notify()
        return count

    def purge_completed(self, before: int) -> int:
        with self._conns.write(notify=False) as conn:
            return transitions.purge_completed(conn, before)

    # --- the claim cycle ----------------------------------------------------------------

    def claim(
        self,
        worker_id: str,
        queues: Sequence[str] | None,
        namespace: str | None,
        limit: int,
        now: int,
        lease_ms: int,
    ) -> list[JobRecord]:
        queue_names = claim_queue_names(queues, limit, lease_ms)
        if limit == 0 or queue_names == []:
            return []
        with self._conns.write(notify=False) as conn:
            jobs, expired_any = sqlite_claim.claim(
                conn, worker_id, queue_names, namespace, limit, now, lease_ms
            )
        if expired_any:
            self._notify()
        return jobs

    def extend_leases(
        self, worker_id: str, job_ids: Collection[str], now: int, lease_ms: int
    ) -> set[str]:
        check_positive("lease_ms", lease_ms, type_error=ValueError)
        ids = list(job_ids)
        if not ids:
            return set()
        with self._conns.write(notify=False) as conn:
            rows = conn.execute(
                q.EXTEND_LEASES, (now + lease_ms, worker_id, q.json_list(ids))
            ).fetchall()
        return {row[0] for row in rows}

    def finish_many(self, finishes: Sequence[Finish], now: int) -> list[bool]:
        batch = list(finishes)
        validation.validate_finishes(batch)
        if not batch:
            return []
        with self._conns.write(notify=False) as conn:
            applied = [transitions.finish_one(conn, finish, now) for finish in batch]
            transitions.insert_metrics(conn, batch, applied, now)
            transitions.settle_workflow_nodes(conn, batch, applied, now)
        if any(applied):
            self._notify()
        return applied

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
        """One write transaction: the fenced outcomes, their metric rows, then the claim."""
        batch = list(finishes)
        validation.validate_finishes(batch)
        queue_names = claim_queue_names(queues, limit, lease_ms)
        claiming = limit > 0 and queue_names != []
        jobs: list[JobRecord] = []
        expired_any = False
        with self._conns.write(notify=False) as conn:
            applied = [transitions.finish_one(conn, finish, now) for finish in batch]
            transitions.insert_metrics(conn, batch, applied, now)
            transitions.settle_workflow_nodes(conn, batch, applied, now)
            if claiming:
                jobs, expired_any = sqlite_claim.claim(
                    conn, worker_id, queue_names, namespace, limit, now, lease_ms
                )
        if expired_any or any(applied):
            self._notify()
        return applied, jobs

    def requeue_expired(self, now: int, max_rescues: int = DEFAULT_MAX_RESCUES) -> list[JobRecord]:
        check_count("max_rescues", max_rescues, type_error=ValueError)
        with self._conns.write(notify=False) as conn:
            expired = transitions.requeue_expired(conn, now, max_rescues)
        if expired:
            self._notify()
        return expired

    def release_jobs(
        self, worker_id: str, keep: Collection[str], now: int, max_rescues: int, reason: str
    ) -> list[JobRecord]:
        args = validation.release_arguments(worker_id, keep, max_rescues, reason)
        with self._conns.write(notify=False) as conn:
            released = transitions.release_jobs(conn, args[0], args[1], now, args[2], args[3])
        if released:
            self._notify()
        return released

    # --- progress, logs, errors, dead letters -------------------------------------------

    def update_progress(self, job_id: str, progress: int) -> bool:
        if isinstance(progress, bool) or not isinstance(progress, int) or not 0 <= progress <= 100:
            raise ValueError(f"progress must be an integer from 0 to 100, got {progress!r}")
        with self._conns.write(notify=False) as conn:
            return conn.execute(q.UPDATE_PROGRESS, (progress, job_id)).rowcount == 1

    def add_log(
        self,
        job_id: str,
        task_name: str,
        level: str,
        message: str,
        extra: str | None,
        now: int,
    ) -> None:
        # Partial results ("result" lines) wake result streams; ordinary log lines do not.
        with self._conns.write(notify=level == "result") as conn:
            conn.execute(q.INSERT_LOG, (job_id, task_name, level, message, extra, now))

    def task_logs(self, job_id: str) -> list[LogEntry]:
        with self._conns.read() as conn:
            return [q.row_to_log(row) for row in conn.execute(q.SELECT_JOB_LOGS, (job_id,))]

    def query_logs(
        self, task_name: str | None, level: str | None, since: int, limit: int
    ) -> list[LogEntry]:
        params = (
            since,
            task_name,
            task_name,
            level,
            level,
            check_count("limit", limit, type_error=ValueError),
        )
        with self._conns.read() as conn:
            return [q.row_to_log(row) for row in conn.execute(q.QUERY_LOGS, params)]

    def job_errors(self, job_id: str) -> list[JobError]:
        with self._conns.read() as conn:
            return [q.row_to_error(row) for row in conn.execute(q.SELECT_JOB_ERRORS, (job_id,))]

    def dead_letters(
        self, limit: int, offset: int, before: tuple[int, str] | None = None
    ) -> list[DeadLetter]:
        page = check_page(limit, offset)
        cursor = check_job_cursor(before)
        sql, params = (
            (q.SELECT_DEAD_LETTERS, page)
            if cursor is None
            else (q.SELECT_DEAD_LETTERS_BEFORE, (*cursor, *page))
        )
        with self._conns.read() as conn:
            return [q.row_to_dead_letter(row) for row in conn.execute(sql, params)]

    def dead_letter(self, dead_id: str) -> DeadLetter | None:
        with self._conns.read() as conn:
            row = conn.execute(q.SELECT_DEAD_LETTER, (check_text("dead_id", dead_id),)).fetchone()
        return None if row is None else q.row_to_dead_letter(row)

    def retry_dead(
        self,
        dead_id: str,
        new_job_id: str,
        now: int,
        payload: bytes | None = None,
        *,
        automatic: bool = False,
    ) -> JobRecord | None:
        payload = check_optional_bytes("payload", payload)
        with self._conns.write(notify=False, durable=self._durable) as conn:
            row = conn.execute(q.SELECT_DEAD_LETTER, (dead_id,)).fetchone()
            if row is None:
                return None
            letter = q.row_to_dead_letter(row)
            job = q.new_job_from_dead_letter(letter, new_job_id, now)
            if payload is not None:
                job.payload = payload
            conn.execute(*q.insert_job(job))
            count = letter.dlq_retry_count + (1 if automatic else 0)
            if count:
                conn.execute(q.SET_DLQ_RETRY_COUNT, (count, new_job_id))
            conn.execute(q.DELETE_DEAD_LETTER, (dead_id,))
        self._notify()
        return JobRecord.from_new(job)

    def purge_dead(self, before: int) -> int:
        with self._conns.write(notify=False) as conn:
            return conn.execute(q.PURGE_DEAD, (before,)).rowcount

    # --- task metrics -------------------------------------------------------------------

    def task_metrics(self, task_name: str | None, since: int) -> list[TaskMetric]:
        task, start = validation.metric_query(task_name, since)
        sql, params = (
            (q.SELECT_METRICS, (start,)) if task is None else (q.SELECT_TASK_METRICS, (start, task))
        )
        with self._conns.read() as conn:
            return [q.row_to_metric(row) for row in conn.execute(sql, params)]

    def purge_metrics(self, before: int, limit: int) -> int:
        params = validation.metric_purge(before, limit)
        with self._conns.write(notify=False) as conn:
            return conn.execute(q.PURGE_METRICS, params).rowcount

    # --- workers ------------------------------------------------------------------------

    def register_worker(self, worker: WorkerInfo) -> None:
        if not isinstance(worker, WorkerInfo):
            raise TypeError(f"expected a WorkerInfo, got {type(worker).__name__}")
        with self._conns.write(notify=False) as conn:
            conn.execute(q.UPSERT_WORKER, q.worker_params(worker))

    def heartbeat(
        self,
        worker_id: str,
        status: str,
        now: int,
        resource_health: Mapping[str, str] | None = None,
    ) -> None:
        health = encode_health(resource_health)
        with self._conns.write(notify=False) as conn:
            conn.execute(q.HEARTBEAT, (now, status, health, worker_id))

    def unregister_worker(self, worker_id: str) -> None:
        with self._conns.write(notify=False) as conn:
            conn.execute(q.DELETE_WORKER, (worker_id,))

    def list_workers(self) -> list[WorkerInfo]:
        with self._conns.read() as conn:
            return [q.row_to_worker(row) for row in conn.execute(q.SELECT_WORKERS)]

    def reap_workers(self, stale_before: int) -> list[str]:
        with self._conns.write(notify=False) as conn:
            return [row[0] for row in conn.execute(q.REAP_WORKERS, (stale_before,)).fetchall()]

    # --- change notification ------------------------------------------------------------

    def wait_for_change(self, timeout_s: float) -> bool:
        """See ``Storage.wait_for_change``. Writes through this object wake waiters at once;
        commits by other connections (threads, processes) are seen by polling
        ``PRAGMA data_version`` every 1-2 ms. A change made since this thread's previous call
        counts, so a caller that checks, then waits, misses nothing in between."""
        return self._conns.wait_for_change(validation.wait_step(timeout_s))
