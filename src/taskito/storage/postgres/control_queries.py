"""The SQL of the PostgreSQL flow-control methods (``control``), rendered once per
schema like ``queries``, and the conversions from their rows to records.

Status literals are ``JobStatus.code`` values (see postgres_schema): finished means
``status >= 2`` (complete, failed, dead, cancelled). Like ``queries``, this module
imports no driver module at import time.
"""

from __future__ import annotations

from functools import lru_cache

from taskito.storage.postgres.queries import (
    JOB_COLUMNS,
    NOTIFIED,
    RUNNING_BY_ID,
    notify_if,
    render,
)

# --- queue state ----------------------------------------------------------------------------

PAUSE_QUEUE = (
    "INSERT INTO {s}.paused_queues (queue, paused_at) VALUES (%b, %b)"
    " ON CONFLICT (queue) DO NOTHING RETURNING 1"
)
# Resuming wakes idle workers everywhere, as an enqueue does: the queue's jobs are due again.
RESUME_QUEUE = (
    "WITH resumed AS (DELETE FROM {s}.paused_queues WHERE queue = %b RETURNING 1)"
    + notify_if("resumed")
    + f" SELECT {NOTIFIED} FROM resumed"
)
SELECT_PAUSED = "SELECT queue FROM {s}.paused_queues ORDER BY queue"

# --- limits checked right after claim -------------------------------------------------------

# Takes the slot when it is free (a new key, or next_free_at <= now); changes nothing otherwise.
TAKE_RATE_SLOT = (
    "INSERT INTO {s}.rate_slots AS r (key, next_free_at) VALUES (%(key)b, %(until)b)"
    " ON CONFLICT (key) DO UPDATE SET next_free_at = excluded.next_free_at"
    " WHERE r.next_free_at <= %(now)b RETURNING 1"
)
SELECT_RATE_SLOT = "SELECT next_free_at FROM {s}.rate_slots WHERE key = %b"
# Fenced like FINISH_MANY: each deferral applies only while its job runs under its attempt
# for its worker.
# Listeners are woken only when a deferred job is due already (a later one wakes nobody).
DEFER_MANY = (
    "WITH input AS (SELECT * FROM unnest(%(ids)b::text[], %(attempts)b::bigint[],"
    " %(untils)b::bigint[], %(workers)b::text[])"
    " WITH ORDINALITY AS d (id, attempt, until, worker_id, ord)),"
    " deferred AS (UPDATE {s}.jobs AS j SET status = 0, scheduled_at = p.until,"
    " started_at = NULL, worker_id = NULL, lease_expires_at = NULL"
    " FROM input AS p WHERE j.id = ANY(%(ids)b::text[]) AND j.id = p.id"
    " AND " + RUNNING_BY_ID + " AND j.attempt = p.attempt AND j.worker_id = p.worker_id"
    " RETURNING p.ord, p.until),"
    " due AS (SELECT 1 FROM deferred WHERE until <= %(now)b)"
    + notify_if("due")
    + f" SELECT ord, {NOTIFIED} FROM deferred"
)

# --- circuit breakers -----------------------------------------------------------------------

BREAKER_COLUMNS = (
    "task_name, state, failure_count, last_failure_at, opened_at, threshold, window_ms,"
    " cooldown_ms, half_open_probes, half_open_success_rate, probes_started, probe_successes,"
    " probe_failures"
)
# Creates the breaker closed on first use, stores the latest config, and locks the row until
# the transaction ends (ON CONFLICT DO UPDATE always locks the row it updates).
UPSERT_BREAKER = (
    "INSERT INTO {s}.circuit_breakers (task_name, state, threshold, window_ms, cooldown_ms,"
    " half_open_probes, half_open_success_rate) VALUES (%b, 'closed', %b, %b, %b, %b, %b)"
    " ON CONFLICT (task_name) DO UPDATE SET threshold = excluded.threshold,"
    " window_ms = excluded.window_ms, cooldown_ms = excluded.cooldown_ms,"
    " half_open_probes = excluded.half_open_probes,"
    " half_open_success_rate = excluded.half_open_success_rate"
    " RETURNING " + BREAKER_COLUMNS
)
UPDATE_BREAKER = (
    "UPDATE {s}.circuit_breakers SET state = %b, failure_count = %b, last_failure_at = %b,"
    " opened_at = %b, probes_started = %b, probe_successes = %b, probe_failures = %b"
    " WHERE task_name = %b"
)
SELECT_BREAKERS = "SELECT " + BREAKER_COLUMNS + " FROM {s}.circuit_breakers ORDER BY task_name"

# --- periodic schedules ---------------------------------------------------------------------

SCHEDULE_COLUMNS = "name, task_name, cron, timezone, queue, payload, next_run, last_run, enabled"
# An unchanged cron and timezone keep the stored next_run and last_run (the alias p is the
# row as it was before the update).
_SAME_TIMING = "p.cron = excluded.cron AND p.timezone IS NOT DISTINCT FROM excluded.timezone"
UPSERT_SCHEDULE = (
    "INSERT INTO {s}.periodic_schedules AS p (" + SCHEDULE_COLUMNS + ")"
    " VALUES (%b, %b, %b, %b, %b, %b, %b, %b, %b)"
    " ON CONFLICT (name) DO UPDATE SET task_name = excluded.task_name,"
    " queue = excluded.queue, payload = excluded.payload,"
    " cron = excluded.cron, timezone = excluded.timezone,"
    " next_run = CASE WHEN " + _SAME_TIMING + " THEN p.next_run ELSE excluded.next_run END,"
    " last_run = CASE WHEN " + _SAME_TIMING + " THEN p.last_run ELSE excluded.last_run END"
    " RETURNING " + SCHEDULE_COLUMNS
)
SELECT_DUE_SCHEDULES = (
    "SELECT " + SCHEDULE_COLUMNS + " FROM {s}.periodic_schedules"
    " WHERE enabled AND next_run <= %b ORDER BY next_run, name"
)
# The compare-and-set that makes a slot fire once among racing workers: a second updater
# waits for the first one's row lock, then finds next_run moved on and updates nothing.
ADVANCE_SCHEDULE = (
    "UPDATE {s}.periodic_schedules SET last_run = %(slot)b, next_run = %(next_run)b"
    " WHERE name = %(name)b AND next_run = %(slot)b AND enabled RETURNING 1"
)
SELECT_SCHEDULES = "SELECT " + SCHEDULE_COLUMNS + " FROM {s}.periodic_schedules ORDER BY name"
# A resume passes the first slot after now; a pause passes NULL and keeps next_run.
SET_SCHEDULE_ENABLED = (
    "UPDATE {s}.periodic_schedules SET enabled = %(enabled)b,"
    " next_run = COALESCE(%(next_run)b::bigint, next_run) WHERE name = %(name)b"
)
RETIME_SCHEDULE = (
    "UPDATE {s}.periodic_schedules SET cron = %(cron)b, timezone = %(timezone)b,"
    " next_run = %(next_run)b WHERE name = %(name)b"
)
DELETE_SCHEDULE = "DELETE FROM {s}.periodic_schedules WHERE name = %b"

# --- distributed locks ----------------------------------------------------------------------

# A lock is held while the server's clock is before expires_at; an expired (or released) row
# is taken over in place, its fencing token increased. Times are the server's, in ms.
_CLOCK_MS = "floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint"
ACQUIRE_LOCK = (
    "INSERT INTO {s}.locks AS l (name, owner_id, acquired_at, expires_at, fencing_token)"
    f" SELECT %(name)b, %(owner)b, c.now, c.now + %(ttl)b, 1 FROM (SELECT {_CLOCK_MS} AS now) c"
    " ON CONFLICT (name) DO UPDATE SET owner_id = excluded.owner_id,"
    " acquired_at = excluded.acquired_at, expires_at = excluded.expires_at,"
    " fencing_token = l.fencing_token + 1"
    " WHERE l.expires_at <= excluded.acquired_at RETURNING l.fencing_token"
)
_HELD = (
    "name = %(name)b AND owner_id = %(owner)b AND fencing_token = %(token)b AND expires_at > c.now"
)
EXTEND_LOCK = (
    "UPDATE {s}.locks SET expires_at = c.now + %(ttl)b"
    f" FROM (SELECT {_CLOCK_MS} AS now) c WHERE " + _HELD
)
# Released: no owner, expired; the row stays for its fencing token.
RELEASE_LOCK = (
    "UPDATE {s}.locks SET owner_id = '', expires_at = 0"
    " WHERE name = %(name)b AND owner_id = %(owner)b AND fencing_token = %(token)b"
)
SELECT_LOCK_HELD = f"SELECT 1 FROM {{s}}.locks, (SELECT {_CLOCK_MS} AS now) c WHERE " + _HELD
SELECT_LOCK = (
    "SELECT name, owner_id, acquired_at, expires_at, fencing_token"
    f" FROM {{s}}.locks, (SELECT {_CLOCK_MS} AS now) c"
    " WHERE name = %b AND expires_at > c.now"
)

# --- archive, replay, result expiry ---------------------------------------------------------


def _delete_finished(where: str, then: str = "", returning: str = "id") -> str:
    """Delete the finished jobs matching ``where`` with their side rows exactly as
    PURGE_COMPLETED does (errors, logs, dependency rows in both directions), run the CTEs
    ``then`` (which read the ``returning`` columns of ``gone``), and count the deleted jobs:
    one statement."""
    return (
        "WITH gone AS (DELETE FROM {s}.jobs WHERE status >= 2 AND "
        + where
        + " RETURNING "
        + returning
        + "),"
        + then
        + " errors AS (DELETE FROM {s}.job_errors WHERE job_id IN (SELECT id FROM gone)),"
        " logs AS (DELETE FROM {s}.task_logs WHERE job_id IN (SELECT id FROM gone)),"
        " edges AS (DELETE FROM {s}.job_dependencies WHERE job_id IN (SELECT id FROM gone)"
        " OR depends_on_job_id IN (SELECT id FROM gone))"
        " SELECT count(*) FROM gone"
    )


# An id already in the archive (a job id used twice) is replaced by the newer job.
ARCHIVE_JOBS = _delete_finished(
    "completed_at < %b",
    " archived AS (INSERT INTO {s}.archived_jobs ("
    + JOB_COLUMNS
    + ") SELECT "
    + JOB_COLUMNS
    + " FROM gone ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(
        f"{column} = excluded.{column}" for column in JOB_COLUMNS.split(", ") if column != "id"
    )
    + "),",
    JOB_COLUMNS,
)
SELECT_ARCHIVED = (
    "SELECT " + JOB_COLUMNS + " FROM {s}.archived_jobs"
    " ORDER BY completed_at DESC, id DESC LIMIT %b OFFSET %b"
)
# The expression is the one of the partial index idx_jobs_result_expiry (see postgres_schema).
PURGE_EXPIRED_RESULTS = _delete_finished(
    "result_ttl_ms IS NOT NULL AND (completed_at + LEAST(result_ttl_ms, 4611686018427387904)) <= %b"
)
INSERT_REPLAY = (
    "INSERT INTO {s}.replay_history (original_job_id, replay_job_id, replayed_at,"
    " original_error) SELECT %(original)b::text, %(replay)b::text, %(now)b::bigint,"
    " (SELECT error FROM {s}.jobs WHERE id = %(original)b)"
)
SELECT_REPLAYS = (
    "SELECT r.id, r.original_job_id, r.replay_job_id, r.replayed_at, r.original_error, j.error"
    " FROM {s}.replay_history AS r LEFT JOIN {s}.jobs AS j ON j.id = r.replay_job_id"
    " WHERE r.original_job_id = %b ORDER BY r.id"
)

# --- settings -------------------------------------------------------------------------------

SELECT_SETTING = "SELECT value FROM {s}.settings WHERE key = %b"
UPSERT_SETTING = (
    "INSERT INTO {s}.settings (key, value, updated_at) VALUES (%b, %b, %b)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
)
DELETE_SETTING = "DELETE FROM {s}.settings WHERE key = %b"
INSERT_SETTING_IF_UNSET = (
    "INSERT INTO {s}.settings (key, value, updated_at) VALUES (%b, %b, %b)"
    " ON CONFLICT (key) DO NOTHING"
)
UPDATE_SETTING_IF = (
    "UPDATE {s}.settings SET value = %b, updated_at = %b WHERE key = %b AND value = %b"
)
SELECT_SETTINGS = "SELECT key, value FROM {s}.settings ORDER BY key"


class ControlStatements:
    """Every fixed flow-control statement, rendered for one schema and notification token.

    An attribute ``foo`` holds the module template ``FOO``.
    """

    def __init__(self, schema: str, channel: str, token: str) -> None:
        self.schema = schema
        for name in _STATEMENT_NAMES:
            setattr(self, name.lower(), render(globals()[name], schema, channel, token))

    pause_queue: str
    resume_queue: str
    select_paused: str
    take_rate_slot: str
    select_rate_slot: str
    defer_many: str
    upsert_breaker: str
    update_breaker: str
    select_breakers: str
    upsert_schedule: str
    select_due_schedules: str
    advance_schedule: str
    select_schedules: str
    set_schedule_enabled: str
    retime_schedule: str
    delete_schedule: str
    acquire_lock: str
    extend_lock: str
    release_lock: str
    select_lock_held: str
    select_lock: str
    archive_jobs: str
    select_archived: str
    purge_expired_results: str
    insert_replay: str
    select_replays: str
    select_setting: str
    upsert_setting: str
    delete_setting: str
    insert_setting_if_unset: str
    update_setting_if: str
    select_settings: str


_STATEMENT_NAMES = tuple(name.upper() for name in ControlStatements.__annotations__)


@lru_cache(maxsize=16)
def running_ids_query(schema: str, by_task: bool, by_queue: bool) -> str:
    """Ids of running jobs, optionally of one task and/or queue. The literal ``status = 1``
    lets the planner read the small partial lease index, which holds exactly the running
    jobs."""
    terms = ["status = 1"]
    if by_task:
        terms.append("task_name = %b")
    if by_queue:
        terms.append("queue = %b")
    template = "SELECT id FROM {s}.jobs WHERE " + " AND ".join(terms) + " ORDER BY started_at, id"
    return render(template, schema)
