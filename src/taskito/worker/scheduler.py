"""The worker's scheduler thread: it fires the periodic schedules this worker's Queue declares,
deletes results whose ``result_ttl`` ran out and task metrics past ``metrics_retention``.

Every worker runs one, so schedules keep firing while any worker lives. Exactly-once per slot
comes from storage: ``fire_periodic`` compares and sets the schedule's ``next_run`` and
enqueues the slot's job in one transaction, so when N workers see a slot due, one fires it.
A slot missed while no worker ran fires once, and the schedule resumes at the next slot after
now (never a burst of catch-up jobs).

It is a thread of its own rather than a chore of the lease keeper: a slow storage call here
(a large purge, a busy database) must never delay heartbeats or lease extensions.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from taskito.cron import CronSchedule
from taskito.ids import new_job_id
from taskito.job import JobRecord, NewJob, now_ms
from taskito.serializers import binds_context, dumps_bound
from taskito.signing import payload_context, seal
from taskito.storage.control import PeriodicSchedule
from taskito.worker.backoff import Backoff
from taskito.worker.upkeep import HistoryUpkeep

if TYPE_CHECKING:
    from taskito.registry import ExecutionEnv, PeriodicSpec
    from taskito.serializers import Serializer

logger = logging.getLogger("taskito.worker.scheduler")

#: The ``next_run`` of a schedule whose cron never fires again (its year field is past):
#: 9999-12-31T23:59:59Z, a time no clock reaches.
NEVER_MS = 253_402_300_799_000
#: Options of a fired job whose task this worker does not know (the reference's defaults).
_DEFAULT_PRIORITY = 0
_DEFAULT_MAX_RETRIES = 3
_DEFAULT_TIMEOUT_MS = 300_000
#: Task metric rows deleted per storage call: a few ms of work, so a backlog of old rows never
#: holds the database (SQLite's one writer) for long.
METRICS_PURGE_CHUNK = 5_000


class PeriodicScheduler:
    """Fires ``env.periodic`` schedules and purges expired results and old task metrics on its
    own thread.

    ``register``, ``fire_due``, ``purge`` and ``purge_metrics`` are also callable directly
    (tests drive them with a chosen ``now``); the thread only calls them on a timer, and logs
    their errors.
    """

    def __init__(
        self,
        env: ExecutionEnv,
        *,
        poll_s: float = 0.1,
        cleanup_interval_s: float = 5.0,
        on_fired: Callable[[list[JobRecord]], None] | None = None,
    ) -> None:
        self._env = env
        self._storage = env.storage
        self._poll_s = poll_s
        self._cleanup_interval_s = cleanup_interval_s
        self._on_fired = on_fired
        self._registered: set[str] = set()
        #: Stored name -> this worker's declaration: what a fired slot is built from.
        self._declared: dict[str, PeriodicSpec] = {}
        self._failed: set[str] = set()  # declarations that cannot be registered (logged once)
        self._crons: dict[tuple[str, str | None], CronSchedule] = {}
        self._backoff = Backoff("the scheduler's storage calls", logger)
        self._stop = threading.Event()
        self._upkeep = HistoryUpkeep(env, self._stop)
        self._thread = threading.Thread(target=self._run, name="taskito-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    # --- the timer ------------------------------------------------------------------------

    def _run(self) -> None:
        next_purge = time.monotonic()  # a starting worker cleans up at once
        while not self._stop.is_set():
            ok = True
            if self._env.periodic:
                ok = self._safely("registering periodic schedules", self.register) and (
                    self._safely("firing periodic schedules", self.fire_due)
                )
            if ok and time.monotonic() >= next_purge:
                ok = (
                    self._safely("deleting expired results", self.purge)
                    and self._safely("deleting old task metrics", self.purge_metrics)
                    and self._safely("history upkeep", self._upkeep.run)
                )
                if ok:
                    next_purge = time.monotonic() + self._cleanup_interval_s
            if ok:
                self._backoff.succeeded()
                wait_s = next_purge - time.monotonic()
                if self._env.periodic:
                    wait_s = min(wait_s, self._poll_s)
            else:
                wait_s = self._backoff.seconds_left()
            self._stop.wait(max(0.0, wait_s))

    def _safely(self, what: str, chore: Callable[[int], object]) -> bool:
        """Run ``chore``; a failure is logged once per back-off step and returns False."""
        try:
            chore(now_ms())
        except Exception as exc:
            self._backoff.failed(exc, what)
            return False
        return True

    # --- the chores -----------------------------------------------------------------------

    def register(self, now: int) -> None:
        """Store each declared schedule not stored by this worker yet, with ``next_run`` the
        first slot after ``now``. A schedule already stored with the same cron and timezone
        keeps its ``next_run`` (storage rule), so a restart neither re-fires nor skips."""
        for name, spec in list(self._env.periodic.items()):
            stored_name = self.stored_name(name)
            if stored_name in self._registered or name in self._failed:
                continue
            try:
                cron = self._cron(spec.cron, spec.timezone)
                payload = self._payload(spec)
            except Exception:
                logger.exception("periodic schedule %r cannot be registered; skipped", name)
                self._failed.add(name)
                continue
            first = cron.next_after(now)
            self._storage.register_periodic(
                PeriodicSchedule(
                    name=stored_name,
                    task_name=spec.task_name,
                    cron=spec.cron,
                    timezone=spec.timezone,
                    queue=spec.queue,
                    payload=payload,
                    next_run=NEVER_MS if first is None else first,
                )
            )
            self._registered.add(stored_name)
            self._declared[stored_name] = spec

    def stored_name(self, name: str) -> str:
        """The schedule's name in storage: a Queue with a namespace keeps its schedules apart
        from another namespace's schedule of the same name on the same database."""
        namespace = self._env.namespace
        return name if namespace is None else f"{namespace}:{name}"

    def fire_due(self, now: int) -> list[JobRecord]:
        """Fire every due schedule this worker registered; return the jobs it enqueued (a
        slot another worker fired first is not among them)."""
        fired: list[JobRecord] = []
        for schedule in self._storage.due_periodic(now):
            if schedule.name not in self._registered:
                continue  # declared by another app on this database: its workers fire it
            try:
                job = self._fire(schedule, now)
            except Exception:
                logger.exception("firing periodic schedule %r failed", schedule.name)
                continue
            if job is not None:
                fired.append(job)
        if fired and self._on_fired is not None:
            self._on_fired(fired)
        return fired

    def purge(self, now: int) -> int:
        """Delete finished jobs whose ``result_ttl`` has run out; return how many."""
        deleted = self._storage.purge_expired_results(now)
        if deleted:
            logger.info("deleted %d job(s) whose result_ttl ran out", deleted)
        return deleted

    def purge_metrics(self, now: int) -> int:
        """Delete task metric rows older than ``Queue(metrics_retention=...)`` (none when it is
        None), in chunks so that no single delete holds the database for long; return how
        many. Stopping the scheduler stops it between chunks."""
        retention_ms = self._env.metrics_retention_ms
        if retention_ms is None:
            return 0
        before = now - retention_ms
        deleted = 0
        while True:
            chunk = self._storage.purge_metrics(before, METRICS_PURGE_CHUNK)
            deleted += chunk
            if chunk < METRICS_PURGE_CHUNK or self._stop.is_set():
                break
        if deleted:
            logger.debug("deleted %d task metric row(s) past their retention", deleted)
        return deleted

    # --- firing one slot ------------------------------------------------------------------

    def _fire(self, schedule: PeriodicSchedule, now: int) -> JobRecord | None:
        slot = schedule.next_run
        following = self._cron(schedule.cron, schedule.timezone).next_after(max(now, slot))
        job = self._job_for(schedule, slot, now)
        record = self._storage.fire_periodic(
            schedule.name, slot, NEVER_MS if following is None else following, job
        )
        if record is not None:
            logger.debug(
                "periodic schedule %r fired slot %d",
                schedule.name,
                slot,
                extra={"schedule": schedule.name, "slot": slot, "job_id": record.id},
            )
        return record

    def _job_for(self, schedule: PeriodicSchedule, slot: int, now: int) -> NewJob:
        """The slot's job, with the task's own priority, retries and timeout (the reference
        uses fixed defaults; see docs/periodic.md) and a unique key per slot."""
        declared = self._declared.get(schedule.name)
        # The declaration in code, not the stored row, says which task runs with which args.
        task_name = schedule.task_name if declared is None else declared.task_name
        queue = schedule.queue if declared is None else declared.queue
        spec = self._env.lookup(task_name)
        priority, max_retries = _DEFAULT_PRIORITY, _DEFAULT_MAX_RETRIES
        timeout_ms: int | None = _DEFAULT_TIMEOUT_MS
        if spec is not None:
            priority, max_retries = spec.priority, spec.max_retries
            timeout_ms = None if spec.timeout_s is None else round(spec.timeout_s * 1000)
        job_id = new_job_id()
        payload = schedule.payload
        if declared is not None:
            payload = self._bound_payload(declared, job_id)
        return NewJob(
            id=job_id,
            queue=queue,
            task_name=task_name,
            payload=payload,
            priority=priority,
            created_at=now,
            scheduled_at=now,
            max_retries=max_retries,
            timeout_ms=timeout_ms,
            unique_key=f"periodic:{schedule.name}:{slot}",
            result_ttl_ms=self._env.result_ttl_ms,
            namespace=self._env.namespace,
        )

    def _cron(self, expression: str, timezone: str | None) -> CronSchedule:
        key = (expression, timezone)
        cron = self._crons.get(key)
        if cron is None:
            cron = self._crons[key] = CronSchedule.parse(expression, timezone)
        return cron

    def _serializer(self, spec: PeriodicSpec) -> Serializer:
        """The serializer the job will be decoded with: the task's own, else the queue's."""
        task = self._env.lookup(spec.task_name)
        serializer = task.serializer if task is not None and task.serializer else None
        return serializer or self._env.serializer

    def _payload(self, spec: PeriodicSpec) -> bytes:
        """``(args, kwargs)`` as stored with the schedule (for inspection)."""
        return self._serializer(spec).dumps((spec.args, spec.kwargs))

    def _bound_payload(self, spec: PeriodicSpec, job_id: str) -> bytes:
        """The fired job's payload. When the queue signs (or its serializer binds the job), it
        is encoded for this job id from the declaration and signed: the stored copy is never
        signed on a worker's behalf, so a row rewritten in the store gains nothing."""
        serializer = self._serializer(spec)
        signer = self._env.signer
        if signer is None and not binds_context(serializer):
            return self._payload(spec)
        context = payload_context(job_id, spec.task_name)
        return seal(signer, context, dumps_bound(serializer, (spec.args, spec.kwargs), context))


__all__ = ["METRICS_PURGE_CHUNK", "NEVER_MS", "PeriodicScheduler"]
