"""Periodic schedules, the archive, replays and result expiry of the PostgreSQL backend (the
rest of ``storage/control.py``; queue state, limits, breakers, locks and settings are in
``control``).

Firing a periodic slot and enqueueing a replay write a job and a control row in one
transaction, through the same insert path as ``enqueue`` (``PostgresEnqueue._enqueue_in``),
so unique keys and dependencies behave exactly as they do there. ``PostgresHistory`` is a
mixin of ``PostgresStorage``; it imports no driver module at import time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from taskito.job import JobRecord, NewJob
from taskito.storage import control_rows
from taskito.storage.control import PeriodicSchedule, ReplayEntry
from taskito.storage.postgres import control_queries as cq
from taskito.storage.postgres import records as convert
from taskito.storage.postgres.enqueue import PostgresEnqueue, require_enqueueable
from taskito.storage.validation import require_count, require_schedule, require_text

if TYPE_CHECKING:
    from taskito.storage.postgres.connections import Cursor


class PostgresHistory(PostgresEnqueue):
    """Schedules, archive, replay and result expiry of ``ControlStorage``."""

    _control: cq.ControlStatements

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
        require_text("name", name)
        require_enqueueable(job)
        params = {"name": name, "slot": slot, "next_run": next_run}

        def fire(cursor: Cursor) -> tuple[JobRecord | None, bool]:
            if cursor.execute(self._control.advance_schedule, params).fetchone() is None:
                return None, False
            return self._enqueue_in(cursor, job)

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
        params = (require_count("limit", limit), require_count("offset", offset))
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
        require_text("original_job_id", original_job_id)

        def replay(cursor: Cursor) -> tuple[JobRecord, bool]:
            record, inserted = self._enqueue_in(cursor, job)
            params = {"original": original_job_id, "replay": record.id, "now": now}
            cursor.execute(self._control.insert_replay, params)
            return record, inserted

        record, inserted = self._conns.transact(replay)
        if inserted:
            self._feed.notify()
        return record

    def replay_history(self, job_id: str) -> list[ReplayEntry]:
        require_text("job_id", job_id)
        rows = self._conns.run(
            lambda cursor: cursor.execute(self._control.select_replays, (job_id,)).fetchall(),
            idempotent=True,
        )
        return [control_rows.row_to_replay(row) for row in rows]
