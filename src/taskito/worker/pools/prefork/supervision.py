"""The supervision half of the prefork pool: the table of children and the jobs they hold,
the supervisor thread that starts every child, and the reader thread of each child, which
turns what the child sends (and its death) into reports and replacements.

``PreforkPool`` (``pool.py``) builds on it with the Pool contract. Every field is guarded
by ``_lock``; methods named ``*_locked`` expect it held. All spawning happens on the one
supervisor thread, which lives as long as the pool, because Linux ties a child's parent-death
signal to the thread that forked it.
"""

from __future__ import annotations

import logging
import queue
import subprocess
import sys
import threading
import time
from collections import deque

from taskito.job import Outcome, OutcomeKind
from taskito.worker.pools.prefork import protocol
from taskito.worker.pools.prefork.children import ChildProcess, ChildState, Submitted, spawn_child

logger = logging.getLogger("taskito.worker.pools.prefork")

#: How long a child that closed its pipe gets to finish exiting before it is killed.
_EXIT_GRACE_S = 5.0
_MAX_RESPAWN_DELAY_S = 30.0
_RUN_TIME_WEIGHT = 0.2
WORKER_DIED = "worker process died"


class ChildSupervision:
    """``size`` slots, each served by one child importing ``app``; replaced when one ends."""

    def __init__(self, app: str, size: int, max_tasks_per_child: int) -> None:
        self._app = app
        self._size = size
        self._max_tasks = max_tasks_per_child
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._slots: dict[int, ChildProcess] = {}  # the current child of each slot
        self._live: set[ChildProcess] = set()  # every child not reaped yet
        self._jobs: dict[str, ChildProcess | None] = {}  # None: waiting in the backlog
        self._backlog: deque[Submitted] = deque()
        self._readers: set[threading.Thread] = set()
        self._spawn_requests: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._python = sys.executable
        self._log_level = "WARNING"
        self._serving = False  # every child loaded the app once: start() succeeded
        self._closed = False
        self._failed_starts = 0
        self._mean_run_s: float | None = None
        self._startup_errors: list[tuple[bool, str]] = []  # (the app failed to load, text)

    # --- bookkeeping ---------------------------------------------------------------------

    def _run_on_locked(self, child: ChildProcess, submitted: Submitted) -> None:
        child.state = ChildState.BUSY
        child.running = submitted
        submitted.started_mono = time.monotonic()
        self._jobs[submitted.job.id] = child
        # A child that died meanwhile fails this job through its reader thread.
        child.send(protocol.Job(submitted.job, submitted.skip_middleware))

    def _feed_locked(self, child: ChildProcess) -> None:
        """``child`` just became idle: give it the oldest waiting job, or stop it."""
        child.state = ChildState.IDLE
        if self._backlog:
            self._run_on_locked(child, self._backlog.popleft())
        elif self._closed:
            self._stop_gracefully_locked(child, "the pool shut down")

    def _retire_locked(self, child: ChildProcess, reason: str) -> None:
        """Take ``child`` out of its slot (and start its replacement unless closing)."""
        child.state = ChildState.STOPPING
        child.stop_reason = reason
        if self._slots.get(child.slot) is child:
            del self._slots[child.slot]
            if not self._closed:
                self._spawn_requests.put(child.slot)

    def _stop_gracefully_locked(self, child: ChildProcess, reason: str) -> None:
        self._retire_locked(child, reason)
        child.send(protocol.Shutdown())

    def _kill_locked(self, child: ChildProcess, reason: str) -> None:
        # Under the lock the child cannot have been given another job: it holds this one.
        if child.running is not None:
            self._jobs.pop(child.running.job.id, None)
            child.running = None
        self._retire_locked(child, reason)
        child.kill()

    def _take_from_backlog_locked(self, job_id: str) -> Submitted:
        del self._jobs[job_id]
        for submitted in self._backlog:
            if submitted.job.id == job_id:
                self._backlog.remove(submitted)
                return submitted
        raise AssertionError(f"job {job_id} is marked waiting but is not in the backlog")

    # --- the supervisor thread ----------------------------------------------------------

    def _supervise(self) -> None:
        while True:
            slot = self._spawn_requests.get()
            if slot is None:
                return
            delay_s = self._respawn_delay_s()
            if delay_s > 0:
                self._stopping.wait(delay_s)
            with self._lock:
                if self._closed:
                    continue
            try:
                child = spawn_child(self._python, self._app, slot, self._log_level)
            except OSError as exc:
                self._spawn_failed(slot, exc)
                continue
            self._adopt(child)

    def _respawn_delay_s(self) -> float:
        """Back off while children keep failing to start (a broken app or interpreter)."""
        with self._lock:
            failures = self._failed_starts
        return 0.0 if failures == 0 else min(_MAX_RESPAWN_DELAY_S, 0.5 * 2 ** (failures - 1))

    def _spawn_failed(self, slot: int, exc: OSError) -> None:
        text = f"cannot run {self._python!r}: {type(exc).__name__}: {exc}"
        logger.error("starting a prefork child failed: %s", text)
        with self._lock:
            self._failed_starts += 1
            if not self._serving:
                self._startup_errors.append((False, text))
            if not self._closed:
                self._spawn_requests.put(slot)
            self._changed.notify_all()

    def _adopt(self, child: ChildProcess) -> None:
        reader = threading.Thread(
            target=self._read_child,
            args=(child,),
            name=f"taskito-prefork-reader-{child.pid}",
            daemon=True,
        )
        with self._lock:
            self._live.add(child)
            self._readers.add(reader)
            if self._closed:
                child.stop_reason = "the pool shut down"
                child.state = ChildState.STOPPING
                child.kill()
            else:
                self._slots[child.slot] = child
        reader.start()

    # --- a child's reader thread --------------------------------------------------------

    def _read_child(self, child: ChildProcess) -> None:
        reached_end = False
        try:
            while not reached_end:
                message = child.reader.receive()
                if message is None:
                    reached_end = True
                elif not self._on_message(child, message):
                    break
        except (OSError, protocol.ProtocolError):
            logger.exception("reading from prefork child %d failed; killing it", child.pid)
        finally:
            if not reached_end:
                # Nobody reads its pipe any more, so it cannot go on serving.
                child.kill()
            self._on_exit(child)
            with self._lock:
                self._readers.discard(threading.current_thread())

    def _on_message(self, child: ChildProcess, message: object) -> bool:
        if isinstance(message, protocol.Outcome):
            self._on_outcome(child, message)
        elif isinstance(message, protocol.Ready):
            with self._lock:
                if child.state is ChildState.STARTING:
                    self._failed_starts = 0
                    self._feed_locked(child)
                    self._changed.notify_all()
        elif isinstance(message, protocol.StartupFailed):
            child.startup_error = message.error
        else:
            logger.error("prefork child %d sent %r; killing it", child.pid, message)
            return False
        return True

    def _on_outcome(self, child: ChildProcess, message: protocol.Outcome) -> None:
        with self._lock:
            submitted = child.running
            if (
                submitted is None
                or submitted.job.id != message.job_id
                or submitted.job.attempt != message.attempt
            ):
                # The job was abandoned or force-cancelled and the child killed meanwhile.
                logger.debug("late outcome of job %s dropped", message.job_id)
                return
            child.running = None
            del self._jobs[message.job_id]
            child.jobs_done += 1
            self._note_run_time_locked(message.outcome.wall_time_ns / 1e9)
            if self._max_tasks and child.jobs_done >= self._max_tasks:
                self._stop_gracefully_locked(child, f"recycled after {child.jobs_done} jobs")
            else:
                self._feed_locked(child)
        self._report(submitted, message.outcome)

    def _note_run_time_locked(self, run_s: float) -> None:
        mean = self._mean_run_s
        self._mean_run_s = run_s if mean is None else mean + _RUN_TIME_WEIGHT * (run_s - mean)

    def _on_exit(self, child: ChildProcess) -> None:
        """The child's pipe reached its end: reap it, fail what it held, replace it."""
        try:
            child.process.wait(timeout=_EXIT_GRACE_S)
        except subprocess.TimeoutExpired:
            child.kill()
            child.process.wait()
        child.close_pipes()
        how = child.describe_exit()
        with self._lock:
            was_starting = child.state is ChildState.STARTING
            submitted, child.running = child.running, None
            if submitted is not None:
                self._jobs.pop(submitted.job.id, None)
            if child.stop_reason is None:
                self._retire_locked(child, f"it {how}")
                if was_starting:
                    self._startup_failed_locked(child, how)
                elif submitted is None:
                    logger.warning("prefork child %d %s; it is replaced", child.pid, how)
            child.state = ChildState.GONE
            self._live.discard(child)
            self._changed.notify_all()
        if submitted is not None:
            error = f"{WORKER_DIED}: prefork child {child.pid} {how} while running job "
            error += submitted.job.id
            logger.error("%s", error, extra={"job_id": submitted.job.id, "pid": child.pid})
            self._report(
                submitted,
                Outcome(
                    OutcomeKind.FAILURE,
                    error=error,
                    retryable=True,
                    exception_type="WorkerProcessDied",
                ),
            )

    def _startup_failed_locked(self, child: ChildProcess, how: str) -> None:
        self._failed_starts += 1
        app_failed = child.startup_error is not None
        text = child.startup_error or f"prefork child {child.pid} {how} before it was ready"
        logger.error("a prefork child could not start: %s", text)
        if not self._serving:
            self._startup_errors.append((app_failed, text))

    @staticmethod
    def _report(submitted: Submitted, outcome: Outcome) -> None:
        try:
            submitted.on_done(submitted.job, outcome)
        except Exception:
            logger.exception("on_done callback raised", extra={"job_id": submitted.job.id})


__all__ = ["WORKER_DIED", "ChildSupervision"]
