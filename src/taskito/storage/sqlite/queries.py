"""The SQL text the SQLite backend runs, and the conversions from rows to records.

SQL strings are module constants (or cached per shape) so sqlite3's statement cache reuses
the prepared statements. Status literals are ``JobStatus.code`` values (see sqlite_schema).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any

from taskito.job import JobBatch, JobRecord, JobStatus, NewJob, OutcomeKind, TaskMetric
from taskito.storage.base import DeadLetter, JobError, JobFilter, LogEntry, WorkerInfo
from taskito.storage.validation import check_job_cursor
from taskito.storage.worker_resources import (
    decode_health,
    decode_names,
    encode_health,
    encode_names,
)

PENDING = JobStatus.PENDING.code
RUNNING = JobStatus.RUNNING.code
COMPLETE = JobStatus.COMPLETE.code
FAILED = JobStatus.FAILED.code
DEAD = JobStatus.DEAD.code
CANCELLED = JobStatus.CANCELLED.code

# In JobRecord field order, so a row maps onto the dataclass positionally.
JOB_COLUMNS = (
    "id, queue, task_name, payload, status, priority, created_at, scheduled_at, retry_count,"
    " max_retries, timeout_ms, started_at, completed_at, result, error, unique_key, progress,"
    " metadata, cancel_requested, expires_at, result_ttl_ms, namespace, worker_id, attempt,"
    " lease_expires_at, rescue_count"
)
_STATUS_INDEX = 4
_CANCEL_REQUESTED_INDEX = 18

# Python's sqlite3 binds None and bytes through its adapter lookup, which raises and catches two
# AttributeErrors per value: about 1 us each, half the cost of an insert. So a job's absent
# optional fields become NULL literals (one cached SQL text per pattern of absent fields) and
# its payload is bound as a bytearray, which sqlite3 binds directly.
_INSERT_COLUMNS = (
    "id, queue, task_name, payload, priority, created_at, scheduled_at, max_retries,"
    " timeout_ms, unique_key, metadata, expires_at, result_ttl_ms, namespace"
)


@lru_cache(maxsize=128)
def _insert_job_sql(absent: tuple[bool, ...]) -> str:
    optional = ", ".join("NULL" if missing else "?" for missing in absent)
    return f"INSERT INTO jobs ({_INSERT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, {optional})"


def insert_job(job: NewJob) -> tuple[str, tuple[Any, ...]]:
    """The INSERT statement and parameters that store ``job`` (its dependencies apart)."""
    optional = (
        job.timeout_ms,
        job.unique_key,
        job.metadata,
        job.expires_at,
        job.result_ttl_ms,
        job.namespace,
    )
    required = (
        job.id,
        job.queue,
        job.task_name,
        bytearray(job.payload),
        job.priority,
        job.created_at,
        job.scheduled_at,
        job.max_retries,
    )
    absent = tuple(value is None for value in optional)
    params = required + tuple(value for value in optional if value is not None)
    return _insert_job_sql(absent), params


def insert_jobs(jobs: Iterable[NewJob]) -> list[tuple[str, list[tuple[Any, ...]]]]:
    """``insert_job`` for a batch, as runs of consecutive jobs that share one SQL text."""
    runs: list[tuple[str, list[tuple[Any, ...]]]] = []
    for job in jobs:
        sql, params = insert_job(job)
        if runs and runs[-1][0] == sql:
            runs[-1][1].append(params)
        else:
            runs.append((sql, [params]))
    return runs


def insert_batch(batch: JobBatch) -> tuple[str, Iterator[tuple[Any, ...]]]:
    """``insert_job`` for every job of ``batch``: one SQL text, and its rows made as
    ``executemany`` reads them (no list of rows, no object per job)."""
    optional = (
        batch.timeout_ms,
        None,  # unique_key
        batch.metadata,
        batch.expires_at,
        batch.result_ttl_ms,
        batch.namespace,
    )
    queue, task_name = batch.queue, batch.task_name
    tail = (
        batch.priority,
        batch.created_at,
        batch.scheduled_at,
        batch.max_retries,
        *(value for value in optional if value is not None),
    )
    rows = (
        (job_id, queue, task_name, bytearray(payload), *tail)
        for job_id, payload in zip(batch.ids, batch.payloads, strict=True)
    )
    return _insert_job_sql(tuple(value is None for value in optional)), rows


INSERT_DEPENDENCY = "INSERT INTO job_dependencies (job_id, depends_on_job_id) VALUES (?, ?)"
SELECT_JOB = f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?"
SELECT_ACTIVE_BY_UNIQUE_KEY = (
    f"SELECT {JOB_COLUMNS} FROM jobs"
    " WHERE unique_key = ? AND unique_key IS NOT NULL AND status IN (0, 1)"
)
SELECT_STATUS = "SELECT status FROM jobs WHERE id = ?"
SELECT_DEPENDENCIES = "SELECT depends_on_job_id FROM job_dependencies WHERE job_id = ? ORDER BY id"
SELECT_DEPENDENTS = "SELECT job_id FROM job_dependencies WHERE depends_on_job_id = ? ORDER BY id"

CANCEL_PENDING = (
    "UPDATE jobs SET status = 5, completed_at = ?, error = NULL WHERE id = ? AND status = 0"
)
# "+status" keeps the planner on the primary key instead of scanning every pending job.
CANCEL_DEPENDENTS = (
    "UPDATE jobs SET status = 5, completed_at = ?, error = ?"
    " WHERE +status = 0 AND id IN"
    " (SELECT job_id FROM job_dependencies WHERE depends_on_job_id = ?)"
    " RETURNING id"
)
# cancel_requested is 0 (none), 1 (cooperative) or 2 (forced); a request never downgrades.
REQUEST_CANCEL = (
    "UPDATE jobs SET cancel_requested = MAX(cancel_requested, ?) WHERE id = ? AND status = 1"
)
SELECT_STATUS = "SELECT status FROM jobs WHERE id = ?"
SELECT_CANCEL_REQUESTED = (
    "SELECT id, cancel_requested FROM jobs INDEXED BY idx_jobs_cancel_requested"
    " WHERE cancel_requested > 0 AND status = 1"
)
PURGE_QUEUE = (
    "UPDATE jobs SET status = 5, completed_at = ?, error = 'purged' WHERE queue = ? AND status = 0"
)
REVOKE_TASK = (
    "UPDATE jobs SET status = 5, completed_at = ?, error = 'revoked'"
    " WHERE task_name = ? AND status = 0"
)
SELECT_PURGEABLE = "SELECT id FROM jobs WHERE status = 2 AND completed_at < ?"
DELETE_JOB = "DELETE FROM jobs WHERE id = ?"
DELETE_JOB_ERRORS = "DELETE FROM job_errors WHERE job_id = ?"
DELETE_JOB_LOGS = "DELETE FROM task_logs WHERE job_id = ?"
DELETE_JOB_EDGES = "DELETE FROM job_dependencies WHERE job_id = ? OR depends_on_job_id = ?"

# Counting a range of an index visits every entry in it, but counting a whole table only
# reads its pages: so completed jobs (most of a big table) are counted as every job less the
# others, each of those a range of idx_jobs_status (pinned: the covering index for counts).
# One statement: one snapshot.
COUNT_BY_STATUS = "SELECT (SELECT COUNT(*) FROM jobs)," + ",".join(
    f" (SELECT COUNT(*) FROM jobs INDEXED BY idx_jobs_status WHERE status = {code})"
    for code in (PENDING, RUNNING, FAILED, DEAD, CANCELLED)
)
COUNT_BY_STATUS_CODES = (PENDING, RUNNING, FAILED, DEAD, CANCELLED)
# "status IN (...)" makes one range of idx_jobs_status (status, queue, ...) per status.
COUNT_BY_STATUS_IN_QUEUE = (
    "SELECT status, COUNT(*) FROM jobs INDEXED BY idx_jobs_status"
    " WHERE status IN (0, 1, 2, 3, 4, 5) AND queue = ?"
    " GROUP BY status"
)
COUNT_BY_QUEUE_AND_STATUS = "SELECT queue, status, COUNT(*) FROM jobs GROUP BY status, queue"
# Without the completed jobs: ranges of idx_jobs_status for the other statuses only.
COUNT_UNFINISHED_BY_QUEUE = (
    "SELECT queue, status, COUNT(*) FROM jobs INDEXED BY idx_jobs_status"
    " WHERE status IN (0, 1, 3, 4, 5)"
    " GROUP BY status, queue"
)
# Every queue name that holds completed jobs, one index seek per name (a loose index scan of
# idx_jobs_status) instead of a walk over every completed job.
QUEUES_WITH_COMPLETED = (
    "WITH RECURSIVE names(queue) AS ("
    " SELECT MIN(queue) FROM jobs INDEXED BY idx_jobs_status WHERE status = 2"
    " UNION ALL"
    " SELECT (SELECT MIN(queue) FROM jobs INDEXED BY idx_jobs_status"
    " WHERE status = 2 AND queue > names.queue)"
    " FROM names WHERE names.queue IS NOT NULL)"
    " SELECT queue FROM names WHERE queue IS NOT NULL"
)

SELECT_WORKER_RUNNING = (
    f"SELECT {JOB_COLUMNS} FROM jobs WHERE status = 1 AND worker_id = ? ORDER BY started_at, id"
)

EXTEND_LEASES = (
    "UPDATE jobs SET lease_expires_at = ?"
    " WHERE status = 1 AND worker_id = ? AND id IN (SELECT value FROM json_each(?))"
    " RETURNING id"
)
SELECT_EXPIRED_LEASES = (
    f"SELECT {JOB_COLUMNS} FROM jobs INDEXED BY idx_jobs_lease"
    " WHERE status = 1 AND lease_expires_at < ? ORDER BY lease_expires_at, id"
)

UPDATE_PROGRESS = "UPDATE jobs SET progress = ? WHERE id = ?"
INSERT_LOG = (
    "INSERT INTO task_logs (job_id, task_name, level, message, extra, logged_at)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
LOG_COLUMNS = "id, job_id, task_name, level, message, extra, logged_at"
SELECT_JOB_LOGS = f"SELECT {LOG_COLUMNS} FROM task_logs WHERE job_id = ? ORDER BY logged_at, id"
QUERY_LOGS = (
    f"SELECT {LOG_COLUMNS} FROM task_logs WHERE logged_at >= ?"
    " AND (? IS NULL OR task_name = ?) AND (? IS NULL OR level = ?)"
    " ORDER BY logged_at DESC, id DESC LIMIT ?"
)
SELECT_JOB_ERRORS = (
    "SELECT id, job_id, attempt, error, failed_at FROM job_errors"
    " WHERE job_id = ? ORDER BY attempt, id"
)
INSERT_JOB_ERROR = "INSERT INTO job_errors (job_id, attempt, error, failed_at) VALUES (?, ?, ?, ?)"

DEAD_LETTER_COLUMNS = (
    "id, original_job_id, queue, task_name, payload, error, retry_count, failed_at, metadata,"
    " priority, max_retries, timeout_ms, result_ttl_ms, namespace, dlq_retry_count"
)
INSERT_DEAD_LETTER_FROM_JOB = (
    f"INSERT INTO dead_letter ({DEAD_LETTER_COLUMNS})"
    " SELECT ?, id, queue, task_name, payload, error, retry_count, ?, metadata, priority,"
    " max_retries, timeout_ms, result_ttl_ms, namespace, dlq_retry_count FROM jobs WHERE id = ?"
)
# The copy a retried dead letter makes carries the letter's automatic-retry count.
SET_DLQ_RETRY_COUNT = "UPDATE jobs SET dlq_retry_count = ? WHERE id = ?"
SELECT_DEAD_LETTERS = (
    f"SELECT {DEAD_LETTER_COLUMNS} FROM dead_letter ORDER BY failed_at DESC, seq DESC"
    " LIMIT ? OFFSET ?"
)
# Keyset paging: a range of idx_dead_letter_failed (failed_at, seq) from the letter named by
# (failed_at, id); seq 0 (none is) when that letter is gone.
SELECT_DEAD_LETTERS_BEFORE = (
    f"SELECT {DEAD_LETTER_COLUMNS} FROM dead_letter"
    " WHERE (failed_at, seq) < (?1, COALESCE("
    "(SELECT seq FROM dead_letter WHERE id = ?2 AND failed_at = ?1), 0))"
    " ORDER BY failed_at DESC, seq DESC LIMIT ?3 OFFSET ?4"
)
SELECT_DEAD_LETTER = f"SELECT {DEAD_LETTER_COLUMNS} FROM dead_letter WHERE id = ?"
DELETE_DEAD_LETTER = "DELETE FROM dead_letter WHERE id = ?"
PURGE_DEAD = "DELETE FROM dead_letter WHERE failed_at < ?"

INSERT_METRIC = (
    "INSERT INTO task_metrics (task_name, queue, job_id, attempt, outcome, started_at,"
    " finished_at, wall_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
METRIC_COLUMNS = "job_id, attempt, task_name, queue, outcome, started_at, finished_at, wall_ns"
SELECT_METRICS = (
    f"SELECT {METRIC_COLUMNS} FROM task_metrics WHERE finished_at >= ? ORDER BY finished_at, id"
)
SELECT_TASK_METRICS = (
    f"SELECT {METRIC_COLUMNS} FROM task_metrics WHERE finished_at >= ? AND task_name = ?"
    " ORDER BY finished_at, id"
)
PURGE_METRICS = (
    "DELETE FROM task_metrics WHERE id IN (SELECT id FROM task_metrics WHERE finished_at < ?"
    " ORDER BY finished_at LIMIT ?)"
)

WORKER_COLUMNS = (
    "worker_id, hostname, pid, queues, pool_type, threads, status, started_at, last_heartbeat,"
    " tags, resources, resource_health"
)
UPSERT_WORKER = (
    f"INSERT OR REPLACE INTO workers ({WORKER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
HEARTBEAT = (
    "UPDATE workers SET last_heartbeat = ?, status = ?,"
    " resource_health = COALESCE(?, resource_health) WHERE worker_id = ?"
)
DELETE_WORKER = "DELETE FROM workers WHERE worker_id = ?"
SELECT_WORKERS = f"SELECT {WORKER_COLUMNS} FROM workers ORDER BY started_at, worker_id"
REAP_WORKERS = "DELETE FROM workers WHERE last_heartbeat < ? RETURNING worker_id"


def list_jobs_query(filter: JobFilter, limit: int, offset: int) -> tuple[str, list[Any]]:
    """The SELECT for ``list_jobs``: one SQL shape per combination of filter fields."""
    clauses: list[str] = []
    params: list[Any] = []
    for clause, value in (
        ("status = ?", None if filter.status is None else JobStatus.parse(filter.status).code),
        ("queue = ?", filter.queue),
        ("task_name = ?", filter.task_name),
        ("metadata LIKE ? ESCAPE '\\'", _contains_pattern(filter.metadata_like)),
        ("error LIKE ? ESCAPE '\\'", _contains_pattern(filter.error_like)),
        ("created_at >= ?", filter.created_after),
        ("created_at <= ?", filter.created_before),
    ):
        if value is not None:
            clauses.append(clause)
            params.append(value)
    if not filter.any_namespace:
        clauses.append("namespace IS ?")
        params.append(filter.namespace)
    before = check_job_cursor(filter.before)
    if before is not None:
        # A row value: the planner turns it into a range of the index the page walks.
        clauses.append("(created_at, id) < (?, ?)")
        params.extend(before)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    sql = (
        f"SELECT {JOB_COLUMNS} FROM jobs{where} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"
    )
    return sql, [*params, limit, offset]


def _contains_pattern(text: str | None) -> str | None:
    if text is None:
        return None
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def json_list(values: Iterable[str]) -> str:
    """A JSON array for ``json_each(?)``: one constant SQL text whatever the list length."""
    return json.dumps(list(values))


def new_job_from_dead_letter(dead: DeadLetter, job_id: str, now: int) -> NewJob:
    """A fresh pending copy of a dead-lettered job (``retry_dead``)."""
    return NewJob(
        id=job_id,
        queue=dead.queue,
        task_name=dead.task_name,
        payload=dead.payload,
        priority=dead.priority,
        created_at=now,
        scheduled_at=now,
        max_retries=dead.max_retries,
        timeout_ms=dead.timeout_ms,
        metadata=dead.metadata,
        result_ttl_ms=dead.result_ttl_ms,
        namespace=dead.namespace,
    )


def row_to_job(row: tuple[Any, ...]) -> JobRecord:
    values = list(row)
    values[_STATUS_INDEX] = JobStatus.from_code(values[_STATUS_INDEX])
    values[_CANCEL_REQUESTED_INDEX] = bool(values[_CANCEL_REQUESTED_INDEX])
    return JobRecord(*values)


def row_to_log(row: tuple[Any, ...]) -> LogEntry:
    return LogEntry(*row)


def row_to_error(row: tuple[Any, ...]) -> JobError:
    return JobError(*row)


def row_to_dead_letter(row: tuple[Any, ...]) -> DeadLetter:
    return DeadLetter(*row)


def row_to_metric(row: tuple[Any, ...]) -> TaskMetric:
    job_id, attempt, task_name, queue, outcome, started_at, finished_at, wall_ns = row
    return TaskMetric(
        job_id, attempt, task_name, queue, OutcomeKind(outcome), started_at, finished_at, wall_ns
    )


def worker_params(worker: WorkerInfo) -> tuple[Any, ...]:
    queues = None if worker.queues is None else json.dumps(list(worker.queues))
    return (
        worker.worker_id,
        worker.hostname,
        worker.pid,
        queues,
        worker.pool,
        worker.threads,
        worker.status,
        worker.started_at,
        worker.last_heartbeat,
        json.dumps(list(worker.tags)),
        encode_names(worker.resources),
        encode_health(worker.resource_health),
    )


def row_to_worker(row: tuple[Any, ...]) -> WorkerInfo:
    worker_id, hostname, pid, queues, pool, threads, status, started_at, heartbeat, tags = row[:10]
    return WorkerInfo(
        worker_id=worker_id,
        hostname=hostname,
        pid=pid,
        queues=None if queues is None else tuple(json.loads(queues)),
        pool=pool,
        threads=threads,
        status=status,
        started_at=started_at,
        last_heartbeat=heartbeat,
        tags=tuple(json.loads(tags)),
        resources=decode_names(row[10]),
        resource_health=decode_health(row[11]),
    )
