"""The cancel watcher: a thread that finds cancel requests for the jobs running here and pushes
them to the pool, and that relays storage change notifications to the worker loop.

It asks storage every ``poll_s`` while jobs run, and at once when ``wait_for_change`` fires, so
``check_cancelled()`` itself never does I/O (docs/architecture.md, invariant 5).

While the worker churns through short jobs (a drain), every claim and finish is a change, so
rounds would come back to back, each a read and a wake-up of the worker loop that takes the GIL
from the loop in the middle of its write. The watcher keeps ``min_interval_s`` between rounds
(a cancel is seen about a millisecond after it is written) unless the worker took on jobs at
``_BUSY_JOBS_PER_S`` or faster since the previous round: then ``busy_interval_s`` (a cancel
made during a drain waits at most that long). Only the worker's own churn slows it: changes made by
others, however many, do not.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from taskito.storage.base import Storage
from taskito.worker.backoff import Backoff
from taskito.worker.running import HeldJobs

logger = logging.getLogger("taskito.worker.cancel_watch")
#: How long ``start()`` waits for the watcher to begin counting changes.
_READY_TIMEOUT_S = 5.0
#: The rate of jobs taken on (since the previous round began) that makes the next round wait
#: ``busy_interval_s``: a job a millisecond or more is a drain of short jobs.
_BUSY_JOBS_PER_S = 1000.0


class CancelWatcher:
    """Delivers new cancel requests through ``deliver(job_id, force)``; calls ``on_change()`` when
    storage reports a change (an enqueue, a cancel, a finish)."""

    def __init__(
        self,
        storage: Storage,
        held: HeldJobs,
        deliver: Callable[[str, bool], object],
        on_change: Callable[[], None],
        *,
        poll_s: float = 0.005,
        idle_wait_s: float = 0.1,
        min_interval_s: float = 0.001,
        busy_interval_s: float = 0.005,
        name: str = "taskito-cancel-watch",
    ) -> None:
        self._storage = storage
        self._held = held
        self._deliver = deliver
        self._on_change = on_change
        self._poll_s = poll_s
        self._idle_wait_s = idle_wait_s
        self._min_interval_s = min_interval_s
        self._busy_interval_s = busy_interval_s
        self._backoff = Backoff("watching for cancel requests", logger)
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        """Start the thread and wait until it counts changes, so a cancel request made right
        after the worker's first claim is not missed (``wait_for_change`` counts the changes
        since the calling thread's previous call; on a server backend the first call also
        opens the LISTEN or pub/sub connection)."""
        self._thread.start()
        if not self._ready.wait(_READY_TIMEOUT_S):
            logger.warning("the cancel watcher is slow to start; cancels may wait for a poll")

    def stop(self) -> None:
        """Stop and join; returns within about ``idle_wait_s``."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        self._begin_counting()
        last_round = 0.0
        taken = self._held.taken
        interval = self._min_interval_s
        while not self._stop.is_set():
            # Changes arrive back to back under load: keep a floor between rounds, longer
            # while the worker took on several jobs since the previous round began.
            pause = last_round + interval - time.monotonic()
            if pause > 0 and self._stop.wait(pause):
                return
            now, now_taken = time.monotonic(), self._held.taken
            busy = now_taken - taken >= max(2.0, (now - last_round) * _BUSY_JOBS_PER_S)
            interval = self._busy_interval_s if busy else self._min_interval_s
            last_round, taken = now, now_taken
            running = self._held.executing_ids()
            if running and not self._check(running):
                continue
            try:
                changed = self._storage.wait_for_change(
                    self._poll_s if running else self._idle_wait_s
                )
            except Exception as exc:
                self._stop.wait(self._backoff.failed(exc, "waiting for storage changes"))
                continue
            self._backoff.succeeded()
            if changed:
                self._notify()

    def _begin_counting(self) -> None:
        try:
            self._storage.wait_for_change(0)
        except Exception as exc:
            self._backoff.failed(exc, "waiting for storage changes")
        finally:
            self._ready.set()

    def _check(self, running: list[str]) -> bool:
        try:
            requested = self._storage.cancel_requests(running)
        except Exception as exc:
            self._stop.wait(self._backoff.failed(exc, "reading cancel requests"))
            return False
        self._backoff.succeeded()
        if not requested:
            return True
        for job_id, forced in self._held.mark_cancel_requested(requested):
            try:
                self._deliver(job_id, forced)
            except Exception:
                logger.exception("delivering a cancel request failed", extra={"job_id": job_id})
        return True

    def _notify(self) -> None:
        try:
            self._on_change()
        except Exception:
            logger.exception("change callback raised")


__all__ = ["CancelWatcher"]
