"""The PostgreSQL claim (``claim_jobs``): lock due jobs in priority order with ``FOR UPDATE SKIP
LOCKED``, mark them running and return them in one statement, and cancel expired pending jobs
(with their dependents) when the claim reports some in its scope.

Like ``queries``, this module imports no driver module at import time.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from taskito.job import JobRecord
from taskito.storage import rules
from taskito.storage.base import Finish
from taskito.storage.postgres import queries as q
from taskito.storage.postgres import records as convert
from taskito.storage.postgres.transitions import cascade_cancel, finish_params

if TYPE_CHECKING:
    from taskito.storage.postgres.connections import Cursor, PgConnections
    from taskito.storage.postgres.notify import ChangeFeed

_DEPENDENCIES_DONE = (
    "NOT EXISTS (SELECT 1 FROM {s}.job_dependencies AS d JOIN {s}.jobs AS p"
    " ON p.id = d.depends_on_job_id WHERE d.job_id = j.id AND p.status <> 2)"
)


def _not_paused(queue_term: str) -> str:
    """The queue named by ``queue_term`` is not paused. ``queue_term`` never refers to the
    scanned job row, so the planner evaluates this once per queue (an InitPlan or a one-time
    filter): one probe of the tiny ``paused_queues`` table, not one per job."""
    return (
        "NOT EXISTS (SELECT 1 FROM {s}.paused_queues AS paused"
        f" WHERE paused.queue = {queue_term})"
    )


def _scope(alias: str, queue_mode: str, has_namespace: bool) -> str:
    """Queue and namespace terms: ``queue_mode`` is "any", "one" or "many"."""
    terms = ""
    if queue_mode == "one":
        terms += f" AND {alias}.queue = %(queue)b"
    elif queue_mode == "many":
        terms += f" AND {alias}.queue = ANY(%(queues)b::text[])"
    if has_namespace:
        terms += f" AND {alias}.namespace = %(namespace)b"
    else:
        terms += f" AND {alias}.namespace IS NULL"
    return terms


def _expired_ids(queue_mode: str, has_namespace: bool) -> str:
    """Ids of pending jobs past ``expires_at`` in the claim's scope. The inner query is fenced
    (OFFSET 0) so that it reads the small expiry index whatever the planner's statistics say,
    rather than every pending row of the queue."""
    return (
        "SELECT e.id FROM (SELECT x.id, x.queue, x.namespace FROM {s}.jobs AS x"
        " WHERE x.status = 0 AND x.expires_at < %(now)b OFFSET 0) AS e WHERE "
        + _not_paused("e.queue")
        + _scope("e", queue_mode, has_namespace)
    )


def _due(queue_term: str, has_namespace: bool) -> str:
    """Due jobs of one queue in claim order, locked; rows that other claimers hold are skipped,
    not waited for; none at all while the queue is paused. The queue equality makes this an
    ordered range scan of the claim index that stops after ``limit`` rows."""
    namespace = "j.namespace = %(namespace)b" if has_namespace else "j.namespace IS NULL"
    return (
        "SELECT j.id, j.priority, j.scheduled_at FROM {s}.jobs AS j WHERE j.status = 0"
        " AND j.queue = "
        + queue_term
        + " AND "
        + namespace
        + " AND "
        + _not_paused(queue_term)
        + " AND j.scheduled_at <= %(now)b AND (j.expires_at IS NULL OR j.expires_at >= %(now)b)"
        " AND " + _DEPENDENCIES_DONE + " ORDER BY j.priority DESC, j.scheduled_at, j.id"
        " LIMIT %(limit)b FOR UPDATE OF j SKIP LOCKED"
    )


# The queues that hold pending jobs, one index probe each (a claim on every queue).
_PENDING_QUEUES = (
    "RECURSIVE pending_queues (name) AS ("
    "(SELECT j.queue FROM {s}.jobs AS j WHERE j.status = 0 ORDER BY j.queue LIMIT 1)"
    " UNION ALL SELECT (SELECT j.queue FROM {s}.jobs AS j WHERE j.status = 0"
    " AND j.queue > pq.name ORDER BY j.queue LIMIT 1)"
    " FROM pending_queues AS pq WHERE pq.name IS NOT NULL),"
)


def _claim_ctes(queue_mode: str, has_namespace: bool) -> str:
    """The CTEs ``picked`` (due jobs, locked) and ``claimed`` (them, marked running).

    Each queue is walked in its own range of the claim index (one range scan cannot merge
    several queues in priority order, and a scan across queues would have to sort every due
    job) and the picks are merged, like the SQLite backend does."""
    if queue_mode == "one":
        picked = _due("%(queue)b", has_namespace)
    else:
        # pending_queues ends with a NULL name, which matches no job.
        source = (
            "pending_queues AS q"
            if queue_mode == "any"
            else "unnest(%(queues)b::text[]) AS q (name)"
        )
        picked = (
            "SELECT c.id FROM "
            + source
            + " CROSS JOIN LATERAL ("
            + _due("q.name", has_namespace)
            + ") AS c ORDER BY c.priority DESC, c.scheduled_at, c.id LIMIT %(limit)b"
        )
    return (
        (_PENDING_QUEUES if queue_mode == "any" else "")
        + " picked AS MATERIALIZED ("
        + picked
        + "),"
        " claimed AS (UPDATE {s}.jobs AS j SET status = 1, attempt = j.attempt + 1,"
        " worker_id = %(worker_id)b, started_at = %(now)b, lease_expires_at = %(lease_until)b"
        " WHERE j.id = ANY(ARRAY(SELECT id FROM picked))"
        " RETURNING " + q.job_columns("j") + ")"
    )


def _claimed_rows(queue_mode: str, has_namespace: bool, source: str) -> str:
    """Whether expired jobs wait in the scope, then the claimed jobs (one row of NULLs when
    none), one row each, joined onto the one-row ``source``."""
    return (
        " SELECT EXISTS ("
        + _expired_ids(queue_mode, has_namespace)
        + "), "
        + q.job_columns("claimed")
        + " FROM "
        + source
        + " AS one LEFT JOIN claimed ON TRUE"
    )


@lru_cache(maxsize=64)
def claim_query(schema: str, queue_mode: str, has_namespace: bool) -> str:
    """One statement: lock due jobs, mark them running, return them, and say whether expired
    pending jobs wait in the same scope. It commits asynchronously (``q.ASYNC_COMMIT``)."""
    template = (
        "WITH "
        + _claim_ctes(queue_mode, has_namespace)
        + _claimed_rows(queue_mode, has_namespace, q.ASYNC_COMMIT)
    )
    return q.render(template, schema)


@lru_cache(maxsize=64)
def finish_and_claim_query(schema: str, queue_mode: str, has_namespace: bool) -> str:
    """``FINISH_MANY`` and the claim as one statement (one transaction, committed durably as
    a finish is; the caller notifies after it, as ``queries.NOTIFY_CHANGE`` says): each row
    starts with the batch positions (1-based) of the outcomes that applied, then the claim's
    columns. The claim reads the snapshot taken before the
    outcomes, so a job retried here is claimed by a later call, not this one."""
    finish_ctes = q.FINISH_MANY_CTES.removeprefix("WITH ")
    template = (
        "WITH "
        + ("RECURSIVE " if queue_mode == "any" else "")
        + finish_ctes
        + ", "
        + _claim_ctes(queue_mode, has_namespace).removeprefix("RECURSIVE ")
        + _claimed_rows(
            queue_mode, has_namespace, "(SELECT ARRAY(SELECT ord FROM done), 0)"
        ).replace(" SELECT EXISTS (", " SELECT one.*, EXISTS (", 1)
    )
    return q.render(template, schema)


@lru_cache(maxsize=64)
def expire_query(
    schema: str, queue_mode: str, has_namespace: bool, channel: str, token: str
) -> str:
    template = (
        "WITH expired AS (UPDATE {s}.jobs AS j SET status = 5, completed_at = %(now)b,"
        " error = '"
        + rules.EXPIRED
        + "' WHERE j.id IN ("
        + _expired_ids(queue_mode, has_namespace)
        + ") AND j.status = 0 RETURNING j.id)"
        + q.notify_if("expired")
        + f" SELECT id, {q.NOTIFIED} FROM expired"
    )
    return q.render(template, schema, channel, token)


def claim_jobs(
    conns: PgConnections,
    stmts: q.Statements,
    feed: ChangeFeed,
    worker_id: str,
    queue_names: list[str] | None,
    namespace: str | None,
    limit: int,
    now: int,
    lease_ms: int,
) -> list[JobRecord]:
    """``Storage.claim`` once its arguments are checked: one statement locks due jobs with
    ``FOR UPDATE SKIP LOCKED`` (so claimers in any process get disjoint jobs) and marks them
    running.

    ``now`` decides which jobs are due and expired and becomes ``started_at``. The lease is
    written on the server's clock (``now`` plus the measured server-minus-local offset); the
    records report it back on this host's clock, so ``lease_expires_at == now + lease_ms``
    here while another host sees the same instant on its own clock. Expired pending jobs in
    the claimed scope are cancelled, with their dependents, in a transaction of their own right
    after the claim. Paused queues are skipped whole, their expired jobs included (one probe of
    ``paused_queues`` per queue).
    """
    offset_ms = conns.lease_offset_ms()
    mode, params = claim_params(
        worker_id, queue_names, namespace, limit, now, now + offset_ms + lease_ms
    )
    jobs, expired_waiting = conns.run(
        lambda cursor: _claim(cursor, stmts.schema, mode, params, offset_ms)
    )
    if expired_waiting:
        expired = conns.transact(lambda cursor: _expire(cursor, stmts, mode, params))
        if expired:
            feed.notify()
    return jobs


def finish_and_claim_jobs(
    conns: PgConnections,
    stmts: q.Statements,
    feed: ChangeFeed,
    finishes: list[Finish],
    claim_args: tuple[str, list[str] | None, str | None, int, int, int],
) -> tuple[list[bool], list[JobRecord]]:
    """``Storage.finish_and_claim`` once its arguments are checked, for a batch that needs no
    cascade and names each job once (``transitions.finish`` handles the others): one
    statement. ``claim_args``: worker id, queue names, namespace, limit, now, lease ms."""
    worker_id, queue_names, namespace, limit, now, lease_ms = claim_args
    offset_ms = conns.lease_offset_ms()
    mode, params = claim_params(
        worker_id, queue_names, namespace, limit, now, now + offset_ms + lease_ms
    )
    params.update(finish_params(finishes, now, keep_cancel=False))
    query = finish_and_claim_query(stmts.schema, mode, namespace is not None)
    rows = conns.run(lambda cursor: cursor.execute(query, params).fetchall())
    applied = [False] * len(finishes)
    for ordinal in rows[0][0]:
        applied[ordinal - 1] = True
    expired_waiting = bool(rows[0][2])
    jobs = [convert.row_to_job(row[3:], offset_ms) for row in rows if row[3] is not None]
    jobs.sort(key=lambda job: (-job.priority, job.scheduled_at, job.id))
    if expired_waiting:
        expired = conns.transact(lambda cursor: _expire(cursor, stmts, mode, params))
        if expired:
            feed.notify()
    return applied, jobs


def claim_params(
    worker_id: str,
    queues: list[str] | None,
    namespace: str | None,
    limit: int,
    now: int,
    lease_until: int,
) -> tuple[str, dict[str, Any]]:
    """The queue mode and the parameters shared by the claim and expiry statements."""
    params: dict[str, Any] = {
        "worker_id": worker_id,
        "namespace": namespace,
        "limit": limit,
        "now": now,
        "lease_until": lease_until,
    }
    if queues is None:
        return "any", params
    if len(queues) == 1:
        params["queue"] = queues[0]
        return "one", params
    params["queues"] = queues
    return "many", params


def _claim(
    cursor: Cursor, schema: str, queue_mode: str, params: dict[str, Any], lease_offset_ms: int
) -> tuple[list[JobRecord], bool]:
    """Claimed jobs in claim order, and whether expired jobs wait in the claimed scope."""
    query = claim_query(schema, queue_mode, params["namespace"] is not None)
    rows = cursor.execute(query, params).fetchall()
    expired_waiting = bool(rows[0][0]) if rows else False
    jobs = [convert.row_to_job(row[1:], lease_offset_ms) for row in rows if row[1] is not None]
    jobs.sort(key=lambda job: (-job.priority, job.scheduled_at, job.id))
    return jobs, expired_waiting


def _expire(
    cursor: Cursor, stmts: q.Statements, queue_mode: str, params: dict[str, Any]
) -> list[str]:
    """Cancel expired pending jobs in the claim's scope and their dependents; return the
    expired ids. Run inside a transaction."""
    has_namespace = params["namespace"] is not None
    query = expire_query(stmts.schema, queue_mode, has_namespace, stmts.channel, stmts.token)
    expired = [row[0] for row in cursor.execute(query, params).fetchall()]
    now = params["now"]
    cascade_cancel(
        cursor, stmts, [(job_id, rules.dependency_cancelled(job_id)) for job_id in expired], now
    )
    return expired
