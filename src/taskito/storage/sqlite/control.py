"""The flow-control half of the SQLite backend (``storage/control.py``): queue state, rate
slots, concurrency reads, deferrals, circuit breakers, periodic schedules, locks, the archive,
replays, result expiry and settings.

``SqliteControl`` is a mixin that ``SqliteStorage`` inherits: it runs on the same
``SqliteConnections`` (``self._conns``), so every write is one ``BEGIN IMMEDIATE`` transaction
like the rest of the backend. SQL text lives in ``control_queries``.
"""

from __future__ import annotations

from collections.abc import Sequence

from taskito._checks import check_bool, check_optional_text, check_positive, check_text
from taskito.job import JobRecord, NewJob
from taskito.storage import breakers, control_rows
from taskito.storage.control import (
    BreakerConfig,
    BreakerState,
    ControlStorage,
    Deferral,
    LockInfo,
    PeriodicSchedule,
    ReplayEntry,
)
from taskito.storage.sqlite import breakers as sqlite_breakers
from taskito.storage.sqlite import control_queries as cq
from taskito.storage.sqlite import queries as q
from taskito.storage.sqlite import transitions
from taskito.storage.sqlite.connections import SqliteConnections
from taskito.storage.validation import (
    check_page,
    lock_params,
    require_breaker_config,
    require_deferrals,
    require_new_job,
    require_schedule,
    schedule_enabling,
    schedule_retiming,
)


class SqliteControl(ControlStorage):
    """``ControlStorage`` on the connections of a ``SqliteStorage``."""

    _conns: SqliteConnections
    _durable: bool  # writes that make jobs commit with synchronous=FULL

    # --- queue state --------------------------------------------------------------------

    def set_queue_paused(self, queue: str, paused: bool, now: int) -> bool:
        check_text("queue", queue)
        check_bool("paused", paused)
        with self._conns.write(notify=False) as conn:
            if paused:
                changed = conn.execute(cq.PAUSE_QUEUE, (queue, now)).rowcount == 1
            else:
                changed = conn.execute(cq.RESUME_QUEUE, (queue,)).rowcount == 1
        if changed:
            # A resumed queue's jobs are claimable at once: wake idle workers.
            self._conns.notifier.notify()
        return changed

    def paused_queues(self) -> list[str]:
        with self._conns.read() as conn:
            return [row[0] for row in conn.execute(cq.SELECT_PAUSED)]

    # --- limits checked right after claim -----------------------------------------------

    def take_rate_slot(self, key: str, interval_ms: int, now: int) -> int | None:
        check_text("key", key)
        check_positive("interval_ms", interval_ms, type_error=ValueError)
        params = {"key": key, "interval": interval_ms, "now": now}
        with self._conns.write(notify=False) as conn:
            if conn.execute(cq.TAKE_RATE_SLOT, params).rowcount == 1:
                return None
            (next_free_at,) = conn.execute(cq.SELECT_RATE_SLOT, (key,)).fetchone()
        return int(next_free_at)

    def running_ids(self, task_name: str | None, queue: str | None) -> list[str]:
        params = {
            "task_name": check_optional_text("task_name", task_name),
            "queue": check_optional_text("queue", queue),
        }
        with self._conns.read() as conn:
            return [row[0] for row in conn.execute(cq.SELECT_RUNNING_IDS, params)]

    def defer_many(self, deferrals: Sequence[Deferral], now: int) -> list[bool]:
        batch = require_deferrals(deferrals)
        if not batch:
            return []
        with self._conns.write(notify=False) as conn:
            applied = [
                conn.execute(cq.DEFER, (d.until, d.job_id, d.attempt, d.worker_id)).rowcount == 1
                for d in batch
            ]
        # A job deferred to the future is not claimable yet: waking idle workers is useless.
        if any(done and d.until <= now for done, d in zip(applied, batch, strict=True)):
            self._conns.notifier.notify()
        return applied

    # --- circuit breakers ---------------------------------------------------------------

    def breaker_admit(self, task_name: str, config: BreakerConfig, now: int) -> int | None:
        check_text("task_name", task_name)
        require_breaker_config(config)
        with self._conns.write(notify=False) as conn:
            before = sqlite_breakers.load(conn, task_name, config)
            after, retry_at = breakers.admit(before, now)
            sqlite_breakers.save(conn, before, after)
        return retry_at

    def breaker_record(self, task_name: str, config: BreakerConfig, ok: bool, now: int) -> None:
        check_text("task_name", task_name)
        require_breaker_config(config)
        check_bool("ok", ok)
        with self._conns.write(notify=False) as conn:
            before = sqlite_breakers.load(conn, task_name, config)
            sqlite_breakers.save(conn, before, breakers.record(before, ok, now))

    def circuit_breakers(self) -> list[BreakerState]:
        with self._conns.read() as conn:
            return [control_rows.row_to_breaker(row) for row in conn.execute(cq.SELECT_BREAKERS)]

    # --- periodic schedules -------------------------------------------------------------

    def register_periodic(self, schedule: PeriodicSchedule) -> PeriodicSchedule:
        params = control_rows.schedule_params(require_schedule(schedule))
        with self._conns.write(notify=False) as conn:
            row = conn.execute(cq.UPSERT_SCHEDULE, params).fetchone()
        return control_rows.row_to_schedule(row)

    def due_periodic(self, now: int) -> list[PeriodicSchedule]:
        with self._conns.read() as conn:
            return [
                control_rows.row_to_schedule(row)
                for row in conn.execute(cq.SELECT_DUE_SCHEDULES, (now,))
            ]

    def fire_periodic(self, name: str, slot: int, next_run: int, job: NewJob) -> JobRecord | None:
        check_text("name", name)
        require_new_job(job)
        params = {"name": name, "slot": slot, "next_run": next_run}
        with self._conns.write(notify=False) as conn:
            if conn.execute(cq.ADVANCE_SCHEDULE, params).rowcount != 1:
                return None
            record, inserted = transitions.enqueue_one(conn, job)
        if inserted:
            self._conns.notifier.notify()
        return record

    def periodic_schedules(self) -> list[PeriodicSchedule]:
        with self._conns.read() as conn:
            return [control_rows.row_to_schedule(row) for row in conn.execute(cq.SELECT_SCHEDULES)]

    def set_periodic_enabled(self, name: str, enabled: bool, next_run: int | None) -> bool:
        name, enabled, next_run = schedule_enabling(name, enabled, next_run)
        params = {"name": name, "enabled": int(enabled), "next_run": next_run}
        with self._conns.write(notify=False) as conn:
            return bool(conn.execute(cq.SET_SCHEDULE_ENABLED, params).rowcount == 1)

    def update_periodic(self, name: str, cron: str, timezone: str | None, next_run: int) -> bool:
        name, cron, timezone, next_run = schedule_retiming(name, cron, timezone, next_run)
        params = {"name": name, "cron": cron, "timezone": timezone, "next_run": next_run}
        with self._conns.write(notify=False) as conn:
            return bool(conn.execute(cq.RETIME_SCHEDULE, params).rowcount == 1)

    def delete_periodic(self, name: str) -> bool:
        check_text("name", name)
        with self._conns.write(notify=False) as conn:
            return bool(conn.execute(cq.DELETE_SCHEDULE, (name,)).rowcount == 1)

    # --- distributed locks --------------------------------------------------------------

    def acquire_lock(self, name: str, owner_id: str, ttl_ms: int) -> int | None:
        params = lock_params(name, owner_id, ttl=ttl_ms)
        with self._conns.write(notify=False) as conn:
            row = conn.execute(cq.ACQUIRE_LOCK, params).fetchone()
        return None if row is None else int(row[0])

    def extend_lock(self, name: str, owner_id: str, token: int, ttl_ms: int) -> bool:
        params = lock_params(name, owner_id, token=token, ttl=ttl_ms)
        with self._conns.write(notify=False) as conn:
            return conn.execute(cq.EXTEND_LOCK, params).rowcount == 1

    def release_lock(self, name: str, owner_id: str, token: int) -> bool:
        params = lock_params(name, owner_id, token=token)
        with self._conns.write(notify=False) as conn:
            return conn.execute(cq.RELEASE_LOCK, params).rowcount == 1

    def lock_held(self, name: str, owner_id: str, token: int) -> bool:
        params = lock_params(name, owner_id, token=token)
        with self._conns.read() as conn:
            return conn.execute(cq.SELECT_LOCK_HELD, params).fetchone() is not None

    def lock_info(self, name: str) -> LockInfo | None:
        check_text("name", name)
        with self._conns.read() as conn:
            row = conn.execute(cq.SELECT_LOCK, (name,)).fetchone()
        return None if row is None else control_rows.row_to_lock(row)

    # --- archive, replay, result expiry -------------------------------------------------

    def archive_jobs(self, before: int) -> int:
        with self._conns.write(notify=False) as conn:
            job_ids = [row[0] for row in conn.execute(cq.SELECT_ARCHIVABLE, (before,))]
            if job_ids:
                conn.execute(cq.ARCHIVE_JOBS, (q.json_list(job_ids),))
                transitions.delete_jobs(conn, job_ids)
        return len(job_ids)

    def list_archived(self, limit: int, offset: int) -> list[JobRecord]:
        params = check_page(limit, offset)
        with self._conns.read() as conn:
            return [q.row_to_job(row) for row in conn.execute(cq.SELECT_ARCHIVED, params)]

    def enqueue_replay(self, job: NewJob, original_job_id: str, now: int) -> JobRecord:
        require_new_job(job)
        check_text("original_job_id", original_job_id)
        with self._conns.write(notify=False, durable=self._durable) as conn:
            row = conn.execute(cq.SELECT_JOB_ERROR, (original_job_id,)).fetchone()
            original_error = None if row is None else row[0]
            record, inserted = transitions.enqueue_one(conn, job)
            conn.execute(cq.INSERT_REPLAY, (original_job_id, record.id, now, original_error))
        if inserted:
            self._conns.notifier.notify()
        return record

    def replay_history(self, job_id: str) -> list[ReplayEntry]:
        check_text("job_id", job_id)
        with self._conns.read() as conn:
            return [
                control_rows.row_to_replay(row)
                for row in conn.execute(cq.SELECT_REPLAYS, (job_id,))
            ]

    def purge_expired_results(self, now: int) -> int:
        with self._conns.write(notify=False) as conn:
            job_ids = [row[0] for row in conn.execute(cq.SELECT_EXPIRED_RESULTS, (now,))]
            transitions.delete_jobs(conn, job_ids)
        return len(job_ids)

    # --- settings -----------------------------------------------------------------------

    def get_setting(self, key: str) -> str | None:
        check_text("key", key)
        with self._conns.read() as conn:
            row = conn.execute(cq.SELECT_SETTING, (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_setting(self, key: str, value: str, now: int) -> None:
        params = (check_text("key", key), check_text("value", value, allow_empty=True), now)
        with self._conns.write(notify=False) as conn:
            conn.execute(cq.UPSERT_SETTING, params)

    def delete_setting(self, key: str) -> bool:
        check_text("key", key)
        with self._conns.write(notify=False) as conn:
            return conn.execute(cq.DELETE_SETTING, (key,)).rowcount == 1

    def set_setting_if(self, key: str, expected: str | None, value: str, now: int) -> bool:
        check_text("key", key)
        check_text("value", value, allow_empty=True)
        with self._conns.write(notify=False) as conn:
            if expected is None:
                cursor = conn.execute(cq.INSERT_SETTING_IF_UNSET, (key, value, now))
            else:
                check_text("expected", expected, allow_empty=True)
                cursor = conn.execute(cq.UPDATE_SETTING_IF, (value, now, key, expected))
            return bool(cursor.rowcount == 1)

    def list_settings(self) -> dict[str, str]:
        with self._conns.read() as conn:
            return dict(conn.execute(cq.SELECT_SETTINGS).fetchall())
