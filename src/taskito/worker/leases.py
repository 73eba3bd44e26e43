"""The lease keeper: a thread that keeps this worker visibly alive and cleans up after dead ones.

It heartbeats the worker row, extends the leases of the jobs held here well before they
expire, rescues jobs whose lease expired (their worker died: docs/architecture.md, invariant 4),
releases at once the jobs of a worker on this host whose process is gone, and reaps worker rows that
stopped heartbeating. A rescue never spends a retry; a job rescued ``max_rescues`` times is
dead-lettered as a poison pill (``Storage.release_jobs``).

The default timings bound crash recovery at 5 s (docs/reliability.md): a lease of 4 s,
extended every second from this thread, lapses at most 4 s after its worker died, and the
reaper of any live worker finds it within 0.5 s. A live worker loses a lease only when its
extensions fail for 3 s in a row.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from taskito.job import JobRecord, now_ms
from taskito.storage.base import DEFAULT_MAX_RESCUES, Storage
from taskito.worker.backoff import Backoff
from taskito.worker.liveness import this_host, worker_is_dead_here
from taskito.worker.running import HeldJobs

logger = logging.getLogger("taskito.worker.leases")


@dataclass(frozen=True, slots=True)
class LeaseTimings:
    """How often the keeper acts. Leases are extended four times per lease period."""

    lease_ms: int = 4_000
    heartbeat_interval_s: float = 1.0
    reap_interval_s: float = 0.5
    worker_stale_s: float = 10.0

    def __post_init__(self) -> None:
        if not isinstance(self.lease_ms, int) or isinstance(self.lease_ms, bool):
            raise TypeError(f"lease_ms must be an int, not {type(self.lease_ms).__name__}")
        if self.lease_ms < 100:
            raise ValueError(f"lease_ms must be at least 100, got {self.lease_ms}")
        for name in ("heartbeat_interval_s", "reap_interval_s", "worker_stale_s"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")

    @property
    def extend_interval_s(self) -> float:
        return self.lease_ms / 4000.0

    @property
    def quiet_ms(self) -> int:
        """How long a worker on this host whose pid is gone must have been silent before its
        jobs are released (a live one in another pid namespace heartbeats meanwhile)."""
        return round(self.heartbeat_interval_s * 1500)


def log_rescued(jobs: list[JobRecord], max_rescues: int, why: str) -> None:
    """One line per worker whose jobs were rescued, one WARNING per poison pill. ``jobs`` are
    the records as they were before (a poison pill had already been rescued max_rescues
    times)."""
    by_worker: dict[str | None, list[JobRecord]] = {}
    for job in jobs:
        by_worker.setdefault(job.worker_id, []).append(job)
    for worker_id, held in by_worker.items():
        rescued = [job.id for job in held if job.rescue_count < max_rescues]
        if rescued:
            logger.warning(
                "rescued %d job(s) of worker %s (%s); they run again, no retry spent: %s",
                len(rescued),
                worker_id,
                why,
                ", ".join(rescued),
                extra={"worker_id": worker_id, "job_ids": rescued},
            )
        for job in held:
            if job.rescue_count >= max_rescues:
                logger.warning(
                    "job %s (task %s) dead-lettered as a poison pill: rescued %d times, its"
                    " worker kept dying while running it",
                    job.id,
                    job.task_name,
                    job.rescue_count,
                    extra={"job_id": job.id, "task_name": job.task_name, "worker_id": worker_id},
                )


def release(
    storage: Storage,
    worker_id: str,
    keep: Collection[str],
    max_rescues: int,
    why: str,
    reason: str,
) -> bool:
    """``Storage.release_jobs`` now, logged (``why`` in the log line, ``reason`` in the error
    rows). When storage fails the jobs' leases, no longer extended, expire instead."""
    try:
        released = storage.release_jobs(worker_id, keep, now_ms(), max_rescues, reason)
    except Exception as exc:
        logger.warning(
            "could not release the jobs of worker %s (%s): %s; their leases will expire and"
            " another worker will run them again",
            worker_id,
            why,
            exc,
            extra={"worker_id": worker_id},
        )
        return False
    log_rescued(released, max_rescues, why)
    return True


class LeaseKeeper:
    """Runs the periodic storage chores of one worker on its own thread."""

    def __init__(
        self,
        storage: Storage,
        worker_id: str,
        held: HeldJobs,
        timings: LeaseTimings,
        *,
        status: Callable[[], str],
        on_lost: Callable[[list[str]], None],
        on_requeued: Callable[[list[JobRecord]], None],
        on_reaped: Callable[[list[str]], None],
        max_rescues: int = DEFAULT_MAX_RESCUES,
        check_pids: bool = True,
        resource_health: Callable[[], Mapping[str, str] | None] | None = None,
    ) -> None:
        self._storage = storage
        self._worker_id = worker_id
        self._held = held
        self._timings = timings
        self._status = status
        self._resource_health = resource_health
        self._on_lost = on_lost
        self._on_requeued = on_requeued
        self._on_reaped = on_reaped
        self._max_rescues = max_rescues
        self._check_pids = check_pids
        self._host = this_host()
        self._stop = threading.Event()
        self._poke = threading.Event()
        self._backoffs = (
            Backoff("heartbeat", logger),
            Backoff("extending leases", logger),
            Backoff("rescuing jobs of dead workers", logger),
        )
        self._thread = threading.Thread(target=self._run, name="taskito-leases", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._poke.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def heartbeat_soon(self) -> None:
        """Send a heartbeat now, e.g. to publish a status change."""
        self._poke.set()

    def _run(self) -> None:
        timings = self._timings
        now = time.monotonic()
        next_extend = now + timings.extend_interval_s
        next_heartbeat = now + timings.heartbeat_interval_s
        next_reap = now  # a starting worker recovers what a dead one left at once
        while not self._stop.is_set():
            now = time.monotonic()
            if self._poke.is_set() or now >= next_heartbeat:
                self._poke.clear()
                self._safely(self._backoffs[0], self._heartbeat)
                next_heartbeat = now + timings.heartbeat_interval_s
            if now >= next_extend:
                self._safely(self._backoffs[1], self.extend_leases)
                next_extend = now + timings.extend_interval_s
            if now >= next_reap:
                self._safely(self._backoffs[2], self.recover)
                next_reap = now + timings.reap_interval_s
            wait_s = min(next_extend, next_heartbeat, next_reap) - time.monotonic()
            self._poke.wait(max(0.0, wait_s))

    def _heartbeat(self) -> None:
        if self._resource_health is None:
            self._storage.heartbeat(self._worker_id, self._status(), now_ms())
            return
        health = self._resource_health()
        self._storage.heartbeat(self._worker_id, self._status(), now_ms(), health)

    def extend_leases(self) -> None:
        """Push the leases of every job held here; report the ones storage no longer gives us."""
        job_ids = self._held.ids()
        if not job_ids:
            return
        kept = self._storage.extend_leases(
            self._worker_id, job_ids, now_ms(), self._timings.lease_ms
        )
        missing = set(job_ids) - kept
        if missing:
            # Only a job still running can be lost; a settled one is missing because its
            # outcome was just written (or will be fenced out), and needs no cancel.
            still_running = [job_id for job_id in self._held.executing_ids() if job_id in missing]
            if still_running:
                self._on_lost(still_running)

    def recover(self) -> None:
        """Rescue the jobs of dead workers (expired leases; on this host, a gone pid) and reap
        worker rows that stopped heartbeating."""
        now = now_ms()
        requeued = self._storage.requeue_expired(now, self._max_rescues)
        if requeued:
            log_rescued(requeued, self._max_rescues, "it stopped renewing its lease")
            self._on_requeued(requeued)
        if self._check_pids:
            self._release_dead_neighbours(now)
        stale_before = now - round(self._timings.worker_stale_s * 1000)
        reaped = self._storage.reap_workers(stale_before)
        if reaped:
            for worker_id in reaped:
                if worker_id != self._worker_id:
                    logger.warning("worker %s stopped heartbeating; removed", worker_id)
            self._on_reaped(reaped)

    def _release_dead_neighbours(self, now: int) -> None:
        """A worker on this host whose process is gone: release all its jobs at once (no
        waiting for the leases) and remove its row."""
        quiet_ms = self._timings.quiet_ms
        for worker in self._storage.list_workers():
            if not worker_is_dead_here(worker, self._worker_id, self._host, now, quiet_ms):
                continue
            why = f"its process {worker.pid} on {worker.hostname} is gone"
            released = self._storage.release_jobs(
                worker.worker_id,
                (),
                now,
                self._max_rescues,
                f"rescued: worker {worker.worker_id} died ({why})",
            )
            self._storage.unregister_worker(worker.worker_id)
            logger.warning("worker %s died (%s); removed", worker.worker_id, why)
            if released:
                log_rescued(released, self._max_rescues, why)
                self._on_requeued(released)
            self._on_reaped([worker.worker_id])

    def _safely(self, backoff: Backoff, chore: Callable[[], None]) -> None:
        """Run one chore. The chores keep their own schedule through an outage (a lease must
        be extended as soon as storage is back), so the back-off only paces the log: one line
        per back-off step, not one per try."""
        try:
            chore()
        except Exception as exc:
            if backoff.ready():
                backoff.failed(exc)
            else:
                backoff.failed_quietly()
            return
        backoff.succeeded()


__all__ = ["LeaseKeeper", "LeaseTimings", "log_rescued", "release"]
