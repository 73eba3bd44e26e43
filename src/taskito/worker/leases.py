"""The lease keeper: a thread that keeps this worker visibly alive and cleans up after dead ones.

It heartbeats the worker row, extends the leases of the jobs held here well before they
expire, requeues jobs whose lease expired (their worker died: DESIGN invariant 4) and reaps
worker rows that stopped heartbeating.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from taskito.job import JobRecord, now_ms
from taskito.storage.base import Storage
from taskito.worker.running import HeldJobs

logger = logging.getLogger("taskito.worker.leases")


@dataclass(frozen=True, slots=True)
class LeaseTimings:
    """How often the keeper acts. Leases are extended four times per lease period."""

    lease_ms: int = 10_000
    heartbeat_interval_s: float = 2.0
    reap_interval_s: float = 1.0
    worker_stale_s: float = 30.0

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
    ) -> None:
        self._storage = storage
        self._worker_id = worker_id
        self._held = held
        self._timings = timings
        self._status = status
        self._on_lost = on_lost
        self._on_requeued = on_requeued
        self._on_reaped = on_reaped
        self._stop = threading.Event()
        self._poke = threading.Event()
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
                self._safely("heartbeat", self._heartbeat)
                next_heartbeat = now + timings.heartbeat_interval_s
            if now >= next_extend:
                self._safely("extending leases", self.extend_leases)
                next_extend = now + timings.extend_interval_s
            if now >= next_reap:
                self._safely("requeueing expired leases", self.recover)
                next_reap = now + timings.reap_interval_s
            wait_s = min(next_extend, next_heartbeat, next_reap) - time.monotonic()
            self._poke.wait(max(0.0, wait_s))

    def _heartbeat(self) -> None:
        self._storage.heartbeat(self._worker_id, self._status(), now_ms())

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
        """Requeue jobs of dead workers and reap worker rows that stopped heartbeating."""
        now = now_ms()
        requeued = self._storage.requeue_expired(now)
        if requeued:
            logger.warning(
                "requeued %d job(s) whose worker stopped renewing its lease",
                len(requeued),
                extra={"job_ids": [job.id for job in requeued]},
            )
            self._on_requeued(requeued)
        stale_before = now - round(self._timings.worker_stale_s * 1000)
        reaped = self._storage.reap_workers(stale_before)
        if reaped:
            self._on_reaped(reaped)

    def _safely(self, what: str, chore: Callable[[], None]) -> None:
        try:
            chore()
        except Exception:
            logger.exception("%s failed; will try again", what)


__all__ = ["LeaseKeeper", "LeaseTimings"]
