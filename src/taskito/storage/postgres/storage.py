"""The PostgreSQL storage backend: many machines share one database and one schema.

``PostgresStorage`` is the ``Storage`` half, ``PostgresControl`` (``control``) the flow-control
half; the parts they call are listed in the package docstring (``postgres/__init__.py``).
psycopg is imported by the connection and listener modules only (the others touch it inside
functions or for type checking), so without the driver this module still imports and the
constructor names the extra to install (docs/architecture.md, invariant 9).

Clocks: every ``now`` a caller passes is stored as given (``scheduled_at``, ``started_at``,
``completed_at``, expiry, heartbeats), except for leases. Leases live on the server's clock so
that hosts whose clocks disagree still agree on when a lease expires: each storage object
measures how far the server's clock (``clock_timestamp()``) is ahead of its own, adds that to
``now`` whenever it writes or compares a lease (``claim``, ``extend_leases``,
``requeue_expired``), and subtracts it from ``lease_expires_at`` in the records it returns.
Locks, rate slots and breakers compare only times that callers passed, so they use ``now`` as
given.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from taskito._checks import check_count, check_optional_bytes, check_positive
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
from taskito.storage.postgres import claim as postgres_claim
from taskito.storage.postgres import control_queries as cq
from taskito.storage.postgres import enqueue, metrics, reads, transitions, workers
from taskito.storage.postgres import queries as q
from taskito.storage.postgres import records as convert
from taskito.storage.postgres.control import PostgresControl
from taskito.storage.postgres.operations import PostgresOperations
from taskito.storage.postgres.schema import validate_schema_name
from taskito.storage.postgres.workflows import PostgresWorkflows
from taskito.storage.validation import claim_queue_names
from taskito.storage.workflow_contract import WorkflowStorage

INSTALL_HINT = 'the postgres backend needs psycopg 3: pip install "pytaskito[postgres]"'
_DRIVER_PACKAGES = frozenset({"psycopg", "psycopg_pool", "psycopg_binary", "psycopg_c"})

_driver_missing: ImportError | None = None
try:
    from taskito.storage.postgres.connections import PgConnections, channel_name, conninfo_params
    from taskito.storage.postgres.notify import Announcer, ChangeFeed
except ImportError as exc:  # the postgres extra is not installed
    if (exc.name or "").partition(".")[0] not in _DRIVER_PACKAGES:
        raise
    _driver_missing = exc

if TYPE_CHECKING:
    from taskito.storage.postgres.connections import Cursor

DEFAULT_POOL_SIZE = 10


class PostgresStorage(
    PostgresControl, PostgresOperations, PostgresWorkflows, Storage, WorkflowStorage
):
    """``Storage`` on a PostgreSQL schema, shared by any number of processes and hosts. The
    workflow half (``WorkflowStorage``) comes from ``PostgresWorkflows``."""

    def __init__(
        self,
        db_url: str,
        *,
        schema: str = "taskito",
        pool_size: int | None = None,
        connect_timeout_s: float = 5.0,
    ) -> None:
        if _driver_missing is not None:
            raise ImportError(INSTALL_HINT) from _driver_missing
        self.schema = validate_schema_name(schema)
        size = DEFAULT_POOL_SIZE if pool_size is None else pool_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"pool_size must be a positive integer, got {pool_size!r}")
        if (
            isinstance(connect_timeout_s, bool)
            or not isinstance(connect_timeout_s, int | float)
            or not math.isfinite(connect_timeout_s)
            or connect_timeout_s <= 0
        ):
            raise ValueError(
                f"connect_timeout_s must be a positive number, got {connect_timeout_s!r}"
            )
        params = conninfo_params(db_url)
        self._conns = PgConnections(params, schema, size, float(connect_timeout_s))
        self.target = self._conns.target
        self._channel = channel_name(schema)
        self._token = uuid.uuid4().hex
        self._stmts = q.Statements(schema, self._channel, self._token)
        self._control = cq.ControlStatements(schema, self._channel, self._token)
        self._feed = ChangeFeed(self._conns.connect, self._channel, self._token, self.target)
        self._announcer = Announcer(self._send_notify)
        self._closed = False

    def __repr__(self) -> str:
        return f"<PostgresStorage {self.target} schema={self.schema!r}>"

    def describe(self) -> str:
        return f"postgres {self._conns.described} schema {self.schema}"

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._announcer.close()
        self._feed.close()
        self._conns.close()

    # --- jobs: cancel and purge ---------------------------------------------------------

    def cancel_pending(self, job_id: str, now: int) -> bool:
        cancelled = self._conns.transact(
            lambda cursor: transitions.cancel_pending(cursor, self._stmts, job_id, now)
        )
        if cancelled:
            self._feed.notify()
        return cancelled

    def request_cancel(self, job_id: str, force: bool = False) -> bool:
        requested = self._conns.run(
            lambda cursor: transitions.request_cancel(cursor, self._stmts, job_id, force),
            idempotent=True,
        )
        if requested:
            self._feed.notify()
        return requested

    def cancel(self, job_id: str, force: bool, now: int) -> CancelResult:
        job_id, force, now = validation.cancel_arguments(job_id, force, now)
        result = self._conns.transact(
            lambda cursor: transitions.cancel(cursor, self._stmts, job_id, force, now)
        )
        if result in (CancelResult.CANCELLED, CancelResult.REQUESTED):
            self._feed.notify()
        return result

    def purge_queue(self, queue: str, now: int) -> int:
        return self._bulk_cancel(self._stmts.purge_queue, queue, now)

    def revoke_task(self, task_name: str, now: int) -> int:
        return self._bulk_cancel(self._stmts.revoke_task, task_name, now)

    def _bulk_cancel(self, query: str, key: str, now: int) -> int:
        count = self._scalar(query, (now, key))
        if count:
            self._feed.notify()
        return count

    def _scalar(self, query: str, params: tuple[Any, ...]) -> int:
        def fetch(cursor: Cursor) -> int:
            row = cursor.execute(query, params).fetchone()
            return 0 if row is None else int(row[0])

        return self._conns.run(fetch)

    def purge_completed(self, before: int) -> int:
        return self._scalar(self._stmts.purge_completed, (before,))

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
        """See ``Storage.claim`` and ``claim.claim_jobs``: one statement, ``FOR UPDATE SKIP
        LOCKED``; leases on the server's clock, reported on this host's."""
        queue_names = claim_queue_names(queues, limit, lease_ms)
        if limit == 0 or queue_names == []:
            return []
        return postgres_claim.claim_jobs(
            self._conns,
            self._stmts,
            self._feed,
            worker_id,
            queue_names,
            namespace,
            limit,
            now,
            lease_ms,
        )

    def extend_leases(
        self, worker_id: str, job_ids: Collection[str], now: int, lease_ms: int
    ) -> set[str]:
        """See ``Storage.extend_leases``; the new lease is ``now + lease_ms`` on this host's
        clock, stored on the server's (see ``claim``)."""
        check_positive("lease_ms", lease_ms, type_error=ValueError)
        ids = list(job_ids)
        if not ids:
            return set()
        until = now + self._conns.lease_offset_ms() + lease_ms
        rows = self._conns.run(
            lambda cursor: cursor.execute(
                self._stmts.extend_leases, (until, ids, worker_id)
            ).fetchall(),
            idempotent=True,
        )
        return {row[0] for row in rows}

    def finish_many(self, finishes: Sequence[Finish], now: int) -> list[bool]:
        """See ``Storage.finish_many``: one statement applies the batch. Dead and cancelled
        outcomes add their dependent cascade, and a job named twice a second statement, in
        the same transaction."""
        batch = list(finishes)
        validation.validate_finishes(batch)
        if not batch:
            return []
        single_round = len({finish.job_id for finish in batch}) == len(batch)
        if not single_round or any(finish.status in transitions.CASCADING for finish in batch):

            def apply_and_cascade(cursor: Cursor) -> list[bool]:
                applied, roots = transitions.finish(cursor, self._stmts, batch, now, quiet=True)
                transitions.cascade_cancel(cursor, self._stmts, roots, now)
                return applied

            applied = self._conns.transact(apply_and_cascade)
        else:
            applied, _ = self._conns.run(
                lambda cursor: transitions.finish(cursor, self._stmts, batch, now, quiet=True)
            )
        if any(applied):
            self._notify_after_commit()
        return applied

    def _notify_after_commit(self) -> None:
        """Wake this object's waiters at once, and other processes' through the server from
        the announcer's thread (``queries.NOTIFY_CHANGE``: why not inside the write)."""
        self._feed.notify()
        self._announcer.announce()

    def _send_notify(self) -> None:
        self._conns.run(lambda cursor: cursor.execute(self._stmts.notify_change), idempotent=True)

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
        """See ``Storage.finish_and_claim``: one statement (``claim.finish_and_claim_jobs``)
        for completions and retries of distinct jobs, the common batch; a batch with a dead
        or cancelled outcome (its cascade) or a job named twice is two calls."""
        batch = list(finishes)
        validation.validate_finishes(batch)
        queue_names = claim_queue_names(queues, limit, lease_ms)
        claiming = limit > 0 and queue_names != []
        simple = len({finish.job_id for finish in batch}) == len(batch) and not any(
            finish.status in transitions.CASCADING for finish in batch
        )
        if not (batch and claiming and simple):
            return super().finish_and_claim(
                batch, worker_id, queues, namespace, limit, now, lease_ms
            )
        args = (worker_id, queue_names, namespace, limit, now, lease_ms)
        applied, jobs = postgres_claim.finish_and_claim_jobs(
            self._conns, self._stmts, self._feed, batch, args
        )
        if any(applied):
            self._notify_after_commit()
        return applied, jobs

    def requeue_expired(self, now: int, max_rescues: int = DEFAULT_MAX_RESCUES) -> list[JobRecord]:
        """See ``Storage.requeue_expired``: leases that expired before ``now`` (this host's
        clock, compared on the server's; see ``claim``). ``now`` becomes the new
        ``scheduled_at`` and the error rows' ``failed_at``."""
        check_count("max_rescues", max_rescues, type_error=ValueError)
        offset_ms = self._conns.lease_offset_ms()
        expired = self._conns.transact(
            lambda cursor: transitions.requeue_expired(
                cursor, self._stmts, now, now + offset_ms, offset_ms, max_rescues
            )
        )
        if expired:
            self._feed.notify()
        return expired

    def release_jobs(
        self, worker_id: str, keep: Collection[str], now: int, max_rescues: int, reason: str
    ) -> list[JobRecord]:
        args = validation.release_arguments(worker_id, keep, max_rescues, reason)
        offset_ms = self._conns.lease_offset_ms()
        released = self._conns.transact(
            lambda cursor: transitions.release_jobs(cursor, self._stmts, offset_ms, args, now)
        )
        if released:
            self._feed.notify()
        return released

    # --- progress, logs, errors, dead letters -------------------------------------------

    def update_progress(self, job_id: str, progress: int) -> bool:
        if isinstance(progress, bool) or not isinstance(progress, int) or not 0 <= progress <= 100:
            raise ValueError(f"progress must be an integer from 0 to 100, got {progress!r}")
        return self._conns.run(
            lambda cursor: (
                cursor.execute(self._stmts.update_progress, (progress, job_id)).rowcount == 1
            ),
            idempotent=True,
        )

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
        wakes = level == "result"
        query = self._stmts.insert_result_log if wakes else self._stmts.insert_log
        params = (job_id, task_name, level, message, extra, now)
        self._conns.run(lambda cursor: cursor.execute(query, params))
        if wakes:
            self._feed.notify()

    def retry_dead(
        self,
        dead_id: str,
        new_job_id: str,
        now: int,
        payload: bytes | None = None,
        *,
        automatic: bool = False,
    ) -> JobRecord | None:
        params = {
            "dead_id": dead_id,
            "job_id": new_job_id,
            "now": now,
            "payload": check_optional_bytes("payload", payload),
            "bump": 1 if automatic else 0,
        }
        row = self._conns.run(
            lambda cursor: cursor.execute(self._stmts.retry_dead, params).fetchone()
        )
        if row is None:
            return None
        self._feed.notify()
        return convert.row_to_job(row[:-1], self._conns.clock.offset_ms)

    def purge_dead(self, before: int) -> int:
        return self._conns.run(
            lambda cursor: cursor.execute(self._stmts.purge_dead, (before,)).rowcount
        )

    def purge_metrics(self, before: int, limit: int) -> int:
        return metrics.purge_metrics(self._conns, self._stmts.schema, before, limit)

    # --- enqueue (enqueue.py) and reads (reads.py) ------------------------------------

    def enqueue(self, job: NewJob) -> JobRecord:
        return enqueue.enqueue(self._conns, self._stmts, self._feed, job)

    def enqueue_many(self, jobs: Sequence[NewJob]) -> list[JobRecord]:
        return enqueue.enqueue_many(self._conns, self._stmts, self._feed, jobs)

    def enqueue_coalescing(
        self, jobs: Sequence[NewJob], max_pending: int | None = None
    ) -> list[tuple[JobRecord, bool]]:
        return enqueue.enqueue_coalescing(self._conns, self._stmts, self._feed, jobs, max_pending)

    def enqueue_capped(
        self, jobs: Sequence[NewJob], max_pending: int, *, batch: bool
    ) -> list[JobRecord]:
        return enqueue.enqueue_capped(
            self._conns, self._stmts, self._feed, (jobs, max_pending, batch)
        )

    def enqueue_batch(self, batch: JobBatch) -> None:
        enqueue.enqueue_batch(self._conns, self._stmts, self._feed, batch)

    def get_job(self, job_id: str) -> JobRecord | None:
        return reads.get_job(self._conns, self._stmts, job_id)

    def list_jobs(self, filter: JobFilter, limit: int, offset: int) -> list[JobRecord]:
        return reads.list_jobs(self._conns, self._stmts, filter, limit, offset)

    def count_jobs(self, queue: str | None = None) -> dict[JobStatus, int]:
        return reads.count_jobs(self._conns, self._stmts, queue)

    def count_jobs_by_queue(self, include_complete: bool = True) -> dict[str, dict[JobStatus, int]]:
        return reads.count_jobs_by_queue(self._conns, self._stmts, include_complete)

    def dependencies(self, job_id: str) -> list[str]:
        return reads.dependencies(self._conns, self._stmts, job_id)

    def dependents(self, job_id: str) -> list[str]:
        return reads.dependents(self._conns, self._stmts, job_id)

    def cancel_requests(self, job_ids: Collection[str]) -> dict[str, bool]:
        return reads.cancel_requests(self._conns, self._stmts, job_ids)

    def task_logs(self, job_id: str) -> list[LogEntry]:
        return reads.task_logs(self._conns, self._stmts, job_id)

    def query_logs(
        self, task_name: str | None, level: str | None, since: int, limit: int
    ) -> list[LogEntry]:
        return reads.query_logs(self._conns, self._stmts, task_name, level, since, limit)

    def job_errors(self, job_id: str) -> list[JobError]:
        return reads.job_errors(self._conns, self._stmts, job_id)

    def task_metrics(self, task_name: str | None, since: int) -> list[TaskMetric]:
        return metrics.task_metrics(self._conns, self._stmts.schema, task_name, since)

    def dead_letters(
        self, limit: int, offset: int, before: tuple[int, str] | None = None
    ) -> list[DeadLetter]:
        return reads.dead_letters(self._conns, self._stmts, limit, offset, before)

    def dead_letter(self, dead_id: str) -> DeadLetter | None:
        return reads.dead_letter(self._conns, self._stmts, dead_id)

    # --- workers (workers.py) -----------------------------------------------------------

    def register_worker(self, worker: WorkerInfo) -> None:
        workers.register(self._conns, self._stmts, worker)

    def heartbeat(
        self,
        worker_id: str,
        status: str,
        now: int,
        resource_health: Mapping[str, str] | None = None,
    ) -> None:
        workers.heartbeat(self._conns, self._stmts, worker_id, status, now, resource_health)

    def unregister_worker(self, worker_id: str) -> None:
        workers.unregister(self._conns, self._stmts, worker_id)

    def reap_workers(self, stale_before: int) -> list[str]:
        return workers.reap(self._conns, self._stmts, stale_before)

    def list_workers(self) -> list[WorkerInfo]:
        return workers.list_all(self._conns, self._stmts)

    # --- change notification ------------------------------------------------------------

    def wait_for_change(self, timeout_s: float) -> bool:
        """See ``Storage.wait_for_change``. Writes through this object wake waiters at once;
        writes by other objects and processes arrive by LISTEN/NOTIFY on a connection that
        the first wait opens. A change made since this thread's previous call counts, so a
        caller that checks, then waits, misses nothing in between. While the LISTEN
        connection is down, waits simply time out (callers poll anyway)."""
        step = validation.wait_step(timeout_s)
        return False if self._closed else self._feed.wait(step)
