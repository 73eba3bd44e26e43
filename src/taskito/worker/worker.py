"""The worker loop: claim as many jobs as the pool has free slots, hand them to the pool, and
write their outcomes in batches; drain or stop on request or on SIGINT/SIGTERM.

One thread (the caller of ``run()``) owns every state change on the consuming side; right
after each claim it resolves each job's task once (``ExecutionEnv.resolve``: the ``ClaimedJob``
that the gate, the pool, ``run_job`` and the outcome writer share) and lets the flow gate
(``flow``) hold back jobs that a limit, cap or circuit breaker does not let start yet. Helper
threads keep leases and heartbeats (``leases``), watch for cancel requests and storage changes
(``cancel_watch``), and fire periodic schedules and delete expired results (``scheduler``);
they only write their own state, wake this loop or signal the pool.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from taskito.events import EventType
from taskito.job import JobRecord, Outcome, OutcomeKind, now_ms
from taskito.storage.base import Finish, WorkerInfo
from taskito.worker.alarms import Alarms
from taskito.worker.backoff import Backoff
from taskito.worker.banner import log_start
from taskito.worker.cancel_watch import CancelWatcher
from taskito.worker.flow import FlowGate
from taskito.worker.leases import LeaseKeeper, release
from taskito.worker.outcomes import OutcomeApplier
from taskito.worker.overrides import OverrideSnapshot
from taskito.worker.pools import Pool, create_pool
from taskito.worker.reclaim import defer_still_held
from taskito.worker.resources import WorkerResources
from taskito.worker.running import HeldJob, HeldJobs
from taskito.worker.scheduler import PeriodicScheduler
from taskito.worker.settings import WorkerSettings
from taskito.worker.signals import install_shutdown_handlers
from taskito.worker.watchdog import WATCHDOG_S, expire_overdue
from taskito.worker.workflow_sweep import WorkflowSweeper, workflow_run_hint

if TYPE_CHECKING:
    from taskito.events import EventBus
    from taskito.registry import ExecutionEnv
    from taskito.resources.runtime import ResourceRuntime

logger = logging.getLogger("taskito.worker")

ClaimReply = tuple[list[bool], list[JobRecord]]
#: What the display metadata of a workflow node's job holds (``workflows/jobs.py``).
_WORKFLOW_MARK = '"workflow_run_id"'


class Worker:
    """Consumes jobs of ``queues`` (None: every queue) from ``env.storage`` until shut down."""

    def __init__(
        self,
        env: ExecutionEnv,
        event_bus: EventBus | None,
        settings: WorkerSettings | None = None,
        *,
        pool: Pool | None = None,
    ) -> None:
        """``settings`` (checked when built; defaults if None) say how to consume; ``pool``,
        when given, is used instead of the one ``settings`` name."""
        settings = settings if settings is not None else WorkerSettings()
        self._settings = settings
        self._env = env
        self._storage = env.storage
        self._events = event_bus
        self._queues = settings.queues
        self._timings = settings.timings
        self._pool = pool if pool is not None else _build_pool(env, settings)
        self.worker_id = uuid.uuid4().hex
        self._held = HeldJobs()
        self._applier = OutcomeApplier(env, event_bus)
        self._finished: queue.SimpleQueue[tuple[JobRecord, Outcome]] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._state_lock = threading.Lock()
        self._ran = False
        self._draining = False
        self._stop_now = False
        self._drain_deadline = float("inf")
        # Claims and outcome writes back off apart: one failing must not hold up the other.
        backoff_s = settings.storage_backoff_s
        backoff_max_s = max(backoff_s, settings.storage_backoff_max_s)
        self._claim_backoff = Backoff(
            "claiming jobs", logger, first_s=backoff_s, max_s=backoff_max_s
        )
        self._flush_backoff = Backoff(
            "writing outcomes", logger, first_s=backoff_s, max_s=backoff_max_s
        )
        self._alarms = Alarms()
        self._resources = WorkerResources(env, on_unhealthy=self._resources_unhealthy)
        self._watcher = CancelWatcher(
            self._storage,
            self._held,
            deliver=self._pool.cancel,
            on_change=self._wake.set,
            poll_s=settings.cancel_poll_s,
        )
        self._keeper = self._make_lease_keeper()
        self._overrides = OverrideSnapshot(self._storage)
        self._gate = FlowGate(env, overrides=self._overrides, running_here=self._held.executing_of)
        self._scheduler = PeriodicScheduler(
            env,
            cleanup_interval_s=settings.cleanup_interval_s,
            on_fired=lambda _jobs: self._wake.set(),
        )
        self._workflows: WorkflowSweeper | None = None
        if env.advancer is not None:
            self._workflows = WorkflowSweeper(self._storage, env.advancer)

    def _make_lease_keeper(self) -> LeaseKeeper:
        return LeaseKeeper(
            self._storage,
            self.worker_id,
            self._held,
            self._timings,
            status=lambda: self.status,
            on_lost=self._leases_lost,
            on_requeued=lambda _jobs: self._wake.set(),
            on_reaped=self._workers_reaped,
            max_rescues=self._env.max_rescues,
            check_pids=self._settings.check_pids,
            resource_health=self._resources.heartbeat_health if self._resources.defined else None,
        )

    # --- public surface -----------------------------------------------------------------

    @property
    def status(self) -> str:
        return "draining" if self._draining else "active"

    @property
    def pool(self) -> Pool:
        return self._pool

    @property
    def resource_runtime(self) -> ResourceRuntime | None:
        """This worker's resources while it runs (None before and after, or without any)."""
        return self._resources.live_runtime

    def request_shutdown(self, *, immediate: bool = False) -> None:
        """Stop claiming and let running jobs finish (up to ``drain_timeout_s``); with
        ``immediate`` stop without waiting for them. Safe from any thread, any number of times."""
        with self._state_lock:
            if not self._draining:
                self._draining = True
                self._drain_deadline = time.monotonic() + self._settings.drain_timeout_s
                logger.info("worker draining", extra={"worker_id": self.worker_id})
                self._keeper.heartbeat_soon()
            if immediate and not self._stop_now:
                self._stop_now = True
                logger.info("worker stopping now", extra={"worker_id": self.worker_id})
        self._wake.set()

    def run(self) -> None:
        """Register, consume until shut down, then unregister. Blocks; call it once."""
        with self._state_lock:
            if self._ran:
                raise RuntimeError("Worker.run() can only be called once")
            self._ran = True
        self._resources.start()  # first: a factory that raises stops it having claimed nothing
        try:
            self._storage.register_worker(self._info())
        except BaseException:
            self._resources.stop()
            raise
        restore = (
            install_shutdown_handlers(self._on_signal) if self._settings.install_signals else None
        )
        started = False
        try:
            self._emit(
                EventType.WORKER_STARTED, {"worker_id": self.worker_id, **self._queues_payload()}
            )
            self._emit(
                EventType.WORKER_ONLINE,
                {"worker_id": self.worker_id, **self._queues_payload(), "pool": self._pool.name},
            )
            self._pool.start()
            started = True
            self._keeper.start()
            self._watcher.start()
            self._scheduler.start()
            if self._workflows is not None:
                self._workflows.start()
            if self._settings.install_signals:  # SIGHUP reloads, passed on to prefork children
                self._resources.install_reload_signal(getattr(self._pool, "child_pids", None))
            log_start(self._env, self._pool, self._queues, self.worker_id)
            self._loop()
        finally:
            self._wind_down(started)
            if restore is not None:
                restore()

    # --- the loop -----------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            self._wake.clear()
            self._collect_finished()
            expire_overdue(self._held, self._pool)
            self._claim_and_flush()
            if self._stop_now:
                return
            if self._draining and (
                len(self._held) == 0 or time.monotonic() >= self._drain_deadline
            ):
                return
            self._wake.wait(self._wait_s())

    def _wait_s(self) -> float:
        now = time.monotonic()
        wait_s = self._settings.idle_poll_s
        deadline = self._held.next_deadline()
        if deadline is not None:
            # The hard-timeout watchdog: wake at the deadline, and at least every 250 ms.
            wait_s = min(wait_s, deadline - now, WATCHDOG_S)
        if self._draining:
            wait_s = min(wait_s, self._drain_deadline - now)
        for backoff in (self._claim_backoff, self._flush_backoff):
            if backoff.retry_at > now:
                wait_s = min(wait_s, backoff.retry_at - now)
        alarm_s = self._alarms.seconds_left(now)
        if alarm_s is not None:
            wait_s = min(wait_s, alarm_s)
        return max(0.0, wait_s)

    def _claim_and_flush(self) -> None:
        """Write the settled outcomes and claim a job for each free slot: in one storage call
        when there are both (one transaction per wake-up however many slots freed), else
        whichever there is, claiming first so the pool runs the new jobs meanwhile."""
        free = 0
        if not self._draining and self._claim_backoff.ready():
            free = self._pool.free_slots(self._held.executing)
        settled = self._held.settled() if self._flush_backoff.ready() else []
        if free > 0 and settled and self._applier.can_claim_with():
            self._finish_and_claim(settled, free)
            return
        if free > 0:
            self._claim(free)
        self._flush()

    def _finish_and_claim(self, settled: list[HeldJob], free: int) -> None:
        claimed_at = 0

        def finish_and_claim(finishes: Sequence[Finish], now: int) -> ClaimReply:
            nonlocal claimed_at
            claimed_at = now
            return self._storage.finish_and_claim(
                finishes,
                self.worker_id,
                self._queues,
                self._env.namespace,
                free,
                now,
                self._timings.lease_ms,
            )

        try:
            next_retry_at, jobs = self._applier.apply(settled, finish_and_claim)
        except Exception as exc:
            # Any part may have committed: the outcomes are checked when written again (alone:
            # the next claim goes by itself, and backs off by itself should it fail too), and
            # jobs claimed for this worker that it never saw are given back.
            self._flush_backoff.failed(exc)
            self._release_unheld("its claim reply was lost")
            return
        self._flush_backoff.succeeded()
        self._claim_backoff.succeeded()
        self._held.release(settled)
        self._poke_workflows(settled)
        if next_retry_at is not None:
            self._alarms.add(next_retry_at)
        self._start_claimed(jobs, claimed_at, free)

    def _claim(self, free: int) -> None:
        now = now_ms()
        try:
            jobs = self._storage.claim(
                self.worker_id, self._queues, self._env.namespace, free, now, self._timings.lease_ms
            )
        except Exception as exc:
            self._claim_backoff.failed(exc)
            self._release_unheld("its claim reply was lost")
            return
        self._claim_backoff.succeeded()
        self._start_claimed(jobs, now, free)

    def _start_claimed(self, jobs: list[JobRecord], now: int, free: int) -> None:
        """Resolve, apply the runtime overrides, gate and start the jobs just claimed for
        ``free`` slots."""
        self._overrides.refresh()  # a settings read at most once a second
        resolve, override = self._env.resolve, self._overrides.resolve
        # Limits, caps and breakers hold some jobs back (to pending, no retry spent).
        admission = self._gate.admit([override(resolve(job)) for job in jobs], now)
        self._alarms.add_all(admission.due_again)
        admitted, due_again = defer_still_held(
            self._storage, self.worker_id, set(self._held.ids()), admission.admitted, now
        )
        if due_again is not None:
            self._alarms.add(due_again)
        started_mono = time.monotonic()
        for claimed in admitted:
            self._start(self._held.add(claimed, started_mono))
        if len(jobs) == free and self._pool.free_slots(self._held.executing) > 0:
            # A full batch: more may be waiting, and some slots (an event loop's) are still
            # free, so look again without waiting for the next wake-up.
            self._wake.set()

    def _start(self, held: HeldJob) -> None:
        job = held.job
        try:
            self._pool.submit(held.claimed, self._on_done)
        except Exception as exc:
            logger.exception("the pool could not start job %s", job.id, extra={"job_id": job.id})
            self._held.settle(held, Outcome(OutcomeKind.FAILURE, error=f"pool error: {exc!r}"))
            return
        if held.cancel_requested:
            self._pool.cancel(job.id)

    def _on_done(self, job: JobRecord, outcome: Outcome) -> None:
        """Called by the pool from its own threads."""
        self._finished.put((job, outcome))
        if not self._wake.is_set():
            self._wake.set()

    def _collect_finished(self) -> None:
        while True:
            try:
                job, outcome = self._finished.get_nowait()
            except queue.Empty:
                return
            held = self._held.get(job.id, job.attempt)
            if held is None or not self._held.settle(held, outcome):
                logger.info(
                    "late result of job %s dropped (timed out or no longer held)",
                    job.id,
                    extra={"job_id": job.id, "attempt": job.attempt},
                )

    def _flush(self) -> None:
        settled = self._held.settled()
        if not settled or not self._flush_backoff.ready():
            return
        try:
            next_retry_at, _ = self._applier.apply(settled)
        except Exception as exc:
            # Nothing written: the outcomes stay held and are written after the back-off.
            self._flush_backoff.failed(exc)
            return
        self._flush_backoff.succeeded()
        self._held.release(settled)
        self._poke_workflows(settled)
        if next_retry_at is not None:
            self._alarms.add(next_retry_at)  # wake when the retry is due, not at the idle poll

    def _poke_workflows(self, settled: list[HeldJob]) -> None:
        """Outcomes of workflow jobs were written: have their runs advanced soon (the run id
        in the job's display metadata is only a hint; advancing any run is harmless)."""
        if self._workflows is None:
            return
        run_ids = [
            run_id
            for held in settled
            if held.job.metadata is not None and _WORKFLOW_MARK in held.job.metadata
            for run_id in [workflow_run_hint(held.job.metadata)]
            if run_id is not None
        ]
        if run_ids:
            self._workflows.poke(run_ids)

    # --- start and stop -----------------------------------------------------------------

    def _wind_down(self, started: bool) -> None:
        if started:
            self._collect_finished()
            self._flush()
            self._pool.shutdown(0.0 if self._stop_now else self._drain_remaining_s())
            self._collect_finished()
            self._flush()
            self._gate.write_unwritten(now_ms())
            self._scheduler.stop()
            if self._workflows is not None:
                self._workflows.stop()
            self._watcher.stop()
            self._keeper.stop()
        if self._held.ids():
            self._release_unfinished()
        self._resources.stop()
        self._emit(EventType.WORKER_STOPPED, {"worker_id": self.worker_id})
        try:
            self._storage.unregister_worker(self.worker_id)
        except Exception:
            logger.exception("unregistering the worker failed")
        logger.info("worker stopped", extra={"worker_id": self.worker_id})

    def _release_unheld(self, why: str) -> None:
        """Rescue the rows running under this worker that it does not hold: a claim that
        committed but whose reply was lost (the worker never saw them). If this fails too,
        their leases, never extended here, expire and another worker rescues them."""
        reason = f"rescued: worker {self.worker_id} never saw the job ({why})"
        held = [*self._held.ids(), *self._gate.unwritten_ids()]
        release(self._storage, self.worker_id, held, self._env.max_rescues, why, reason)

    def _release_unfinished(self) -> None:
        """Stopping with jobs unfinished (drain timeout, or a second signal): give them back at
        once, as rescues, so they run again elsewhere without waiting for their leases."""
        if self._stop_now:
            why = "it was told to stop now with the job unfinished"
        else:
            why = "its drain timeout ran out with the job unfinished"
        reason = f"rescued: worker {self.worker_id} stopped ({why})"
        release(self._storage, self.worker_id, (), self._env.max_rescues, why, reason)

    def _drain_remaining_s(self) -> float:
        if not self._draining:
            return self._settings.drain_timeout_s
        return max(0.0, self._drain_deadline - time.monotonic())

    def _on_signal(self, signum: int) -> None:
        if self._draining:
            logger.warning("second signal %d: stopping now", signum)
            self.request_shutdown(immediate=True)
        else:
            logger.warning("signal %d: draining; send it again to stop now", signum)
            self.request_shutdown()

    def _info(self) -> WorkerInfo:
        now = now_ms()
        return WorkerInfo(
            worker_id=self.worker_id,
            hostname=socket.gethostname(),
            pid=os.getpid(),
            queues=self._queues,
            pool=self._pool.name,
            threads=self._pool.capacity,
            status=self.status,
            started_at=now,
            last_heartbeat=now,
            tags=self._settings.tags,
            resources=self._resources.names(),
        )

    def _queues_payload(self) -> dict[str, Any]:
        return {"queues": list(self._queues) if self._queues is not None else None}

    # --- helper-thread callbacks ----------------------------------------------------------

    def _leases_lost(self, job_ids: list[str]) -> None:
        for job_id in job_ids:
            logger.warning(
                "lease of job %s was lost (rescued for another worker); asking it to stop",
                job_id,
                extra={"job_id": job_id, "worker_id": self.worker_id},
            )
            self._pool.cancel(job_id)

    def _workers_reaped(self, worker_ids: list[str]) -> None:
        for worker_id in worker_ids:
            if worker_id == self.worker_id:
                # This worker stalled past the stale limit; it is alive, so register again.
                self._storage.register_worker(self._info())
                continue
            self._emit(EventType.WORKER_OFFLINE, {"worker_id": worker_id})

    def _resources_unhealthy(self, names: list[str]) -> None:
        self._keeper.heartbeat_soon()  # publish the new health now, not at the next beat
        self._emit(EventType.WORKER_UNHEALTHY, {"worker_id": self.worker_id, "resources": names})

    def _emit(self, event_type: EventType, payload: dict[str, Any]) -> None:
        if self._events is None:
            return
        try:
            self._events.emit(event_type, payload)
        except Exception:
            logger.exception("emitting %s failed", event_type)


def _build_pool(env: ExecutionEnv, settings: WorkerSettings) -> Pool:
    return create_pool(
        settings.pool,
        env,
        settings.threads,
        app=settings.app,
        async_concurrency=settings.async_concurrency,
        max_tasks_per_child=settings.max_tasks_per_child,
    )


__all__ = ["Worker"]
