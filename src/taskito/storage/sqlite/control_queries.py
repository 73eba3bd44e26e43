"""The SQL text of the SQLite flow-control methods (``control``), and the conversions
from their rows to records. Status literals are ``JobStatus.code`` values (see sqlite_schema):
finished means ``status >= 2`` (complete, failed, dead, cancelled).
"""

from __future__ import annotations

from taskito.storage.sqlite.queries import JOB_COLUMNS

# --- queue state ------------------------------------------------------------------------

PAUSE_QUEUE = "INSERT OR IGNORE INTO paused_queues (queue, paused_at) VALUES (?, ?)"
RESUME_QUEUE = "DELETE FROM paused_queues WHERE queue = ?"
SELECT_PAUSED = "SELECT queue FROM paused_queues ORDER BY queue"

# --- limits checked right after claim -----------------------------------------------------

# Takes the slot when it is free (a new key, or next_free_at <= now); changes nothing otherwise.
TAKE_RATE_SLOT = (
    "INSERT INTO rate_slots (key, next_free_at) VALUES (:key, :now + :interval)"
    " ON CONFLICT (key) DO UPDATE SET next_free_at = excluded.next_free_at"
    " WHERE next_free_at <= :now"
)
SELECT_RATE_SLOT = "SELECT next_free_at FROM rate_slots WHERE key = ?"
# Running jobs are few: the partial lease index holds exactly them.
SELECT_RUNNING_IDS = (
    "SELECT id FROM jobs INDEXED BY idx_jobs_lease WHERE status = 1"
    " AND (:task_name IS NULL OR task_name = :task_name) AND (:queue IS NULL OR queue = :queue)"
    " ORDER BY started_at, id"
)
DEFER = (
    "UPDATE jobs SET status = 0, scheduled_at = ?, started_at = NULL, worker_id = NULL,"
    " lease_expires_at = NULL WHERE id = ? AND status = 1 AND attempt = ? AND worker_id = ?"
)

# --- circuit breakers ---------------------------------------------------------------------

BREAKER_COLUMNS = (
    "task_name, state, failure_count, last_failure_at, opened_at, threshold, window_ms,"
    " cooldown_ms, half_open_probes, half_open_success_rate, probes_started, probe_successes,"
    " probe_failures"
)
# Creates the breaker closed on first use; the latest config always wins.
UPSERT_BREAKER_CONFIG = (
    "INSERT INTO circuit_breakers (task_name, state, threshold, window_ms, cooldown_ms,"
    " half_open_probes, half_open_success_rate) VALUES (?, 'closed', ?, ?, ?, ?, ?)"
    " ON CONFLICT (task_name) DO UPDATE SET threshold = excluded.threshold,"
    " window_ms = excluded.window_ms, cooldown_ms = excluded.cooldown_ms,"
    " half_open_probes = excluded.half_open_probes,"
    " half_open_success_rate = excluded.half_open_success_rate"
    f" RETURNING {BREAKER_COLUMNS}"
)
UPDATE_BREAKER = (
    "UPDATE circuit_breakers SET state = ?, failure_count = ?, last_failure_at = ?,"
    " opened_at = ?, probes_started = ?, probe_successes = ?, probe_failures = ?"
    " WHERE task_name = ?"
)
SELECT_BREAKERS = f"SELECT {BREAKER_COLUMNS} FROM circuit_breakers ORDER BY task_name"

# --- periodic schedules -------------------------------------------------------------------

SCHEDULE_COLUMNS = "name, task_name, cron, timezone, queue, payload, next_run, last_run, enabled"
# An unchanged cron and timezone keep the stored next_run and last_run (SET expressions read
# the row as it was before the update).
UPSERT_SCHEDULE = (
    f"INSERT INTO periodic_schedules ({SCHEDULE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (name) DO UPDATE SET task_name = excluded.task_name,"
    " queue = excluded.queue, payload = excluded.payload,"
    " cron = excluded.cron, timezone = excluded.timezone,"
    " next_run = CASE WHEN cron = excluded.cron AND timezone IS excluded.timezone"
    " THEN next_run ELSE excluded.next_run END,"
    " last_run = CASE WHEN cron = excluded.cron AND timezone IS excluded.timezone"
    " THEN last_run ELSE excluded.last_run END"
    f" RETURNING {SCHEDULE_COLUMNS}"
)
SELECT_DUE_SCHEDULES = (
    f"SELECT {SCHEDULE_COLUMNS} FROM periodic_schedules INDEXED BY idx_periodic_due"
    " WHERE enabled = 1 AND next_run <= ? ORDER BY next_run, name"
)
# The compare-and-set that makes a slot fire once among racing workers.
ADVANCE_SCHEDULE = (
    "UPDATE periodic_schedules SET last_run = :slot, next_run = :next_run"
    " WHERE name = :name AND next_run = :slot AND enabled = 1"
)
# A resume passes the first slot after now; a pause passes NULL and keeps next_run.
SET_SCHEDULE_ENABLED = (
    "UPDATE periodic_schedules SET enabled = :enabled,"
    " next_run = COALESCE(:next_run, next_run) WHERE name = :name"
)
RETIME_SCHEDULE = (
    "UPDATE periodic_schedules SET cron = :cron, timezone = :timezone, next_run = :next_run"
    " WHERE name = :name"
)
DELETE_SCHEDULE = "DELETE FROM periodic_schedules WHERE name = ?"
SELECT_SCHEDULES = f"SELECT {SCHEDULE_COLUMNS} FROM periodic_schedules ORDER BY name"

# --- distributed locks --------------------------------------------------------------------

# A lock is held while the clock is before expires_at; an expired (or released) row is taken
# over in place, its fencing token increased. The clock is SQLite's own ('now' is fixed for
# the whole statement), in ms since the epoch.
_CLOCK_MS = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
ACQUIRE_LOCK = (
    "INSERT INTO locks (name, owner_id, acquired_at, expires_at, fencing_token)"
    f" VALUES (:name, :owner, {_CLOCK_MS}, {_CLOCK_MS} + :ttl, 1)"
    " ON CONFLICT (name) DO UPDATE SET owner_id = excluded.owner_id,"
    " acquired_at = excluded.acquired_at, expires_at = excluded.expires_at,"
    " fencing_token = locks.fencing_token + 1"
    f" WHERE locks.expires_at <= {_CLOCK_MS} RETURNING fencing_token"
)
_HELD = (
    f"name = :name AND owner_id = :owner AND fencing_token = :token AND expires_at > {_CLOCK_MS}"
)
EXTEND_LOCK = f"UPDATE locks SET expires_at = {_CLOCK_MS} + :ttl WHERE {_HELD}"
# Released: no owner, expired; the row stays for its fencing token.
RELEASE_LOCK = (
    "UPDATE locks SET owner_id = '', expires_at = 0"
    " WHERE name = :name AND owner_id = :owner AND fencing_token = :token"
)
SELECT_LOCK_HELD = f"SELECT 1 FROM locks WHERE {_HELD}"
SELECT_LOCK = (
    "SELECT name, owner_id, acquired_at, expires_at, fencing_token FROM locks"
    f" WHERE name = ? AND expires_at > {_CLOCK_MS}"
)

# --- archive, replay, result expiry -------------------------------------------------------

SELECT_ARCHIVABLE = "SELECT id FROM jobs WHERE status >= 2 AND completed_at < ?"
ARCHIVE_JOBS = (
    f"INSERT OR REPLACE INTO archived_jobs ({JOB_COLUMNS})"
    f" SELECT {JOB_COLUMNS} FROM jobs WHERE id IN (SELECT value FROM json_each(?))"
)
SELECT_ARCHIVED = (
    f"SELECT {JOB_COLUMNS} FROM archived_jobs ORDER BY completed_at DESC, id DESC LIMIT ? OFFSET ?"
)
SELECT_JOB_ERROR = "SELECT error FROM jobs WHERE id = ?"
INSERT_REPLAY = (
    "INSERT INTO replay_history (original_job_id, replay_job_id, replayed_at, original_error)"
    " VALUES (?, ?, ?, ?)"
)
SELECT_REPLAYS = (
    "SELECT r.id, r.original_job_id, r.replay_job_id, r.replayed_at, r.original_error, j.error"
    " FROM replay_history AS r LEFT JOIN jobs AS j ON j.id = r.replay_job_id"
    " WHERE r.original_job_id = ? ORDER BY r.id"
)
SELECT_EXPIRED_RESULTS = (
    "SELECT id FROM jobs INDEXED BY idx_jobs_result_ttl"
    " WHERE result_ttl_ms IS NOT NULL AND status >= 2 AND completed_at + result_ttl_ms <= ?"
)

# --- settings -----------------------------------------------------------------------------

SELECT_SETTING = "SELECT value FROM settings WHERE key = ?"
UPSERT_SETTING = (
    "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
)
DELETE_SETTING = "DELETE FROM settings WHERE key = ?"
INSERT_SETTING_IF_UNSET = (
    "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING"
)
UPDATE_SETTING_IF = "UPDATE settings SET value = ?, updated_at = ? WHERE key = ? AND value = ?"
SELECT_SETTINGS = "SELECT key, value FROM settings ORDER BY key"
