"""The SQL the PostgreSQL backend runs, rendered once per schema.

Templates use ``{s}`` for the quoted schema and ``{notify}`` for ``pg_notify(<channel>,
<token>)``: a write that matters wakes listeners in other processes within its own statement,
at commit. Status literals are ``JobStatus.code`` values (see postgres_schema). Statements
that change several tables do it in one statement with data-modifying CTEs: one round trip.
"""

from __future__ import annotations

from dataclasses import fields
from functools import lru_cache
from typing import Any

from taskito.job import JobRecord, JobStatus
from taskito.storage import workflow_rules as wf_rules
from taskito.storage.base import JobFilter
from taskito.storage.validation import check_job_cursor


def job_columns(alias: str = "") -> str:
    """The job columns in JobRecord field order, so a row maps onto the dataclass by position."""
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + field.name for field in fields(JobRecord))


JOB_COLUMNS = job_columns()


def notify_if(cte: str) -> str:
    """A CTE named ``notified`` that notifies once when the CTE ``cte`` has rows. Select
    ``NOTIFIED`` in the outer query to run it (CTEs without side effects run only if read)."""
    return f", notified AS (SELECT {{notify}} FROM (SELECT 1 FROM {cte} LIMIT 1) AS changed)"


NOTIFIED = "(SELECT count(*) FROM notified)"

# "Job j is running", for statements that name their jobs by id (``j.id = ANY(...)``). The
# cast keeps the planner off every index on status, so it looks the jobs up by primary key
# instead of reading every running job, which it otherwise does when statistics are stale.
RUNNING_BY_ID = "j.status::integer = 1"

# A one-row subquery that makes the statement's own transaction commit without waiting for
# the WAL flush (``SET LOCAL synchronous_commit``). Only for writes whose loss in a server
# crash is harmless under at-least-once delivery: claims (the jobs go back to pending, and a
# late finish is fenced off), lease extensions and heartbeats. Any later durable commit, such
# as the finish of a claimed job, flushes them anyway.
ASYNC_COMMIT = "(SELECT set_config('synchronous_commit', 'off', true))"

_DEAD_LETTER_COLUMNS = (
    "id, original_job_id, queue, task_name, payload, error, retry_count, failed_at, metadata,"
    " priority, max_retries, timeout_ms, result_ttl_ms, namespace, dlq_retry_count"
)
_INSERT_COLUMNS = (
    "id, queue, task_name, payload, priority, created_at, scheduled_at, max_retries,"
    " timeout_ms, unique_key, metadata, expires_at, result_ttl_ms, namespace"
)
_INSERT_VALUES = (
    "INSERT INTO {s}.jobs (" + _INSERT_COLUMNS + ") VALUES (" + ", ".join(["%b"] * 14) + ")"
)
INSERT_JOB = (
    "WITH inserted AS ("
    + _INSERT_VALUES
    + " RETURNING 1)"
    + notify_if("inserted")
    + f" SELECT {NOTIFIED}"
)
# ON CONFLICT names the partial unique index by its column and predicate.
INSERT_JOB_UNLESS_KEY_HELD = (
    "WITH inserted AS (" + _INSERT_VALUES + " ON CONFLICT (unique_key)"
    " WHERE unique_key IS NOT NULL AND status IN (0, 1) DO NOTHING RETURNING 1)"
    + notify_if("inserted")
    + f" SELECT {NOTIFIED} FROM inserted"
)
INSERT_JOBS = (
    "WITH inserted AS (INSERT INTO {s}.jobs (" + _INSERT_COLUMNS + ")"
    " SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::bytea[], %b::bigint[],"
    " %b::bigint[], %b::bigint[], %b::bigint[], %b::bigint[], %b::text[], %b::text[],"
    " %b::bigint[], %b::bigint[], %b::text[]) RETURNING 1)"
    + notify_if("inserted")
    + f" SELECT count(*), {NOTIFIED} FROM inserted"
)
INSERT_DEPENDENCIES = (
    "INSERT INTO {s}.job_dependencies (job_id, depends_on_job_id)"
    " SELECT e.job_id, e.parent FROM unnest(%b::text[], %b::text[])"
    " WITH ORDINALITY AS e (job_id, parent, ord) ORDER BY e.ord"
)
# FOR SHARE: a parent cannot be cancelled or failed between this check and the commit, and a
# cascade that waited for it runs its next statement after the commit, seeing the new child.
LOCK_DEPENDENCIES = "SELECT id, status FROM {s}.jobs WHERE id = ANY(%b::text[]) FOR SHARE"
SELECT_JOB = "SELECT " + JOB_COLUMNS + " FROM {s}.jobs WHERE id = %b"
SELECT_ACTIVE_BY_UNIQUE_KEY = (
    "SELECT " + JOB_COLUMNS + " FROM {s}.jobs"
    " WHERE unique_key = %b AND unique_key IS NOT NULL AND status IN (0, 1)"
)
SELECT_DEPENDENCIES = (
    "SELECT depends_on_job_id FROM {s}.job_dependencies WHERE job_id = %b ORDER BY id"
)
SELECT_DEPENDENTS = (
    "SELECT job_id FROM {s}.job_dependencies WHERE depends_on_job_id = %b ORDER BY id"
)

CANCEL_PENDING = (
    "WITH cancelled AS (UPDATE {s}.jobs SET status = 5, completed_at = %b, error = NULL"
    " WHERE id = %b AND status = 0 RETURNING id)"
    + notify_if("cancelled")
    + f" SELECT id, {NOTIFIED} FROM cancelled"
)
# One level of the dependent cascade: pending children of the given parents, each with the
# reason its parent gives. Levels run as separate statements so each sees children committed
# while it waited for locks (READ COMMITTED takes a fresh snapshot per statement).
CANCEL_DEPENDENTS = (
    "WITH cancelled AS (UPDATE {s}.jobs AS c SET status = 5, completed_at = %b, error = r.reason"
    " FROM {s}.job_dependencies AS d"
    " JOIN unnest(%b::text[], %b::text[]) AS r (parent, reason) ON d.depends_on_job_id = r.parent"
    " WHERE c.id = d.job_id AND c.status = 0 RETURNING c.id)"
    + notify_if("cancelled")
    + f" SELECT id, {NOTIFIED} FROM cancelled"
)
# cancel_requested is 0 (none), 1 (cooperative) or 2 (forced); a request never downgrades.
REQUEST_CANCEL = (
    "WITH flagged AS (UPDATE {s}.jobs SET cancel_requested = GREATEST(cancel_requested,"
    " %b::smallint) WHERE id = %b AND status = 1 RETURNING 1)"
    + notify_if("flagged")
    + f" SELECT {NOTIFIED} FROM flagged"
)
# Storage.cancel: the row lock holds the job in its state until the transaction ends.
LOCK_JOB_STATUS = "SELECT status FROM {s}.jobs WHERE id = %b FOR UPDATE"
SELECT_CANCEL_REQUESTS = (
    "SELECT id, cancel_requested FROM {s}.jobs"
    " WHERE cancel_requested > 0 AND status = 1 AND id = ANY(%b::text[])"
)
_BULK_CANCEL = (
    "WITH cancelled AS (UPDATE {s}.jobs SET status = 5, completed_at = %b, error = '{error}'"
    " WHERE {column} = %b AND status = 0 RETURNING 1)"
    + notify_if("cancelled")
    + f" SELECT count(*), {NOTIFIED} FROM cancelled"
)
PURGE_QUEUE = _BULK_CANCEL.replace("{error}", "purged").replace("{column}", "queue")
REVOKE_TASK = _BULK_CANCEL.replace("{error}", "revoked").replace("{column}", "task_name")
PURGE_COMPLETED = (
    "WITH gone AS (DELETE FROM {s}.jobs WHERE status = 2 AND completed_at < %b RETURNING id),"
    " errors AS (DELETE FROM {s}.job_errors WHERE job_id IN (SELECT id FROM gone)),"
    " logs AS (DELETE FROM {s}.task_logs WHERE job_id IN (SELECT id FROM gone)),"
    " edges AS (DELETE FROM {s}.job_dependencies WHERE job_id IN (SELECT id FROM gone)"
    " OR depends_on_job_id IN (SELECT id FROM gone))"
    " SELECT count(*) FROM gone"
)

COUNT_BY_STATUS = "SELECT status, count(*) FROM {s}.jobs GROUP BY status"
COUNT_BY_STATUS_IN_QUEUE = "SELECT status, count(*) FROM {s}.jobs WHERE queue = %b GROUP BY status"
COUNT_BY_QUEUE_AND_STATUS = "SELECT queue, status, count(*) FROM {s}.jobs GROUP BY queue, status"
# The dashboard's queue depths: ranges of idx_jobs_status (status, queue, ...) for every status
# but complete (most of a big table), and the names of the queues that hold completed jobs by a
# loose index scan (one index probe per name) instead of a walk over every completed job.
COUNT_UNFINISHED_BY_QUEUE = (
    "SELECT queue, status, count(*) FROM {s}.jobs WHERE status IN (0, 1, 3, 4, 5)"
    " GROUP BY queue, status"
)
QUEUES_WITH_COMPLETED = (
    "WITH RECURSIVE names(queue) AS ("
    " SELECT min(queue) FROM {s}.jobs WHERE status = 2"
    " UNION ALL"
    " SELECT (SELECT min(j.queue) FROM {s}.jobs AS j WHERE j.status = 2 AND j.queue > names.queue)"
    " FROM names WHERE names.queue IS NOT NULL)"
    " SELECT queue FROM names WHERE queue IS NOT NULL"
)

EXTEND_LEASES = (
    "UPDATE {s}.jobs AS j SET lease_expires_at = %b"
    " WHERE j.id = ANY(%b::text[]) AND " + RUNNING_BY_ID + " AND j.worker_id = %b"
    " RETURNING j.id, " + ASYNC_COMMIT
)
# SKIP LOCKED: two reapers never requeue the same job, and a job whose finish is being written
# right now is left to that finish.
LOCK_EXPIRED_LEASES = (
    "SELECT " + JOB_COLUMNS + " FROM {s}.jobs WHERE status = 1 AND lease_expires_at < %b"
    " ORDER BY lease_expires_at, id FOR UPDATE SKIP LOCKED"
)
LOCK_WORKER_RUNNING = (
    "SELECT " + JOB_COLUMNS + " FROM {s}.jobs WHERE status = 1 AND worker_id = %b"
    " AND NOT (id = ANY(%b::text[])) ORDER BY started_at, id FOR UPDATE SKIP LOCKED"
)
# Fenced outcomes for a batch of distinct jobs in one statement: each applies only while its
# job is running under its attempt for its worker (re-checked on the row the UPDATE locks).
# Retries (status 0) and dead jobs (4) get an error row; dead jobs a dead-letter row too. A
# rescue (status 0 with ``rescue``) counts in rescue_count, not retry_count.
# m_*: the outcome's metric (NULLs: none), a task_metrics row when the outcome applies.
# Settlement (storage/workflow_contract.py): the open workflow node of each job that reached
# a terminal status moves to completed (with the SHA-256 hex of the result, read from the
# statement's own array by the outcome's position) or failed, and its run is marked due. The
# node lookup is one probe of idx_workflow_nodes_open_job (its WHERE repeated here) per
# terminal outcome, empty while no workflow job is in flight.
_SETTLE_WORKFLOW_NODES = (
    " settled AS (UPDATE {s}.workflow_nodes AS n SET"
    " status = CASE WHEN d.status = 2 THEN 'completed' ELSE 'failed' END,"
    " error = CASE WHEN d.status = 2 THEN NULL WHEN d.status = 5 THEN '"
    + wf_rules.CANCELLED_NODE_ERROR
    + "' ELSE d.error END,"
    " result_hash = CASE WHEN d.status = 2 THEN encode(sha256(coalesce("
    "(%(results)b::bytea[])[d.ord::integer], ''::bytea)), 'hex') END,"
    " completed_at = %(now)b::bigint FROM done AS d"
    " WHERE d.status IN (2, 3, 4, 5) AND n.job_id = d.id AND n.job_id IS NOT NULL"
    " AND n.status IN " + wf_rules.NODE_OPEN_SQL + " RETURNING n.run_id),"
    " due AS (UPDATE {s}.workflow_runs SET advance_due_at = "
    + wf_rules.due_now_sql("%(now)b::bigint")
    + " WHERE id IN (SELECT run_id FROM settled) AND state NOT IN "
    + wf_rules.RUN_TERMINAL_SQL
    + ")"
)
# The CTEs of FINISH_MANY (``done`` names the applied outcomes), also used by the claim
# module's statement that finishes and claims at once.
FINISH_MANY_CTES = (
    "WITH input AS (SELECT * FROM unnest(%(ids)b::text[], %(attempts)b::bigint[],"
    " %(statuses)b::smallint[], %(results)b::bytea[], %(errors)b::text[],"
    " %(retry_ats)b::bigint[], %(keep_cancel)b::boolean[], %(dead_ids)b::text[],"
    " %(workers)b::text[], %(rescues)b::boolean[], %(m_tasks)b::text[], %(m_queues)b::text[],"
    " %(m_outcomes)b::text[], %(m_starts)b::bigint[], %(m_walls)b::bigint[])"
    " WITH ORDINALITY AS f (id, attempt, status, result, error, retry_at, keep_cancel,"
    " dead_id, worker_id, rescue, m_task, m_queue, m_outcome, m_start, m_wall, ord)),"
    " done AS (UPDATE {s}.jobs AS j SET status = p.status,"
    " result = CASE WHEN p.status = 2 THEN p.result ELSE j.result END,"
    " error = CASE WHEN p.status = 0 THEN NULL WHEN p.status = 2 THEN j.error"
    " ELSE p.error END,"
    " completed_at = CASE WHEN p.status = 0 THEN NULL ELSE %(now)b::bigint END,"
    " retry_count = CASE WHEN p.status = 0 AND NOT p.rescue THEN j.retry_count + 1"
    " ELSE j.retry_count END,"
    " rescue_count = CASE WHEN p.status = 0 AND p.rescue THEN j.rescue_count + 1"
    " ELSE j.rescue_count END,"
    " scheduled_at = CASE WHEN p.status = 0 THEN p.retry_at ELSE j.scheduled_at END,"
    " started_at = CASE WHEN p.status = 0 THEN NULL ELSE j.started_at END,"
    " cancel_requested = CASE WHEN p.status = 0 AND NOT p.keep_cancel THEN 0"
    " ELSE j.cancel_requested END,"
    " worker_id = NULL, lease_expires_at = NULL"
    " FROM input AS p WHERE j.id = ANY(%(ids)b::text[]) AND j.id = p.id"
    " AND " + RUNNING_BY_ID + " AND j.attempt = p.attempt AND j.worker_id = p.worker_id"
    " RETURNING p.ord, p.status, p.error, p.dead_id, p.rescue, j.id, j.retry_count, j.queue,"
    " j.task_name, j.payload, j.metadata, j.priority, j.max_retries, j.timeout_ms,"
    " j.result_ttl_ms, j.namespace, p.attempt, p.m_task, p.m_queue, p.m_outcome, p.m_start,"
    " p.m_wall, j.dlq_retry_count),"
    " errors AS (INSERT INTO {s}.job_errors (job_id, attempt, error, failed_at)"
    " SELECT id, CASE WHEN status = 0 AND NOT rescue THEN retry_count - 1 ELSE retry_count END,"
    " coalesce(error, ''), %(now)b::bigint FROM done WHERE status IN (0, 4) ORDER BY ord),"
    " letters AS (INSERT INTO {s}.dead_letter (" + _DEAD_LETTER_COLUMNS + ")"
    " SELECT dead_id, id, queue, task_name, payload, error, retry_count, %(now)b::bigint,"
    " metadata, priority, max_retries, timeout_ms, result_ttl_ms, namespace, dlq_retry_count"
    " FROM done WHERE status = 4 ORDER BY ord),"
    " metrics AS (INSERT INTO {s}.task_metrics (task_name, queue, job_id, attempt, outcome,"
    " started_at, finished_at, wall_ns) SELECT m_task, m_queue, id, attempt, m_outcome,"
    " m_start, %(now)b::bigint, m_wall FROM done WHERE m_outcome IS NOT NULL ORDER BY ord),"
    + _SETTLE_WORKFLOW_NODES
)
FINISH_MANY = (
    FINISH_MANY_CTES + notify_if("done") + f" SELECT ord, id, status, {NOTIFIED} FROM done"
)
# The worker's finishes notify after they commit (NOTIFY_CHANGE), not inside: see there.
FINISH_MANY_QUIET = FINISH_MANY_CTES + " SELECT ord, id, status, 0 FROM done"
# NOTIFY holds one lock for the whole database from just before its transaction commits until
# the commit ends, WAL flush included: notifying inside a durable write serialises the commits
# of every process on the server (no group commit), which capped scale-out at one process'
# rate. So the hot writes (finishes) notify in a transaction of their own that does not wait
# for the flush; listeners learn of the change a round trip later.
NOTIFY_CHANGE = "SELECT {notify}, " + ASYNC_COMMIT
SERVER_CLOCK_MS = "SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint"

UPDATE_PROGRESS = "UPDATE {s}.jobs SET progress = %b WHERE id = %b"
_INSERT_LOG_ROW = (
    "INSERT INTO {s}.task_logs (job_id, task_name, level, message, extra, logged_at)"
    " VALUES (%b, %b, %b, %b, %b, %b)"
)
INSERT_LOG = _INSERT_LOG_ROW
# A partial result ("result" line) wakes result streams; ordinary log lines do not.
INSERT_RESULT_LOG = (
    "WITH inserted AS ("
    + _INSERT_LOG_ROW
    + " RETURNING 1)"
    + notify_if("inserted")
    + f" SELECT {NOTIFIED}"
)
LOG_COLUMNS = "id, job_id, task_name, level, message, extra, logged_at"
SELECT_JOB_LOGS = (
    "SELECT " + LOG_COLUMNS + " FROM {s}.task_logs WHERE job_id = %b ORDER BY logged_at, id"
)
SELECT_JOB_ERRORS = (
    "SELECT id, job_id, attempt, error, failed_at FROM {s}.job_errors"
    " WHERE job_id = %b ORDER BY attempt, id"
)
DEAD_LETTER_COLUMNS = _DEAD_LETTER_COLUMNS
SELECT_DEAD_LETTERS = (
    "SELECT " + DEAD_LETTER_COLUMNS + " FROM {s}.dead_letter"
    " ORDER BY failed_at DESC, seq DESC LIMIT %b OFFSET %b"
)
# Keyset paging: a range of idx_dead_letter_failed (failed_at, seq) from the letter named by
# (failed_at, id); seq 0 (none is) when that letter is gone.
SELECT_DEAD_LETTERS_BEFORE = (
    "SELECT " + DEAD_LETTER_COLUMNS + " FROM {s}.dead_letter"
    " WHERE (failed_at, seq) < (%(time)b, COALESCE((SELECT d.seq FROM {s}.dead_letter AS d"
    " WHERE d.id = %(id)b AND d.failed_at = %(time)b), 0))"
    " ORDER BY failed_at DESC, seq DESC LIMIT %(limit)b OFFSET %(offset)b"
)
SELECT_DEAD_LETTER = "SELECT " + DEAD_LETTER_COLUMNS + " FROM {s}.dead_letter WHERE id = %b"
# Deleting the letter and inserting the copy in one statement: a taken job id fails both.
RETRY_DEAD = (
    "WITH letter AS (DELETE FROM {s}.dead_letter WHERE id = %(dead_id)b"
    " RETURNING " + DEAD_LETTER_COLUMNS + "),"
    " copied AS (INSERT INTO {s}.jobs (id, queue, task_name, payload, priority, created_at,"
    " scheduled_at, max_retries, timeout_ms, metadata, result_ttl_ms, namespace,"
    " dlq_retry_count)"
    " SELECT %(job_id)b, queue, task_name, COALESCE(%(payload)b, payload), priority, %(now)b,"
    " %(now)b, max_retries, timeout_ms, metadata, result_ttl_ms, namespace,"
    " dlq_retry_count + %(bump)b FROM letter RETURNING "
    + JOB_COLUMNS
    + ")"
    + notify_if("copied")
    + " SELECT "
    + JOB_COLUMNS
    + f", {NOTIFIED} FROM copied"
)
PURGE_DEAD = "DELETE FROM {s}.dead_letter WHERE failed_at < %b"

WORKER_COLUMNS = (
    "worker_id, hostname, pid, queues, pool_type, threads, status, started_at, last_heartbeat,"
    " tags, resources, resource_health"
)
UPSERT_WORKER = (
    "INSERT INTO {s}.workers (" + WORKER_COLUMNS + ")"
    " VALUES (%b, %b, %b, %b::text[], %b, %b, %b, %b, %b, %b::text[], %b, %b)"
    " ON CONFLICT (worker_id) DO UPDATE SET hostname = excluded.hostname, pid = excluded.pid,"
    " queues = excluded.queues, pool_type = excluded.pool_type, threads = excluded.threads,"
    " status = excluded.status, started_at = excluded.started_at,"
    " last_heartbeat = excluded.last_heartbeat, tags = excluded.tags,"
    " resources = excluded.resources, resource_health = excluded.resource_health"
)
HEARTBEAT = (
    "UPDATE {s}.workers SET last_heartbeat = %b, status = %b,"
    " resource_health = COALESCE(%b::text, resource_health) WHERE worker_id = %b"
    " AND " + ASYNC_COMMIT + " IS NOT NULL"
)
DELETE_WORKER = "DELETE FROM {s}.workers WHERE worker_id = %b"
SELECT_WORKERS = "SELECT " + WORKER_COLUMNS + " FROM {s}.workers ORDER BY started_at, worker_id"
REAP_WORKERS = "DELETE FROM {s}.workers WHERE last_heartbeat < %b RETURNING worker_id"


def render(template: str, schema: str, channel: str = "", token: str = "") -> str:
    """``template`` with the schema quoted in and the notification call filled in."""
    from psycopg import sql  # here, so that importing this module never needs the driver

    notify = sql.SQL("pg_notify({}, {})").format(sql.Literal(channel), sql.Literal(token))
    composed = sql.SQL(template).format(s=sql.Identifier(schema), notify=notify)
    return composed.as_string(None)


class Statements:
    """Every fixed statement of the backend, rendered for one schema and notification token.

    An attribute ``foo`` holds the module template ``FOO`` (see ``__init__``).
    """

    def __init__(self, schema: str, channel: str, token: str) -> None:
        self.schema, self.channel, self.token = schema, channel, token
        for name in _STATEMENT_NAMES:
            setattr(self, name.lower(), render(globals()[name], schema, channel, token))

    insert_job: str
    insert_job_unless_key_held: str
    insert_jobs: str
    insert_dependencies: str
    lock_dependencies: str
    select_job: str
    select_active_by_unique_key: str
    select_dependencies: str
    select_dependents: str
    cancel_pending: str
    cancel_dependents: str
    request_cancel: str
    lock_job_status: str
    select_cancel_requests: str
    purge_queue: str
    revoke_task: str
    purge_completed: str
    count_by_status: str
    count_by_status_in_queue: str
    count_by_queue_and_status: str
    count_unfinished_by_queue: str
    queues_with_completed: str
    extend_leases: str
    finish_many: str
    finish_many_quiet: str
    notify_change: str
    lock_expired_leases: str
    lock_worker_running: str
    server_clock_ms: str
    update_progress: str
    insert_log: str
    insert_result_log: str
    select_job_logs: str
    select_job_errors: str
    select_dead_letters: str
    select_dead_letters_before: str
    select_dead_letter: str
    retry_dead: str
    purge_dead: str
    upsert_worker: str
    heartbeat: str
    delete_worker: str
    select_workers: str
    reap_workers: str


_STATEMENT_NAMES = tuple(name.upper() for name in Statements.__annotations__)


@lru_cache(maxsize=256)
def list_jobs_query(schema: str, shape: tuple[str, ...]) -> str:
    """The SELECT for ``list_jobs`` with the WHERE terms named in ``shape``."""
    where = f" WHERE {' AND '.join(shape)}" if shape else ""
    template = (
        "SELECT " + JOB_COLUMNS + " FROM {s}.jobs" + where + " ORDER BY created_at DESC, id DESC"
        " LIMIT %b OFFSET %b"
    )
    return render(template, schema)


def list_jobs_terms(filter: JobFilter) -> tuple[tuple[str, ...], list[Any]]:
    """The WHERE terms (a cacheable shape) and parameters of a ``JobFilter``."""
    terms: list[str] = []
    params: list[Any] = []
    for term, value in (
        ("status = %b", None if filter.status is None else JobStatus.parse(filter.status).code),
        ("queue = %b", filter.queue),
        ("task_name = %b", filter.task_name),
        ("metadata ILIKE %b ESCAPE '\\'", _contains_pattern(filter.metadata_like)),
        ("error ILIKE %b ESCAPE '\\'", _contains_pattern(filter.error_like)),
        ("created_at >= %b", filter.created_after),
        ("created_at <= %b", filter.created_before),
    ):
        if value is not None:
            terms.append(term)
            params.append(value)
    if not filter.any_namespace:
        if filter.namespace is None:
            terms.append("namespace IS NULL")
        else:
            terms.append("namespace = %b")
            params.append(filter.namespace)
    before = check_job_cursor(filter.before)
    if before is not None:
        # A row comparison: one range of the (..., created_at, id) index the page walks.
        terms.append("(created_at, id) < (%b, %b)")
        params.extend(before)
    return tuple(terms), params


def _contains_pattern(text: str | None) -> str | None:
    if text is None:
        return None
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@lru_cache(maxsize=64)
def query_logs_query(schema: str, by_task: bool, by_level: bool) -> str:
    terms = ["logged_at >= %b"]
    if by_task:
        terms.append("task_name = %b")
    if by_level:
        terms.append("level = %b")
    template = (
        "SELECT "
        + LOG_COLUMNS
        + " FROM {s}.task_logs WHERE "
        + " AND ".join(terms)
        + " ORDER BY logged_at DESC, id DESC LIMIT %b"
    )
    return render(template, schema)


__all__ = ["JOB_COLUMNS", "Statements"]
