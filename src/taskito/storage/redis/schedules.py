"""The flow-control methods of the Redis backend that insert or remove jobs: periodic schedules
(a fired slot enqueues its job), replays, the archive and result expiry.

``RedisHistory`` is a part of ``RedisStorage`` (a mixin on ``RedisCore``). ``fire_periodic``
and ``enqueue_replay`` enqueue through the same Lua code as ``enqueue`` (``lib_enqueue.lua``),
so unique keys and dependencies behave alike; archive and expiry remove jobs in chunks of
atomic scripts, with their side rows, as ``purge_completed`` does.
"""

from __future__ import annotations

from taskito.job import JobRecord, NewJob
from taskito.storage.control import ControlStorage, PeriodicSchedule, ReplayEntry
from taskito.storage.redis.core import RedisCore
from taskito.storage.redis.keys import check_new_job, job_arguments, pack_fields, require_time
from taskito.storage.redis.records import (
    job_from_packed,
    pairs,
    replay_from_entry,
    schedule_arguments,
    schedule_from_fields,
)
from taskito.storage.validation import require_count, require_schedule, require_text


class RedisHistory(RedisCore, ControlStorage):
    """Periodic schedules, replays, the archive and result expiry on Redis."""

    # --- periodic schedules -------------------------------------------------------------

    def register_periodic(self, schedule: PeriodicSchedule) -> PeriodicSchedule:
        require_schedule(schedule)
        require_time("next_run", schedule.next_run)
        if schedule.last_run is not None:
            require_time("last_run", schedule.last_run)
        stored = self._run("periodic", "register", pack_fields(schedule_arguments(schedule)))
        return schedule_from_fields(pairs(stored))

    def due_periodic(self, now: int) -> list[PeriodicSchedule]:
        due = self._run("periodic", "due", require_time("now", now), idempotent=True)
        return [schedule_from_fields(pairs(flat)) for flat in due]

    def periodic_schedules(self) -> list[PeriodicSchedule]:
        every = self._run("periodic", "all", idempotent=True)
        return [schedule_from_fields(pairs(flat)) for flat in every]

    def fire_periodic(self, name: str, slot: int, next_run: int, job: NewJob) -> JobRecord | None:
        require_text("name", name)
        require_time("slot", slot)
        require_time("next_run", next_run)
        check_new_job(job)
        reply = self._run("fire_periodic", name, slot, next_run, job_arguments(job))
        if reply is None:
            return None
        return self._enqueued(job, reply)

    # --- replays ------------------------------------------------------------------------

    def enqueue_replay(self, job: NewJob, original_job_id: str, now: int) -> JobRecord:
        check_new_job(job)
        require_text("original_job_id", original_job_id)
        require_time("now", now)
        reply = self._run("enqueue_replay", original_job_id, now, job_arguments(job))
        return self._enqueued(job, reply)

    def replay_history(self, job_id: str) -> list[ReplayEntry]:
        require_text("job_id", job_id)
        entries = self._run("replay_history", job_id, idempotent=True)
        return [replay_from_entry(job_id, entry) for entry in entries]

    # --- archive and result expiry ------------------------------------------------------

    def archive_jobs(self, before: int) -> int:
        return self._in_chunks("archive", require_time("before", before))

    def list_archived(self, limit: int, offset: int) -> list[JobRecord]:
        limit = require_count("limit", limit)
        offset = require_count("offset", offset)
        if limit == 0:
            return []
        page = self._run("archived", limit, offset, idempotent=True)
        clock_offset = self._offset()
        return [job_from_packed(packed, clock_offset) for packed in page]

    def purge_expired_results(self, now: int) -> int:
        return self._in_chunks("purge_expired", require_time("now", now))


__all__ = ["RedisHistory"]
