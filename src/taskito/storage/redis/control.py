"""The flow-control half of the Redis backend (``storage/control.py``): queue state, rate
slots, concurrency reads, deferrals, circuit breakers, locks, settings, periodic schedules,
replays, the archive and result expiry.

``RedisStorage`` derives from ``RedisControl``, as ``SqliteStorage`` from ``SqliteControl``,
and sets the parts both halves share: the connection, the key names, the script runner
(``scripts``) and the change listener. ``fire_periodic`` and ``enqueue_replay`` enqueue
through the same Lua code as ``enqueue`` (``lib_enqueue.lua``) and read its reply the same
way (``enqueue.enqueued``), so unique keys and dependencies behave alike; archive and expiry
remove jobs in chunks of atomic scripts, with their side rows, as ``purge_completed`` does.
Every change that touches more than one key is one Lua script (``pause``, ``rate_slot``,
``defer``, ``breaker``, ``lock``); settings are single commands. Times are the callers'
``now``, used as given, except locks: their expiry is on the server's clock (TIME inside
``lock.lua``), and their fencing tokens live in ``<prefix>:locktokens``. ``docs/redis.md``
lists the keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from taskito._checks import check_bool, check_optional_text, check_positive, check_text
from taskito.job import JobRecord, NewJob
from taskito.storage.control import (
    BreakerConfig,
    BreakerState,
    ControlStorage,
    Deferral,
    LockInfo,
    PeriodicSchedule,
    ReplayEntry,
)
from taskito.storage.redis.connections import RedisConnection
from taskito.storage.redis.enqueue import enqueued
from taskito.storage.redis.keys import (
    MAX_SAFE_INTEGER,
    Keys,
    check_new_job,
    job_arguments,
    pack_fields,
    require_time,
)
from taskito.storage.redis.notify import ChangeListener
from taskito.storage.redis.records import (
    breaker_from_fields,
    job_from_packed,
    pairs,
    replay_from_entry,
    schedule_arguments,
    schedule_from_fields,
)
from taskito.storage.redis.scripts import Scripts
from taskito.storage.validation import (
    check_page,
    require_breaker_config,
    require_deferrals,
    require_schedule,
    schedule_enabling,
    schedule_retiming,
)

# A lock key also carries a Redis expiry this long past the lock's own, so locks that nobody
# released do not pile up. The lock's ``expires_at`` (the server's clock) alone decides who
# holds it.
_LOCK_KEY_GRACE_MS = 3_600_000


def _require_duration(name: str, value: object) -> int:
    """A positive duration in ms that the scripts hold exactly."""
    check_positive(name, value, type_error=ValueError)
    value = cast(int, value)
    if value > MAX_SAFE_INTEGER:
        raise ValueError(f"{name} must be at most 2**53 ms, got {value}")
    return value


def _breaker_arguments(task_name: str, config: BreakerConfig, now: int) -> list[object]:
    check_text("task_name", task_name)
    require_breaker_config(config)
    for name in ("window_ms", "cooldown_ms"):
        if getattr(config, name) > MAX_SAFE_INTEGER:
            raise ValueError(f"{name} must be at most 2**53 ms, got {getattr(config, name)}")
    return [
        task_name,
        config.threshold,
        config.window_ms,
        config.cooldown_ms,
        config.half_open_probes,
        repr(float(config.half_open_success_rate)),
        require_time("now", now),
    ]


class RedisControl(ControlStorage):
    """``ControlStorage`` on Redis: ``RedisStorage`` is the other half and sets the parts."""

    prefix: str
    _conn: RedisConnection
    _keys: Keys
    _scripts: Scripts
    _listener: ChangeListener

    # --- queue state --------------------------------------------------------------------

    def set_queue_paused(self, queue: str, paused: bool, now: int) -> bool:
        check_text("queue", queue)
        check_bool("paused", paused)
        require_time("now", now)
        changed: bool = self._scripts.run("pause", queue, "1" if paused else "0") == 1
        if changed and not paused:
            self._listener.notify()  # the script told the other processes
        return changed

    def paused_queues(self) -> list[str]:
        key = self._keys.paused
        members = self._conn.call(lambda client: client.smembers(key), idempotent=True)
        return sorted(member.decode() for member in cast("set[bytes]", members))

    # --- limits checked right after claim -----------------------------------------------

    def take_rate_slot(self, key: str, interval_ms: int, now: int) -> int | None:
        check_text("key", key)
        _require_duration("interval_ms", interval_ms)
        next_free_at = self._scripts.run("rate_slot", key, interval_ms, require_time("now", now))
        return None if next_free_at is None else int(next_free_at)

    def running_ids(self, task_name: str | None, queue: str | None) -> list[str]:
        check_optional_text("task_name", task_name)
        check_optional_text("queue", queue)
        ids = self._scripts.run(
            "running_ids",
            task_name or "",
            "0" if task_name is None else "1",
            queue or "",
            "0" if queue is None else "1",
            idempotent=True,
        )
        return [job_id.decode() for job_id in ids]

    def defer_many(self, deferrals: Sequence[Deferral], now: int) -> list[bool]:
        batch = require_deferrals(deferrals)
        require_time("now", now)
        if not batch:
            return []
        arguments: list[object] = []
        for deferral in batch:
            until = require_time(f"job {deferral.job_id}: until", deferral.until)
            arguments += [deferral.job_id, deferral.attempt, until, deferral.worker_id]
        applied = [flag == 1 for flag in self._scripts.run("defer", now, *arguments)]
        if any(applied):
            self._listener.notify()
        return applied

    # --- circuit breakers ---------------------------------------------------------------

    def breaker_admit(self, task_name: str, config: BreakerConfig, now: int) -> int | None:
        arguments = _breaker_arguments(task_name, config, now)
        retry_at = self._scripts.run("breaker", "admit", *arguments)
        return None if retry_at is None else int(retry_at)

    def breaker_record(self, task_name: str, config: BreakerConfig, ok: bool, now: int) -> None:
        arguments = _breaker_arguments(task_name, config, now)
        check_bool("ok", ok)
        self._scripts.run("breaker", "record", *arguments, "1" if ok else "0")

    def circuit_breakers(self) -> list[BreakerState]:
        every = self._scripts.run("breaker", "list", idempotent=True)
        return [breaker_from_fields(pairs(flat)) for flat in every]

    # --- distributed locks --------------------------------------------------------------

    def acquire_lock(self, name: str, owner_id: str, ttl_ms: int) -> int | None:
        _require_lock(name, owner_id)
        _require_duration("ttl_ms", ttl_ms)
        keep_ms = ttl_ms + _LOCK_KEY_GRACE_MS
        token = int(self._scripts.run("lock", "acquire", name, owner_id, ttl_ms, keep_ms))
        return token or None

    def extend_lock(self, name: str, owner_id: str, token: int, ttl_ms: int) -> bool:
        _require_lock(name, owner_id, token)
        _require_duration("ttl_ms", ttl_ms)
        keep_ms = ttl_ms + _LOCK_KEY_GRACE_MS
        return bool(
            self._scripts.run("lock", "extend", name, owner_id, token, ttl_ms, keep_ms) == 1
        )

    def release_lock(self, name: str, owner_id: str, token: int) -> bool:
        _require_lock(name, owner_id, token)
        return bool(self._scripts.run("lock", "release", name, owner_id, token) == 1)

    def lock_held(self, name: str, owner_id: str, token: int) -> bool:
        _require_lock(name, owner_id, token)
        return bool(self._scripts.run("lock", "held", name, owner_id, token, idempotent=True) == 1)

    def lock_info(self, name: str) -> LockInfo | None:
        check_text("name", name)
        held = self._scripts.run("lock", "info", name, idempotent=True)
        if not held:
            return None
        owner, acquired_at, expires_at, token = held
        # Stored on the server's clock; shown on this host's, as leases are.
        offset = self._conn.clock_offset_ms()
        return LockInfo(
            name, owner.decode(), int(acquired_at) - offset, int(expires_at) - offset, int(token)
        )

    # --- settings -----------------------------------------------------------------------

    def get_setting(self, key: str) -> str | None:
        check_text("key", key)
        settings = self._keys.settings
        value = self._conn.call(lambda client: client.hget(settings, key), idempotent=True)
        return None if value is None else cast(bytes, value).decode()

    def set_setting(self, key: str, value: str, now: int) -> None:
        check_text("key", key)
        check_text("value", value, allow_empty=True)
        require_time("now", now)
        settings = self._keys.settings
        self._conn.call(lambda client: client.hset(settings, key, value), idempotent=True)

    def set_setting_if(self, key: str, expected: str | None, value: str, now: int) -> bool:
        check_text("key", key)
        check_text("value", value, allow_empty=True)
        require_time("now", now)
        if expected is not None:
            check_text("expected", expected, allow_empty=True)
        flag = b"0" if expected is None else b"1"
        stored = self._scripts.run("setting_if", key, flag, expected or "", value)
        return bool(stored)

    def delete_setting(self, key: str) -> bool:
        check_text("key", key)
        settings = self._keys.settings
        # Not retried: a repeat after a lost reply would report False for a deleted key.
        deleted = self._conn.call(lambda client: client.hdel(settings, key), idempotent=False)
        return bool(deleted)

    def list_settings(self) -> dict[str, str]:
        settings = self._keys.settings
        stored = self._conn.call(lambda client: client.hgetall(settings), idempotent=True)
        return {
            key.decode(): value.decode()
            for key, value in sorted(cast("dict[bytes, bytes]", stored).items())
        }

    # --- periodic schedules -------------------------------------------------------------

    def register_periodic(self, schedule: PeriodicSchedule) -> PeriodicSchedule:
        require_schedule(schedule)
        require_time("next_run", schedule.next_run)
        if schedule.last_run is not None:
            require_time("last_run", schedule.last_run)
        stored = self._scripts.run(
            "periodic", "register", pack_fields(schedule_arguments(schedule))
        )
        return schedule_from_fields(pairs(stored))

    def due_periodic(self, now: int) -> list[PeriodicSchedule]:
        due = self._scripts.run("periodic", "due", require_time("now", now), idempotent=True)
        return [schedule_from_fields(pairs(flat)) for flat in due]

    def periodic_schedules(self) -> list[PeriodicSchedule]:
        every = self._scripts.run("periodic", "all", idempotent=True)
        return [schedule_from_fields(pairs(flat)) for flat in every]

    def set_periodic_enabled(self, name: str, enabled: bool, next_run: int | None) -> bool:
        name, enabled, next_run = schedule_enabling(name, enabled, next_run)
        given = b"" if next_run is None else require_time("next_run", next_run)
        flag = b"1" if enabled else b"0"
        return bool(self._scripts.run("periodic", "enable", name, flag, given, idempotent=True))

    def update_periodic(self, name: str, cron: str, timezone: str | None, next_run: int) -> bool:
        name, cron, timezone, next_run = schedule_retiming(name, cron, timezone, next_run)
        retimed = self._scripts.run(
            "periodic",
            "retime",
            name,
            cron,
            timezone or b"",
            require_time("next_run", next_run),
            idempotent=True,
        )
        return bool(retimed)

    def delete_periodic(self, name: str) -> bool:
        check_text("name", name)
        return bool(self._scripts.run("periodic", "delete", name))

    def fire_periodic(self, name: str, slot: int, next_run: int, job: NewJob) -> JobRecord | None:
        check_text("name", name)
        require_time("slot", slot)
        require_time("next_run", next_run)
        check_new_job(job)
        reply = self._scripts.run("fire_periodic", name, slot, next_run, job_arguments(job))
        if reply is None:
            return None
        return enqueued(self._scripts, self._listener, job, reply)

    # --- replays ------------------------------------------------------------------------

    def enqueue_replay(self, job: NewJob, original_job_id: str, now: int) -> JobRecord:
        check_new_job(job)
        check_text("original_job_id", original_job_id)
        require_time("now", now)
        reply = self._scripts.run("enqueue_replay", original_job_id, now, job_arguments(job))
        return enqueued(self._scripts, self._listener, job, reply)

    def replay_history(self, job_id: str) -> list[ReplayEntry]:
        check_text("job_id", job_id)
        entries = self._scripts.run("replay_history", job_id, idempotent=True)
        return [replay_from_entry(job_id, entry) for entry in entries]

    # --- archive and result expiry ------------------------------------------------------

    def archive_jobs(self, before: int) -> int:
        return self._scripts.in_chunks("archive", require_time("before", before))

    def list_archived(self, limit: int, offset: int) -> list[JobRecord]:
        limit, offset = check_page(limit, offset)
        if limit == 0:
            return []
        page = self._scripts.run("archived", limit, offset, idempotent=True)
        clock_offset = self._conn.clock_offset_ms()
        return [job_from_packed(packed, clock_offset) for packed in page]

    def purge_expired_results(self, now: int) -> int:
        return self._scripts.in_chunks("purge_expired", require_time("now", now))


__all__ = ["RedisControl"]


def _require_lock(name: str, owner_id: str, *token: object) -> None:
    """Check a lock's name and owner, and its fencing token when the call takes one."""
    check_text("name", name)
    check_text("owner_id", owner_id)
    for value in token:
        _require_duration("token", value)
