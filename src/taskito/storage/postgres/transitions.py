"""Multi-step job transitions of the PostgreSQL backend: fenced finish (with error, dead-letter
and metric rows), the transitive dependent cascade, lease requeue, and dependency checks.

Each function runs on the cursor it is given: in the caller's transaction when there is
one, else as one autocommit statement. SQL shapes that vary per call are built and cached
here; fixed ones live in ``queries``. Like that module, this one imports no driver
module at import time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from taskito.exceptions import DependencyError
from taskito.ids import new_job_id
from taskito.job import JobRecord, JobStatus, NewJob
from taskito.storage import rules
from taskito.storage.base import CancelResult, Finish, poison_pill_error
from taskito.storage.postgres import queries as q
from taskito.storage.postgres import records as convert

if TYPE_CHECKING:
    from taskito.storage.postgres.connections import Cursor

_BLOCKING_DEPENDENCY_STATUSES = frozenset({JobStatus.DEAD.code, JobStatus.CANCELLED.code})

# --- finish ----------------------------------------------------------------------------------

CASCADING = frozenset({JobStatus.DEAD, JobStatus.CANCELLED})


def finish_params(
    finishes: Sequence[Finish], now: int, keep_cancel: bool, rescue: bool = False
) -> dict[str, Any]:
    """Column arrays for ``FINISH_MANY``: one element per outcome, in batch order."""
    ids, attempts, statuses, results, errors, retry_ats, dead_ids = [], [], [], [], [], [], []
    workers: list[str] = []
    for finish in finishes:
        status = finish.status
        error = finish.error
        if status is JobStatus.CANCELLED and error is None:
            error = "cancelled by request"
        retry_at = None
        if status is JobStatus.PENDING:
            retry_at = now if finish.retry_at is None else finish.retry_at
        result = finish.result if status is JobStatus.COMPLETE else None
        ids.append(finish.job_id)
        attempts.append(finish.attempt)
        statuses.append(status.code)
        results.append(None if result is None else bytes(result))
        errors.append(error)
        retry_ats.append(retry_at)
        dead_ids.append(new_job_id() if status is JobStatus.DEAD else None)
        workers.append(finish.worker_id)
    return {
        "ids": ids,
        "attempts": attempts,
        "statuses": statuses,
        "results": results,
        "errors": errors,
        "retry_ats": retry_ats,
        "keep_cancel": [keep_cancel] * len(ids),
        "dead_ids": dead_ids,
        "workers": workers,
        "rescues": [rescue] * len(ids),
        "now": now,
        **_metric_params(finishes),
    }


_NO_METRIC = (None, None, None, None, None)


def _metric_params(finishes: Sequence[Finish]) -> dict[str, list[Any]]:
    """The ``m_*`` arrays of ``FINISH_MANY``: each outcome's metric, or NULLs when it has none."""
    rows = [
        _NO_METRIC
        if (metric := finish.metric) is None
        else (
            metric.task_name,
            metric.queue,
            metric.outcome.value,
            metric.started_at,
            metric.wall_ns,
        )
        for finish in finishes
    ]
    columns = list(zip(*rows, strict=True)) or [()] * len(_NO_METRIC)
    tasks, queues, outcomes, starts, walls = (list(column) for column in columns)
    return {
        "m_tasks": tasks,
        "m_queues": queues,
        "m_outcomes": outcomes,
        "m_starts": starts,
        "m_walls": walls,
    }


def finish_rounds(finishes: Sequence[Finish]) -> list[list[int]]:
    """Positions of ``finishes`` split into rounds in which each job appears once, in batch
    order: a later outcome for the same job applies only if the earlier ones did not (it
    then finds the job no longer running under that attempt, unless it was stale)."""
    rounds: list[list[int]] = []
    seen: dict[str, int] = {}
    for position, outcome in enumerate(finishes):
        round_number = seen.get(outcome.job_id, 0)
        seen[outcome.job_id] = round_number + 1
        if round_number == len(rounds):
            rounds.append([])
        rounds[round_number].append(position)
    return rounds


def finish(
    cursor: Cursor,
    stmts: q.Statements,
    finishes: Sequence[Finish],
    now: int,
    *,
    keep_cancel: bool = False,
    rescue: bool = False,
    quiet: bool = False,
) -> tuple[list[bool], list[tuple[str, str]]]:
    """Apply fenced outcomes, one statement per round (one round unless a job repeats, which
    then needs the caller's transaction); return which applied, and the cascade roots (job
    id, reason for its pending dependents) of applied dead and cancelled outcomes.

    ``keep_cancel`` keeps a pending cancel request on jobs sent back to pending (lease expiry:
    the next attempt honours it at once); ``rescue`` counts jobs sent back to pending as
    rescues, not retries; ``quiet`` leaves the notification to the caller, after the commit
    (``queries.NOTIFY_CHANGE``)."""
    statement = stmts.finish_many_quiet if quiet else stmts.finish_many
    applied = [False] * len(finishes)
    roots: list[tuple[str, str]] = []
    for positions in finish_rounds(finishes):
        batch = [finishes[position] for position in positions]
        params = finish_params(batch, now, keep_cancel, rescue)
        for ordinal, job_id, status_code, _ in cursor.execute(statement, params):
            applied[positions[ordinal - 1]] = True
            reason = rules.cascade_reason(JobStatus.from_code(status_code), job_id)
            if reason is not None:
                roots.append((job_id, reason))
    return applied, roots


def cascade_cancel(
    cursor: Cursor, stmts: q.Statements, roots: list[tuple[str, str]], now: int
) -> list[str]:
    """Cancel the pending dependents of each root with its reason, and theirs in turn with
    ``"dependency cancelled: <their cancelled dependency>"``; return every id cancelled.

    One statement per level, each with a fresh snapshot, inside the caller's transaction."""
    cancelled: list[str] = []
    frontier = roots
    while frontier:
        parents = [parent for parent, _ in frontier]
        reasons = [reason for _, reason in frontier]
        rows = cursor.execute(stmts.cancel_dependents, (now, parents, reasons)).fetchall()
        children = [row[0] for row in rows]
        cancelled.extend(children)
        frontier = [(child, rules.dependency_cancelled(child)) for child in children]
    return cancelled


def cancel_pending(cursor: Cursor, stmts: q.Statements, job_id: str, now: int) -> bool:
    """``Storage.cancel_pending`` inside the caller's transaction."""
    if not cursor.execute(stmts.cancel_pending, (now, job_id)).fetchall():
        return False
    cascade_cancel(cursor, stmts, [(job_id, rules.dependency_cancelled(job_id))], now)
    return True


def request_cancel(cursor: Cursor, stmts: q.Statements, job_id: str, force: bool) -> bool:
    """``Storage.request_cancel`` (one statement: autocommit or the caller's transaction)."""
    level = 2 if force else 1
    return cursor.execute(stmts.request_cancel, (level, job_id)).fetchone() is not None


def cancel(cursor: Cursor, stmts: q.Statements, job_id: str, force: bool, now: int) -> CancelResult:
    """``Storage.cancel`` inside the caller's transaction. The common cases first: one
    statement for a pending job (plus its cascade), two for a running one. When neither
    matched, the job is finished or unknown, or a claim or a retry moved it between the two:
    lock its row and decide on the state it is in now, which nothing can change any more."""
    if cancel_pending(cursor, stmts, job_id, now):
        return CancelResult.CANCELLED
    if request_cancel(cursor, stmts, job_id, force):
        return CancelResult.REQUESTED
    row = cursor.execute(stmts.lock_job_status, (job_id,)).fetchone()
    if row is None:
        return CancelResult.NOT_FOUND
    if row[0] == JobStatus.PENDING.code and cancel_pending(cursor, stmts, job_id, now):
        return CancelResult.CANCELLED
    if row[0] == JobStatus.RUNNING.code and request_cancel(cursor, stmts, job_id, force):
        return CancelResult.REQUESTED
    return CancelResult.FINISHED


def rescue(
    cursor: Cursor,
    stmts: q.Statements,
    jobs: Sequence[JobRecord],
    now: int,
    max_rescues: int,
    reason: str | None,
) -> None:
    """Inside a transaction: send locked running ``jobs`` back to pending as rescues, or to
    dead as poison pills once rescued ``max_rescues`` times (``Storage.release_jobs``).
    ``reason`` None: the lease expired."""
    outcomes = []
    for job in jobs:
        worker_id = job.worker_id or ""
        if job.rescue_count >= max_rescues:
            error = poison_pill_error(job.rescue_count)
            outcomes.append(
                Finish(job.id, job.attempt, JobStatus.DEAD, error=error, worker_id=worker_id)
            )
            continue
        why = reason or rules.lease_expired(job.worker_id)
        outcomes.append(
            Finish(
                job.id, job.attempt, JobStatus.PENDING, error=why, retry_at=now, worker_id=worker_id
            )
        )
    _, roots = finish(cursor, stmts, outcomes, now, keep_cancel=True, rescue=True)
    cascade_cancel(cursor, stmts, roots, now)


def requeue_expired(
    cursor: Cursor,
    stmts: q.Statements,
    now: int,
    lease_now: int,
    lease_offset_ms: int,
    max_rescues: int,
) -> list[JobRecord]:
    """Inside a transaction: rescue running jobs whose lease expired (``lease_expires_at <
    lease_now``, server clock); return them as they were."""
    rows = cursor.execute(stmts.lock_expired_leases, (lease_now,)).fetchall()
    expired = [convert.row_to_job(row, lease_offset_ms) for row in rows]
    if expired:
        rescue(cursor, stmts, expired, now, max_rescues, None)
    return expired


def release_jobs(
    cursor: Cursor,
    stmts: q.Statements,
    lease_offset_ms: int,
    args: tuple[str, list[str], int, str],
    now: int,
) -> list[JobRecord]:
    """Inside a transaction: rescue the running jobs of worker ``args[0]`` except those in
    ``args[1]`` (``validation.release_arguments``); return them as they were."""
    worker_id, keep, max_rescues, reason = args
    rows = cursor.execute(stmts.lock_worker_running, (worker_id, keep)).fetchall()
    released = [convert.row_to_job(row, lease_offset_ms) for row in rows]
    if released:
        rescue(cursor, stmts, released, now, max_rescues, reason)
    return released


# --- dependencies ----------------------------------------------------------------------------


def lock_dependencies(cursor: Cursor, stmts: q.Statements, job_ids: Iterable[str]) -> None:
    """Every id must name a job that is neither dead nor cancelled; lock them (FOR SHARE) so
    none becomes so before the caller's transaction commits."""
    wanted = list(dict.fromkeys(job_ids))
    if not wanted:
        return
    found = dict(cursor.execute(stmts.lock_dependencies, (wanted,)).fetchall())
    for job_id in wanted:
        status = found.get(job_id)
        if status is None or status in _BLOCKING_DEPENDENCY_STATUSES:
            raise DependencyError(f"dependency not found or already dead/cancelled: {job_id}")


def insert_dependencies(cursor: Cursor, stmts: q.Statements, jobs: Iterable[NewJob]) -> None:
    children: list[str] = []
    parents: list[str] = []
    for job in jobs:
        for parent in dict.fromkeys(job.depends_on):
            children.append(job.id)
            parents.append(parent)
    if children:
        cursor.execute(stmts.insert_dependencies, (children, parents))
