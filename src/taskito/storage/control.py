"""The flow-control half of the storage contract: queue state, limits checked at claim time,
circuit breakers, periodic schedules, locks, archive and replay, settings.

``storage.base.Storage`` inherits ``ControlStorage``; every backend implements both halves and
passes both halves of ``tests/storage/``. The same rules hold as in ``base``: each method is
one atomic operation, callers pass ``now`` (integer ms since the epoch), driver errors come out
as ``StorageError`` subclasses.

How the engine uses these (the storage only keeps the state; the policy lives in the worker):

* Right after ``claim``, the worker checks each claimed job against its task's and queue's
  rate limit (``take_rate_slot``), concurrency cap (``running_ids``) and circuit breaker
  (``breaker_admit``). A job that may not run yet goes back with ``defer_many``: pending
  again at a later ``scheduled_at``, without spending a retry.
* A periodic schedule fires each slot exactly once: ``fire_periodic`` compares and sets
  ``next_run`` and enqueues the slot's job in the same transaction, so of N workers that saw
  the slot due, one wins and the others get None.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

from taskito.job import JobRecord, NewJob


@dataclass(frozen=True, slots=True)
class Deferral:
    """Put claimed attempt ``(job_id, attempt)`` of ``worker_id`` back to pending until
    ``until`` (ms). ``worker_id`` is keyword-only and required (the fence, as for Finish)."""

    job_id: str
    attempt: int
    until: int
    worker_id: str = field(kw_only=True)


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """A task's circuit breaker settings in storage units (ms)."""

    threshold: int
    window_ms: int
    cooldown_ms: int
    half_open_probes: int
    half_open_success_rate: float


@dataclass(frozen=True, slots=True)
class BreakerState:
    """A task's circuit breaker as stored; ``state`` is "closed", "open" or "half_open".

    ``opened_at`` is when the breaker opened or, while half_open, when the current probe round
    began; it is None once the breaker closed again.

    ``probes_started``/``probe_successes``/``probe_failures`` count the current half-open
    round and are zero in the other states.
    """

    task_name: str
    state: str
    failure_count: int
    last_failure_at: int | None
    opened_at: int | None
    threshold: int
    window_ms: int
    cooldown_ms: int
    half_open_probes: int
    half_open_success_rate: float
    probes_started: int = 0
    probe_successes: int = 0
    probe_failures: int = 0


@dataclass(frozen=True, slots=True)
class PeriodicSchedule:
    """A periodic task as stored: ``payload`` is the serialized ``(args, kwargs)``."""

    name: str
    task_name: str
    cron: str
    timezone: str | None
    queue: str
    payload: bytes
    next_run: int
    last_run: int | None = None
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class LockInfo:
    """A held lock. Its times come from the storage's clock, shown on this host's clock
    (shifted by the measured offset, as leases are); ``fencing_token`` is the number its
    acquisition was given."""

    name: str
    owner_id: str
    acquired_at: int
    expires_at: int
    fencing_token: int = 0


@dataclass(frozen=True, slots=True)
class ReplayEntry:
    """One replay: ``replay_error`` is the replay job's current error (None while it has none
    or when the replay job no longer exists)."""

    id: int
    original_job_id: str
    replay_job_id: str
    replayed_at: int
    original_error: str | None
    replay_error: str | None


class ControlStorage(ABC):
    """Flow control, schedules, locks, archive, settings (see the module docstring)."""

    # --- queue state --------------------------------------------------------------------

    @abstractmethod
    def set_queue_paused(self, queue: str, paused: bool, now: int) -> bool:
        """Pause or resume ``queue``; True when its state changed. The state persists and
        is shared by every process on the database. ``claim`` never returns jobs of a paused
        queue (they stay pending, untouched, until it is resumed)."""

    @abstractmethod
    def paused_queues(self) -> list[str]:
        """Names of the paused queues, sorted."""

    # --- limits checked right after claim -----------------------------------------------

    @abstractmethod
    def take_rate_slot(self, key: str, interval_ms: int, now: int) -> int | None:
        """One evenly spaced slot per ``interval_ms`` for ``key`` (a rate of N per period is
        one slot every period/N; no burst).

        The key's next free time starts at 0. When it is ``<= now``, take the slot: set it to
        ``now + interval_ms`` and return None. Otherwise change nothing and return the next
        free time (ms), when the caller should try again. Atomic across processes.
        """

    @abstractmethod
    def running_ids(self, task_name: str | None, queue: str | None) -> list[str]:
        """Ids of running jobs of ``task_name`` and/or ``queue`` (None: any), ordered by
        ``started_at`` then id: a concurrency cap of N lets the first N keep running."""

    @abstractmethod
    def defer_many(self, deferrals: Sequence[Deferral], now: int) -> list[bool]:
        """Claimed attempts go back to pending in one transaction, fenced like ``finish_many``
        (only while running under ``attempt`` for ``worker_id``): ``scheduled_at = until``;
        ``started_at``, lease and worker cleared; ``retry_count`` and ``error`` unchanged; no
        error row. True for each one that applied."""

    # --- circuit breakers ---------------------------------------------------------------

    @abstractmethod
    def breaker_admit(self, task_name: str, config: BreakerConfig, now: int) -> int | None:
        """May a job of ``task_name`` start now? None: yes; otherwise when to try again (ms).

        The breaker is created closed on first use; ``config`` is stored with it (the latest
        one wins). closed: admit. open: before ``opened_at + cooldown_ms`` refuse with that
        time; at or after it, begin a half-open round: state half_open, ``opened_at = now``,
        probe counters zeroed, and this job admitted as the first probe (``probes_started =
        1``). half_open: admit while ``probes_started < half_open_probes`` (``probes_started
        += 1``); once every probe is out, refuse with ``min(now + 1000, opened_at +
        cooldown_ms)`` — and at or after ``opened_at + cooldown_ms`` (probes that never
        reported: cancelled, or their worker died) begin a new round as from open.
        """

    @abstractmethod
    def breaker_record(self, task_name: str, config: BreakerConfig, ok: bool, now: int) -> None:
        """Record an attempt's outcome (``ok``: it completed).

        closed: a failure within ``window_ms`` of ``last_failure_at`` adds one to
        ``failure_count``, otherwise the count restarts at 1; ``last_failure_at = now``; at
        ``threshold`` the breaker opens (``opened_at = now``). A success changes nothing.
        half_open: count the probe; once ``probe_successes / half_open_probes`` reaches
        ``half_open_success_rate`` the breaker closes (counters zeroed); once that rate can
        no longer be reached it opens again (``opened_at = now``). open: ignored.
        """

    @abstractmethod
    def circuit_breakers(self) -> list[BreakerState]:
        """Every breaker, by task name."""

    # --- periodic schedules -------------------------------------------------------------

    @abstractmethod
    def register_periodic(self, schedule: PeriodicSchedule) -> PeriodicSchedule:
        """Insert or update the schedule by name; return it as stored.

        An existing row with the same ``cron`` and ``timezone`` keeps its ``next_run`` and
        ``last_run`` (a restarted worker neither re-fires nor skips a slot); otherwise the
        given ``next_run`` is taken. Task, queue and payload are always updated; an existing
        row keeps its ``enabled`` (a restart never resumes a paused schedule), a new row
        takes the given one.
        """

    @abstractmethod
    def due_periodic(self, now: int) -> list[PeriodicSchedule]:
        """Enabled schedules with ``next_run <= now``, by ``next_run``."""

    @abstractmethod
    def fire_periodic(self, name: str, slot: int, next_run: int, job: NewJob) -> JobRecord | None:
        """Fire slot ``slot`` of schedule ``name`` once.

        In one transaction: when the schedule is enabled and its ``next_run`` is still ``slot``, set
        ``last_run = slot`` and ``next_run = next_run`` and enqueue ``job`` (as ``enqueue``
        does, unique key included); return the stored job. Otherwise (another worker fired
        it, the schedule is paused or gone) change nothing and return None.
        """

    @abstractmethod
    def periodic_schedules(self) -> list[PeriodicSchedule]:
        """Every schedule, by name."""

    @abstractmethod
    def set_periodic_enabled(self, name: str, enabled: bool, next_run: int | None) -> bool:
        """Pause (``enabled`` False) or resume schedule ``name``; a given ``next_run``
        replaces the stored one (a resume passes the first slot after now, so a long pause
        never ends with a stale fire). False when there is no such schedule."""

    @abstractmethod
    def update_periodic(self, name: str, cron: str, timezone: str | None, next_run: int) -> bool:
        """Give schedule ``name`` a new ``cron`` and ``timezone`` and its first slot under
        them (``next_run``); ``enabled`` and ``last_run`` are kept. False when there is no
        such schedule."""

    @abstractmethod
    def delete_periodic(self, name: str) -> bool:
        """Delete schedule ``name`` (its fired jobs stay); False when there was none."""

    # --- distributed locks --------------------------------------------------------------
    #
    # A lock's expiry is kept on the storage's clock (the server's: Postgres clock_timestamp,
    # Redis TIME; SQLite: the machine's), read inside the statement, never on the caller's:
    # two hosts whose clocks disagree still agree on who holds it. Every acquisition gets a
    # fencing token, a counter per name that only grows (releases do not reset it), so work
    # guarded by a lock can refuse a holder whose token is older than the last one it saw.

    @abstractmethod
    def acquire_lock(self, name: str, owner_id: str, ttl_ms: int) -> int | None:
        """Take ``name`` for ``owner_id`` for ``ttl_ms`` on the storage's clock when it is
        free or expired; return its new fencing token (greater than every token ``name`` had
        before), or None when it is held. A held lock is refused even to its own owner
        (locks are not reentrant)."""

    @abstractmethod
    def extend_lock(self, name: str, owner_id: str, token: int, ttl_ms: int) -> bool:
        """Push the expiry of a lock ``owner_id`` still holds under ``token`` (not expired on
        the storage's clock) to ``ttl_ms`` from the storage's now; False otherwise."""

    @abstractmethod
    def release_lock(self, name: str, owner_id: str, token: int) -> bool:
        """Free the lock when ``owner_id`` holds it under ``token``; False otherwise (nothing
        changes). The token counter of ``name`` is kept."""

    @abstractmethod
    def lock_held(self, name: str, owner_id: str, token: int) -> bool:
        """True while ``owner_id`` holds ``name`` under ``token`` and it has not expired on
        the storage's clock."""

    @abstractmethod
    def lock_info(self, name: str) -> LockInfo | None:
        """The holder of ``name``, or None when it is free or expired."""

    # --- archive, replay, result expiry -------------------------------------------------

    @abstractmethod
    def archive_jobs(self, before: int) -> int:
        """Move finished jobs (complete, failed, dead, cancelled) with ``completed_at <
        before`` out of the jobs table into the archive, with the same fields; return how
        many. Their errors, logs and dependency rows go as ``purge_completed`` treats them:
        a pending job that depended on an archived complete job may still run."""

    @abstractmethod
    def list_archived(self, limit: int, offset: int) -> list[JobRecord]:
        """Archived jobs, most recently finished first (``completed_at`` then id, desc)."""

    @abstractmethod
    def enqueue_replay(self, job: NewJob, original_job_id: str, now: int) -> JobRecord:
        """Enqueue ``job`` (a copy of ``original_job_id``) and record a replay history row
        (``original_error`` read from the original job) in one transaction."""

    @abstractmethod
    def replay_history(self, job_id: str) -> list[ReplayEntry]:
        """Replays of ``job_id`` (as the original), oldest first."""

    @abstractmethod
    def purge_expired_results(self, now: int) -> int:
        """Delete finished jobs whose ``result_ttl_ms`` is set and ``completed_at +
        result_ttl_ms <= now``, with their side rows, as ``purge_completed`` does."""

    # --- settings -----------------------------------------------------------------------

    @abstractmethod
    def get_setting(self, key: str) -> str | None: ...

    @abstractmethod
    def set_setting(self, key: str, value: str, now: int) -> None: ...

    @abstractmethod
    def set_setting_if(self, key: str, expected: str | None, value: str, now: int) -> bool:
        """Compare and set: store ``value`` under ``key`` only while its value is
        ``expected`` (None: while the key is unset); True when it was stored. The base of
        every read-modify-write of a setting (runtime overrides), so two writers never lose
        each other's change."""

    @abstractmethod
    def delete_setting(self, key: str) -> bool:
        """False when there was no such key."""

    @abstractmethod
    def list_settings(self) -> dict[str, str]: ...
