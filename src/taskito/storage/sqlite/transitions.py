"""Multi-statement job transitions of the SQLite backend: dependency checks, fenced finish (and
its metric rows), dead-lettering, lease expiry, purge and the transitive dependent cascade. Each
runs inside the caller's write transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterable, Sequence

from taskito.exceptions import DependencyError
from taskito.ids import new_job_id
from taskito.job import JobRecord, JobStatus, NewJob
from taskito.storage import rules
from taskito.storage import workflow_rules as wf_rules
from taskito.storage.base import CancelResult, Finish, poison_pill_error
from taskito.storage.sqlite import queries as q
from taskito.storage.workflow_contract import result_digest

_FINISH_COMPLETE = (
    "UPDATE jobs SET status = 2, result = ?, completed_at = ?, worker_id = NULL,"
    " lease_expires_at = NULL WHERE id = ? AND status = 1 AND attempt = ? AND worker_id = ?"
)
_FINISH_TERMINAL = (
    "UPDATE jobs SET status = ?, error = ?, completed_at = ?, worker_id = NULL,"
    " lease_expires_at = NULL WHERE id = ? AND status = 1 AND attempt = ? AND worker_id = ?"
    " RETURNING retry_count"
)
_FINISH_RETRY = (
    "UPDATE jobs SET status = 0, retry_count = retry_count + 1, scheduled_at = ?,"
    " started_at = NULL, completed_at = NULL, error = NULL, cancel_requested = 0,"
    " worker_id = NULL, lease_expires_at = NULL"
    " WHERE id = ? AND status = 1 AND attempt = ? AND worker_id = ? RETURNING retry_count"
)
# A rescue keeps a pending cancel request (the next attempt honours it at once) and the
# retry count: the attempt did not fail, its worker went away.
_RESCUE = (
    "UPDATE jobs SET status = 0, rescue_count = rescue_count + 1, scheduled_at = ?,"
    " started_at = NULL, completed_at = NULL, error = NULL,"
    " worker_id = NULL, lease_expires_at = NULL"
    " WHERE id = ? AND status = 1 AND attempt = ? AND worker_id = ?"
)
_SELECT_DEPENDENCY_STATUSES = (
    "SELECT id, status FROM jobs WHERE id IN (SELECT value FROM json_each(?))"
)
_BLOCKING_DEPENDENCY_STATUSES = frozenset({JobStatus.DEAD.code, JobStatus.CANCELLED.code})

# Settlement: whether any node with a job is open at all (one probe of the partial index
# idx_workflow_nodes_open_job, whose WHERE these queries repeat: the whole cost of a batch while
# no workflow job is in flight), which finished jobs have one, then the compare-and-set of
# those nodes and the due mark of their runs.
_OPEN_NODE = " job_id IS NOT NULL AND status IN " + wf_rules.NODE_OPEN_SQL
_ANY_OPEN_NODE_JOB = "SELECT 1 FROM workflow_nodes WHERE" + _OPEN_NODE + " LIMIT 1"
_OPEN_NODE_JOBS = (
    "SELECT job_id FROM workflow_nodes WHERE job_id IN (SELECT value FROM json_each(?))"
    " AND" + _OPEN_NODE
)
_SETTLE_NODE = (
    "UPDATE workflow_nodes SET status = ?, error = ?, result_hash = ?, completed_at = ?"
    " WHERE job_id = ? AND status NOT IN " + wf_rules.NODE_TERMINAL_SQL
)
_MARK_JOB_RUN_DUE = (
    "UPDATE workflow_runs SET advance_due_at = " + wf_rules.due_now_sql("?1") + " WHERE id IN"
    " (SELECT run_id FROM workflow_nodes WHERE job_id = ?2) AND state NOT IN "
    + wf_rules.RUN_TERMINAL_SQL
)


def check_dependencies(conn: sqlite3.Connection, job_ids: Iterable[str]) -> None:
    """Every id must name a job that is neither dead nor cancelled."""
    wanted = list(dict.fromkeys(job_ids))
    if not wanted:
        return
    found = dict(conn.execute(_SELECT_DEPENDENCY_STATUSES, (q.json_list(wanted),)).fetchall())
    for job_id in wanted:
        status = found.get(job_id)
        if status is None or status in _BLOCKING_DEPENDENCY_STATUSES:
            raise DependencyError(f"dependency not found or already dead/cancelled: {job_id}")


def insert_dependencies(conn: sqlite3.Connection, jobs: Iterable[NewJob]) -> None:
    edges = [(job.id, parent) for job in jobs for parent in dict.fromkeys(job.depends_on)]
    if edges:
        conn.executemany(q.INSERT_DEPENDENCY, edges)


def enqueue_one(conn: sqlite3.Connection, job: NewJob) -> tuple[JobRecord, bool]:
    """``Storage.enqueue`` inside the caller's transaction: the stored record and True, or
    the active job that already holds ``job.unique_key`` and False."""
    if job.unique_key is not None:
        row = conn.execute(q.SELECT_ACTIVE_BY_UNIQUE_KEY, (job.unique_key,)).fetchone()
        if row is not None:
            return q.row_to_job(row), False
    if job.depends_on:
        check_dependencies(conn, job.depends_on)
    conn.execute(*q.insert_job(job))
    if job.depends_on:
        insert_dependencies(conn, (job,))
    return JobRecord.from_new(job), True


def cascade_cancel(conn: sqlite3.Connection, root_id: str, error: str, now: int) -> list[str]:
    """Cancel the pending dependents of ``root_id`` with ``error``, and theirs in turn with
    ``"dependency cancelled: <their cancelled dependency>"``; return every id cancelled."""
    cancelled: list[str] = []
    frontier = [(root_id, error)]
    while frontier:
        parent_id, reason = frontier.pop()
        for (child_id,) in conn.execute(q.CANCEL_DEPENDENTS, (now, reason, parent_id)).fetchall():
            cancelled.append(child_id)
            frontier.append((child_id, rules.dependency_cancelled(child_id)))
    return cancelled


def cancel_pending(conn: sqlite3.Connection, job_id: str, now: int) -> bool:
    """``Storage.cancel_pending`` inside the caller's transaction."""
    if conn.execute(q.CANCEL_PENDING, (now, job_id)).rowcount != 1:
        return False
    cascade_cancel(conn, job_id, rules.dependency_cancelled(job_id), now)
    return True


def request_cancel(conn: sqlite3.Connection, job_id: str, force: bool) -> bool:
    """``Storage.request_cancel`` inside the caller's transaction."""
    level = 2 if force else 1
    return conn.execute(q.REQUEST_CANCEL, (level, job_id)).rowcount == 1


def cancel(conn: sqlite3.Connection, job_id: str, force: bool, now: int) -> CancelResult:
    """``Storage.cancel`` inside the caller's write transaction (``BEGIN IMMEDIATE``: no other
    writer moves the job between these statements). The common cases first: one statement
    for a pending job (plus its cascade), two for a running one."""
    if cancel_pending(conn, job_id, now):
        return CancelResult.CANCELLED
    if request_cancel(conn, job_id, force):
        return CancelResult.REQUESTED
    found = conn.execute(q.SELECT_STATUS, (job_id,)).fetchone() is not None
    return CancelResult.FINISHED if found else CancelResult.NOT_FOUND


def _dead_letter(conn: sqlite3.Connection, job_id: str, now: int) -> None:
    conn.execute(q.INSERT_DEAD_LETTER_FROM_JOB, (new_job_id(), now, job_id))


def finish_one(conn: sqlite3.Connection, finish: Finish, now: int) -> bool:
    """Apply one fenced outcome; False when the attempt no longer holds the job."""
    job_id, attempt, status = finish.job_id, finish.attempt, finish.status
    worker_id = finish.worker_id
    if status is JobStatus.COMPLETE:
        result = None if finish.result is None else bytearray(finish.result)
        cursor = conn.execute(_FINISH_COMPLETE, (result, now, job_id, attempt, worker_id))
        return cursor.rowcount == 1
    if status is JobStatus.PENDING:
        retry_at = now if finish.retry_at is None else finish.retry_at
        row = conn.execute(_FINISH_RETRY, (retry_at, job_id, attempt, worker_id)).fetchone()
        if row is None:
            return False
        conn.execute(q.INSERT_JOB_ERROR, (job_id, row[0] - 1, finish.error or "", now))
        return True
    error = finish.error
    if status is JobStatus.CANCELLED and error is None:
        error = "cancelled by request"
    params = (status.code, error, now, job_id, attempt, worker_id)
    row = conn.execute(_FINISH_TERMINAL, params).fetchone()
    if row is None:
        return False
    if status is JobStatus.DEAD:
        conn.execute(q.INSERT_JOB_ERROR, (job_id, row[0], error or "", now))
        _dead_letter(conn, job_id, now)
    reason = rules.cascade_reason(status, job_id)
    if reason is not None:
        cascade_cancel(conn, job_id, reason, now)
    return True


def insert_metrics(
    conn: sqlite3.Connection, finishes: Sequence[Finish], applied: Sequence[bool], now: int
) -> None:
    """The metric rows of the outcomes that applied (``Finish.metric``), in one statement."""
    rows = [
        (
            metric.task_name,
            metric.queue,
            finish.job_id,
            finish.attempt,
            metric.outcome.value,
            metric.started_at,
            now,
            metric.wall_ns,
        )
        for finish, ok in zip(finishes, applied, strict=True)
        if ok and (metric := finish.metric) is not None
    ]
    if rows:
        conn.executemany(q.INSERT_METRIC, rows)


def settle_workflow_nodes(
    conn: sqlite3.Connection, finishes: Sequence[Finish], applied: Sequence[bool], now: int
) -> None:
    """Settle the open workflow nodes of the terminal outcomes that applied, and mark their
    runs due (``workflow_contract``: settlement rides on the outcome write)."""
    if conn.execute(_ANY_OPEN_NODE_JOB).fetchone() is None:
        return
    terminal = {
        finish.job_id: finish
        for finish, ok in zip(finishes, applied, strict=True)
        if ok and finish.status.code in wf_rules.SETTLED_NODE_STATUS
    }
    if not terminal:
        return
    linked = [row[0] for row in conn.execute(_OPEN_NODE_JOBS, (q.json_list(terminal),))]
    if not linked:
        return
    rows: list[tuple[str, str | None, str | None, int, str]] = []
    for job_id in linked:
        finish = terminal[job_id]
        status = wf_rules.SETTLED_NODE_STATUS[finish.status.code]
        if finish.status is JobStatus.COMPLETE:
            rows.append((status, None, result_digest(finish.result), now, job_id))
        elif finish.status is JobStatus.CANCELLED:
            rows.append((status, wf_rules.CANCELLED_NODE_ERROR, None, now, job_id))
        else:
            rows.append((status, finish.error, None, now, job_id))
    conn.executemany(_SETTLE_NODE, rows)
    conn.executemany(_MARK_JOB_RUN_DUE, [(now, job_id) for job_id in linked])


def rescue(
    conn: sqlite3.Connection, job: JobRecord, now: int, max_rescues: int, reason: str
) -> None:
    """Send running ``job`` back to pending as a rescue (``rescue_count += 1``, retries kept,
    an error row with ``reason``), or, once rescued ``max_rescues`` times, to dead as a
    poison pill (``Storage.release_jobs``)."""
    worker_id = job.worker_id or ""
    if job.rescue_count >= max_rescues:
        error = poison_pill_error(job.rescue_count)
        dead = Finish(job.id, job.attempt, JobStatus.DEAD, error=error, worker_id=worker_id)
        settle_workflow_nodes(conn, [dead], [finish_one(conn, dead, now)], now)
        return
    if conn.execute(_RESCUE, (now, job.id, job.attempt, worker_id)).rowcount == 1:
        conn.execute(q.INSERT_JOB_ERROR, (job.id, job.retry_count, reason, now))


def requeue_expired(conn: sqlite3.Connection, now: int, max_rescues: int) -> list[JobRecord]:
    """Rescue running jobs whose lease expired; return them as they were."""
    expired = [q.row_to_job(row) for row in conn.execute(q.SELECT_EXPIRED_LEASES, (now,))]
    for job in expired:
        reason = rules.lease_expired(job.worker_id)
        rescue(conn, job, now, max_rescues, reason)
    return expired


def release_jobs(
    conn: sqlite3.Connection,
    worker_id: str,
    keep: Collection[str],
    now: int,
    max_rescues: int,
    reason: str,
) -> list[JobRecord]:
    """Rescue the running jobs of ``worker_id`` not in ``keep``; return them as they were."""
    kept = set(keep)
    rows = conn.execute(q.SELECT_WORKER_RUNNING, (worker_id,)).fetchall()
    released = [job for job in map(q.row_to_job, rows) if job.id not in kept]
    for job in released:
        rescue(conn, job, now, max_rescues, reason)
    return released


def purge_completed(conn: sqlite3.Connection, before: int) -> int:
    """Delete complete jobs finished before ``before`` with their errors, logs and edges."""
    job_ids = [row[0] for row in conn.execute(q.SELECT_PURGEABLE, (before,))]
    delete_jobs(conn, job_ids)
    return len(job_ids)


def delete_jobs(conn: sqlite3.Connection, job_ids: Sequence[str]) -> None:
    """Delete jobs with their errors, logs and dependency edges in both directions (a pending
    dependent of a deleted job no longer waits for it)."""
    keys = [(job_id,) for job_id in job_ids]
    conn.executemany(q.DELETE_JOB_ERRORS, keys)
    conn.executemany(q.DELETE_JOB_LOGS, keys)
    conn.executemany(q.DELETE_JOB_EDGES, [(job_id, job_id) for job_id in job_ids])
    conn.executemany(q.DELETE_JOB, keys)
