"""The flow-control half of the PostgreSQL backend (``storage/control.py``): queue state, rate
slots, running ids, deferrals, circuit breakers, locks, settings, periodic schedules, the
archive, replays and result expiry.

Firing a periodic slot and enqueueing a replay write a job and a control row in one
transaction, through the same insert path as ``enqueue`` (``enqueue.enqueue_in``), so unique
keys and dependencies behave exactly as they do there.

Each method is one statement in autocommit mode, or one transaction, on the backend's pool;
races between hosts are settled by the database (INSERT ... ON CONFLICT, conditional UPDATE,
row locks), never by reading first and writing after. ``now`` is used as the caller gives it,
lease clock offset excluded: locks, rate slots and breakers compare times that their callers
wrote. ``PostgresStorage`` derives from ``PostgresControl``, as ``SqliteStorage`` from
``SqliteControl``; this module imports no driver module at import time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

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
from taskito.storage.postgres import breakers as postgres_breakers
from taskito.storage.postgres import control_queries as cq
from taskito.storage.postgres import enqueue
from taskito.storage.postgres import queries as q
from taskito.storage.postgres import records as convert
from taskito.storage.postgres.enqueue import require_enqueueable
from taskito.storage.validation import (
    check_page,
    lock_params,
    require_breaker_config,
    require_deferrals,
    require_schedule,
    schedule_enabling,
    schedule_retiming,
)

if TYPE_CHECKING:
    from taskito.storage.postgres.connections import Cursor, PgConnections
    from taskito.storage.postgres.notify import ChangeFeed


class PostgresControl(ControlStorage):
    """``ControlStorage`` on the backend's pool: ``PostgresStorage`` sets the attributes."""

    schema: str
    _conns: PgConnections
    _stmts: q.Statements
    _control: cq.ControlStatements
    _feed: ChangeFeed

    def _fetch(self, query: str, params: Any, *, idempotent: bool = False) -> list[Any]:
        """The rows of one autocommit statement."""
        return self._conns.run(
            lambda cursor: cursor.execute(query, params).fetchall(), idempotent=idempotent
        )

    # --- queue state --------------------------------------------------------------------

    def set_queue_paused(self, queue: str, paused: bool, now: int) -> bool:
        """See ``ControlStorage.set_queue_paused``. Resuming notifies listeners like an
        enqueue, so idle workers on every host claim the queue's jobs at once."""
        check_text("queue", queue)
        check_bool("paused", paused)
        if paused:
            return bool(self._fetch(self._control.pause_queue, (queue, now)))
        resumed = bool(self._fetch(self._control.resume_queue, (queue,)))
        if resumed:
            self._feed.notify()
        return resumed

    def paused_queues(self) -> list[str]:
        return [row[0] for row in self._fetch(self._control.select_paused, (), idempotent=True)]

    # --- limits checked right after claim -----------------------------------------------

    def take_rate_slot(self, key: str, interval_ms: int, now: int) -> int | None:
        """See ``ControlStorage.take_rate_slot``: one upsert that takes a free slot. When the
        slot is taken, a second read says until when; the stored time only grows, so a value
        read a moment later is still a correct (possibly later) time to try again."""
        check_text("key", key)
        check_positive("interval_ms", interval_ms, type_error=ValueError)
        params = {"key": key, "until": now + interval_ms, "now": now}

        def take(cursor: Cursor) -> int | None:
            if cursor.execute(self._control.take_rate_slot, params).fetchone() is not None:
                return None
            row = cursor.execute(self._control.select_rate_slot, (key,)).fetchone()
            assert row is not None  # the upsert met this row: rows are never deleted
            return int(row[0])

        return self._conns.run(take)

    def running_ids(self, task_name: str | None, queue: str | None) -> list[str]:
        check_optional_text("task_name", task_name)
        check_optional_text("queue", queue)
        query = cq.running_ids_query(self.schema, task_name is not None, queue is not None)
        params = [value for value in (task_name, queue) if value is not None]
        return [row[0] for row in self._fetch(query, params, idempotent=True)]

    def defer_many(self, deferrals: Sequence[Deferral], now: int) -> list[bool]:
        """See ``ControlStorage.defer_many``: one fenced statement per round (a job named
        twice needs a second round, in the same transaction, that sees the first)."""
        batch = require_deferrals(deferrals)
        if not batch:
            return []
        rounds = _rounds([deferral.job_id for deferral in batch])

        def defer(cursor: Cursor) -> list[bool]:
            applied = [False] * len(batch)
            for positions in rounds:
                params = {
                    "ids": [batch[position].job_id for position in positions],
                    "attempts": [batch[position].attempt for position in positions],
                    "untils": [batch[position].until for position in positions],
                    "workers": [batch[position].worker_id for position in positions],
                    "now": now,
                }
                for ordinal, _ in cursor.execute(self._control.defer_many, params):
                    applied[positions[ordinal - 1]] = True
            return applied

        # One round is one statement, atomic without a transaction block.
        run = self._conns.run if len(rounds) == 1 else self._conns.transact
        applied = run(defer)
        if any(applied[i] and batch[i].until <= now for i in range(len(batch))):
            self._feed.notify()
        return applied

    # --- circuit breakers ---------------------------------------------------------------

    def breaker_admit(self, task_name: str, config: BreakerConfig, now: int) -> int | None:
        check_text("task_name", task_name)
        require_breaker_config(config)
        return postgres_breakers.step(
            self._conns,
            self._control,
            task_name,
            config,
            lambda breaker: breakers.admit(breaker, now),
        )

    def breaker_record(self, task_name: str, config: BreakerConfig, ok: bool, now: int) -> None:
        check_text("task_name", task_name)
        require_breaker_config(config)
        check_bool("ok", ok)
        postgres_breakers.step(
            self._conns,
            self._control,
            task_name,
            config,
            lambda breaker: (breakers.record(breaker, ok, now), None),
        )

    def circuit_breakers(self) -> list[BreakerState]:
        rows = self._fetch(self._control.select_breakers, (), idempotent=True)
        return [control_rows.row_to_breaker(row) for row in rows]

    # --- distributed locks --------------------------------------------------------------

    def acquire_lock(self, name: str, owner_id: str, ttl_ms: int) -> int | None:
        rows = self._fetch(self._control.acquire_lock, lock_params(name, owner_id, ttl=ttl_ms))
        return int(rows[0][0]) if rows else None

    def extend_lock(self, name: str, owner_id: str, token: int, ttl_ms: int) -> bool:
        params = lock_params(name, owner_id, token=token, ttl=ttl_ms)
        return self._conns.run(
            lambda cursor: cursor.execute(self._control.extend_lock, params).rowcount == 1
        )

    def release_lock(self, name: str, owner_id: str, token: int) -> bool:
        params = lock_params(name, owner_id, token=token)
        return self._conns.run(
            lambda cursor: cursor.execute(self._control.release_lock, params).rowcount == 1
        )

    def lock_held(self, name: str, owner_id: str, token: int) -> bool:
        params = lock_params(name, owner_id, token=token)
        return bool(self._fetch(self._control.select_lock_held, params, idempotent=True))

    def lock_info(self, name: str) -> LockInfo | None:
        check_text("name", name)
        rows = self._fetch(self._control.select_lock, (name,), idempotent=True)
        if not rows:
            return None
        # Stored on the server's clock; shown on this host's, as leases are.
        offset = self._conns.lease_offset_ms()
        name_, owner, acquired_at, expires_at, token = rows[0]
        return LockInfo(name_, owner, acquired_at - offset, expires_at - offset, token)

    # --- settings -----------------------------------------------------------------------

    def get_setting(self, key: str) -> str | None:
        check_text("key", key)
        rows = self._fetch(self._control.select_setting, (key,), idempotent=True)
        return rows[0][0] if rows else None

    def set_setting(self, key: str, value: str, now: int) -> None:
        check_text("key", key)
        check_text("value", value, allow_empty=True)
        self._conns.run(
            lambda cursor: cursor.execute(self._control.upsert_setting, (key, value, now)),
            idempotent=True,
        )

    def set_setting_if(self, key: str, expected: str | None, value: str, now: int) -> bool:
        check_text("key", key)
        check_text("value", value, allow_empty=True)
        if expected is None:
            return self._changed_one(
                self._control.insert_setting_if_unset, (key, value, now), idempotent=False
            )
        check_text("expected", expected, allow_empty=True)
        return self._changed_one(
            self._control.update_setting_if, (value, now, key, expected), idempotent=False
        )

    def delete_setting(self, key: str) -> bool:
        check_text("key", key)
        return self._conns.run(
            lambda cursor: cursor.execute(self._control.delete_setting, (key,)).rowcount == 1
        )

    def list_settings(self) -> dict[str, str]:
        return dict(self._fetch(self._control.select_settings, (), idempotent=True))

    # --- periodic schedules -------------------------------------------------------------

    def register_periodic(self, schedule: PeriodicSchedule) -> PeriodicSchedule:
        require_schedule(schedule)
        params = control_rows.schedule_params(schedule)
        row = self._conns.run(
            lambda cursor: cursor.execute(self._control.upsert_schedule, params).fetchone(),
            idempotent=True,
        )
        assert row is not None  # an upsert always returns its row
        return control_rows.row_to_schedule(row)

    def due_periodic(self, now: int) -> list[PeriodicSchedule]:
        rows = self._conns.run(
            lambda cursor: cursor.execute(self._control.select_due_schedules, (now,)).fetchall(),
            idempotent=True,
        )
        return [control_rows.row_to_schedule(row) for row in rows]

    def fire_periodic(self, name: str, slot: int, next_run: int, job: NewJob) -> JobRecord | None:
        """See ``ControlStorage.fire_periodic``. The compare-and-set holds the schedule's row
        lock until the job is inserted and the transaction commits: a racing worker waits for
        it, then finds ``next_run`` moved on. A job the insert refuses (a missing dependency)
        rolls the whole slot back, so it stays due."""
        check_text("name", name)
        require_enqueueable(job)
        params = {"name": name, "slot": slot, "next_run": next_run}

        def fire(cursor: Cursor) -> tuple[JobRecord | None, bool]:
            if cursor.execute(self._control.advance_schedule, params).fetchone() is None:
                return None, False
            return enqueue.enqueue_in(cursor, self._conns, self._stmts, job)

        record, inserted = self._conns.transact(fire)
        if inserted:
            self._feed.notify()
        return record

    def periodic_schedules(self) -> list[PeriodicSchedule]:
        rows = self._conns.run(
            lambda cursor: cursor.execute(self._control.select_schedules).fetchall(),
            idempotent=True,
        )
        return [control_rows.row_to_schedule(row) for row in rows]

    def set_periodic_enabled(self, name: str, enabled: bool, next_run: int | None) -> bool:
        name, enabled, next_run = schedule_enabling(name, enabled, next_run)
        params = {"name": name, "enabled": enabled, "next_run": next_run}
        return self._changed_one(self._control.set_schedule_enabled, params)

    def update_periodic(self, name: str, cron: str, timezone: str | None, next_run: int) -> bool:
        name, cron, timezone, next_run = schedule_retiming(name, cron, timezone, next_run)
        params = {"name": name, "cron": cron, "timezone": timezone, "next_run": next_run}
        return self._changed_one(self._control.retime_schedule, params)

    def delete_periodic(self, name: str) -> bool:
        check_text("name", name)
        return self._changed_one(self._control.delete_schedule, (name,), idempotent=False)

    def _changed_one(self, statement: str, params: Any, *, idempotent: bool = True) -> bool:
        # Setting a row to given values is safe to repeat after a dropped connection; a
        # delete is not (the repeat would report False).
        return bool(
            self._conns.run(
                lambda cursor: cursor.execute(statement, params).rowcount == 1,
                idempotent=idempotent,
            )
        )

    # --- archive, replay, result expiry -------------------------------------------------

    def archive_jobs(self, before: int) -> int:
        """See ``ControlStorage.archive_jobs``: one statement moves the rows and drops their
        side rows, so a crash leaves every job either in ``jobs`` or in the archive."""
        return self._count(self._control.archive_jobs, before)

    def purge_expired_results(self, now: int) -> int:
        return self._count(self._control.purge_expired_results, now)

    def _count(self, query: str, at: int) -> int:
        def run(cursor: Cursor) -> int:
            row = cursor.execute(query, (at,)).fetchone()
            return 0 if row is None else int(row[0])

        return self._conns.run(run)

    def list_archived(self, limit: int, offset: int) -> list[JobRecord]:
        params = check_page(limit, offset)
        rows = self._conns.run(
            lambda cursor: cursor.execute(self._control.select_archived, params).fetchall(),
            idempotent=True,
        )
        offset_ms = self._conns.clock.offset_ms
        return [convert.row_to_job(row, offset_ms) for row in rows]

    def enqueue_replay(self, job: NewJob, original_job_id: str, now: int) -> JobRecord:
        """See ``ControlStorage.enqueue_replay``. The history row names the job actually
        stored: the holder of the copy's unique key when one is active."""
        require_enqueueable(job)
        check_text("original_job_id", original_job_id)

        def replay(cursor: Cursor) -> tuple[JobRecord, bool]:
            record, inserted = enqueue.enqueue_in(cursor, self._conns, self._stmts, job)
            params = {"original": original_job_id, "replay": record.id, "now": now}
            cursor.execute(self._control.insert_replay, params)
            return record, inserted

        record, inserted = self._conns.transact(replay)
        if inserted:
            self._feed.notify()
        return record

    def replay_history(self, job_id: str) -> list[ReplayEntry]:
        check_text("job_id", job_id)
        rows = self._conns.run(
            lambda cursor: cursor.execute(self._control.select_replays, (job_id,)).fetchall(),
            idempotent=True,
        )
        return [control_rows.row_to_replay(row) for row in rows]


def _rounds(job_ids: Sequence[str]) -> list[list[int]]:
    """Positions of ``job_ids`` split into rounds in which each id appears once, in order."""
    rounds: list[list[int]] = []
    seen: dict[str, int] = {}
    for position, job_id in enumerate(job_ids):
        number = seen.get(job_id, 0)
        seen[job_id] = number + 1
        if number == len(rounds):
            rounds.append([])
        rounds[number].append(position)
    return rounds
