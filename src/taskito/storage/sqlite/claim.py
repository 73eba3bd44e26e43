"""The SQLite claim: pick due jobs in priority order without scanning delayed or blocked
ones, cancel expired ones met on the way, and move the picks to running in one UPDATE.

Due jobs are found per queue, one priority level at a time: within a level the claim index is
ordered by ``scheduled_at``, so the scan stops at the first job that is not yet due, however
many delayed jobs wait behind it. Picks from several queues are merged by priority.
Queues paused with ``set_queue_paused`` are skipped.
``INDEXED BY`` pins the plans: on a fresh file SQLite has no statistics and would otherwise
scan every pending job.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from taskito.job import JobRecord
from taskito.storage import rules
from taskito.storage.sqlite import queries as q
from taskito.storage.sqlite.transitions import cascade_cancel

_READY = (
    " AND j.scheduled_at <= :now AND j.namespace IS :namespace"
    " AND (j.expires_at IS NULL OR j.expires_at >= :now)"
    " AND NOT EXISTS (SELECT 1 FROM job_dependencies AS d JOIN jobs AS p"
    " ON p.id = d.depends_on_job_id WHERE d.job_id = j.id AND p.status != 2)"
    " ORDER BY j.scheduled_at, j.id LIMIT :limit"
)
# The queues that hold pending jobs, one index probe each (a claim on every queue).
_FIRST_QUEUE = "SELECT MIN(queue) FROM jobs INDEXED BY idx_jobs_claim WHERE status = 0"
_NEXT_QUEUE = "SELECT MIN(queue) FROM jobs INDEXED BY idx_jobs_claim WHERE status = 0 AND queue > ?"
_TOP_LEVEL = (
    "SELECT MAX(priority) FROM jobs INDEXED BY idx_jobs_claim WHERE status = 0 AND queue = :queue"
)
_NEXT_LEVEL = (
    "SELECT MAX(priority) FROM jobs INDEXED BY idx_jobs_claim"
    " WHERE status = 0 AND queue = :queue AND priority < :priority"
)
_DUE_AT_LEVEL = (
    "SELECT j.priority, j.scheduled_at, j.id FROM jobs AS j INDEXED BY idx_jobs_claim"
    " WHERE j.status = 0 AND j.queue = :queue AND j.priority = :priority" + _READY
)
# A read first: the expiry UPDATEs cost a write each, and there is usually nothing to expire.
_ANY_EXPIRED = (
    "SELECT 1 FROM jobs INDEXED BY idx_jobs_expiry"
    " WHERE status = 0 AND expires_at IS NOT NULL AND expires_at < ? LIMIT 1"
)
_EXPIRE_ANY_QUEUE = (
    "UPDATE jobs INDEXED BY idx_jobs_expiry"
    f" SET status = 5, completed_at = :now, error = '{rules.EXPIRED}'"
    " WHERE status = 0 AND expires_at IS NOT NULL AND expires_at < :now"
    " AND namespace IS :namespace RETURNING id"
)
_EXPIRE_ONE_QUEUE = (
    "UPDATE jobs INDEXED BY idx_jobs_expiry"
    f" SET status = 5, completed_at = :now, error = '{rules.EXPIRED}'"
    " WHERE status = 0 AND expires_at IS NOT NULL AND expires_at < :now"
    " AND namespace IS :namespace AND queue = :queue RETURNING id"
)
_MARK_RUNNING = (
    "UPDATE jobs SET status = 1, attempt = attempt + 1, worker_id = ?, started_at = ?,"
    " lease_expires_at = ? WHERE id IN (SELECT value FROM json_each(?)) AND +status = 0"
    f" RETURNING {q.JOB_COLUMNS}"
)

# Usually empty, read in the claim's own transaction, so a pause by any process takes effect
# at the next claim with no cache to go stale.
_SELECT_PAUSED = "SELECT queue FROM paused_queues"

Candidate = tuple[int, int, str]  # priority, scheduled_at, id


def _pending_queues(conn: sqlite3.Connection) -> list[str]:
    queues: list[str] = []
    (queue,) = conn.execute(_FIRST_QUEUE).fetchone()
    while queue is not None:
        queues.append(queue)
        (queue,) = conn.execute(_NEXT_QUEUE, (queue,)).fetchone()
    return queues


def _due_in(conn: sqlite3.Connection, params: dict[str, Any], limit: int) -> list[Candidate]:
    """Up to ``limit`` due jobs of ``params["queue"]``, best first, walking the priority
    levels downwards."""
    found: list[Candidate] = []
    (level,) = conn.execute(_TOP_LEVEL, params).fetchone()
    while level is not None:
        params["priority"] = level
        params["limit"] = limit - len(found)
        found.extend(conn.execute(_DUE_AT_LEVEL, params).fetchall())
        if len(found) >= limit:
            break
        (level,) = conn.execute(_NEXT_LEVEL, params).fetchone()
    return found


def _expire(
    conn: sqlite3.Connection, queues: Sequence[str] | None, namespace: str | None, now: int
) -> bool:
    if conn.execute(_ANY_EXPIRED, (now,)).fetchone() is None:
        return False
    params: dict[str, Any] = {"now": now, "namespace": namespace}
    if queues is None:
        expired = conn.execute(_EXPIRE_ANY_QUEUE, params).fetchall()
    else:
        expired = []
        for queue in queues:
            params["queue"] = queue
            expired.extend(conn.execute(_EXPIRE_ONE_QUEUE, params).fetchall())
    for (job_id,) in expired:
        cascade_cancel(conn, job_id, rules.dependency_cancelled(job_id), now)
    return bool(expired)


def claim(
    conn: sqlite3.Connection,
    worker_id: str,
    queues: Sequence[str] | None,
    namespace: str | None,
    limit: int,
    now: int,
    lease_ms: int,
) -> tuple[list[JobRecord], bool]:
    """Claim due jobs inside the caller's write transaction; also return whether expired
    jobs were cancelled on the way. Paused queues are left untouched, expiry included."""
    paused = {queue for (queue,) in conn.execute(_SELECT_PAUSED)}
    if paused:
        candidates = _pending_queues(conn) if queues is None else queues
        queues = [queue for queue in candidates if queue not in paused]
        if not queues:
            return [], False
    expired_any = _expire(conn, queues, namespace, now)
    params: dict[str, Any] = {"now": now, "namespace": namespace}
    picked: list[Candidate] = []
    for queue in _pending_queues(conn) if queues is None else queues:
        params["queue"] = queue
        picked.extend(_due_in(conn, params, limit))
    picked.sort(key=lambda c: (-c[0], c[1], c[2]))
    del picked[limit:]
    if not picked:
        return [], expired_any
    rows = conn.execute(
        _MARK_RUNNING, (worker_id, now, now + lease_ms, q.json_list(c[2] for c in picked))
    ).fetchall()
    jobs = [q.row_to_job(row) for row in rows]
    jobs.sort(key=lambda job: (-job.priority, job.scheduled_at, job.id))
    return jobs, expired_any
