"""The prefork pool: N persistent child processes (``python -m taskito.prefork APP``), each
running one job at a time through ``execution.run_job``, supervised from the worker process.

Jobs and cancel requests go down each child's pipe; outcomes come back up and are reported to
the worker, which records them (children never write job status). A child that dies fails its
job with "worker process died" (retried per policy) and is replaced. A forced cancel and a hard
timeout kill exactly the child holding that job and start a fresh one; ``max_tasks_per_child``
recycles a child after that many jobs. The children, their threads and their deaths are
handled in ``supervision``; this module is the Pool contract on top.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time

from taskito.exceptions import ConfigurationError
from taskito.job import Outcome, OutcomeKind
from taskito.registry import ClaimedJob, ExecutionEnv
from taskito.worker.pools.base import OnDone, Pool
from taskito.worker.pools.prefork import protocol
from taskito.worker.pools.prefork.children import (
    ChildProcess,
    ChildState,
    Submitted,
    parent_log_level,
)
from taskito.worker.pools.prefork.supervision import WORKER_DIED, ChildSupervision

logger = logging.getLogger("taskito.worker.pools.prefork")

#: Prefetch: while jobs are short, the worker may claim a few jobs per child ahead, so that a
#: child that finishes starts its next job without waiting for a claim round trip. Ahead of
#: each child go as many jobs as it is expected to run in this time (at most the cap).
_PREFETCH_WAIT_S = 0.01
_MAX_PREFETCH_PER_CHILD = 4


class PreforkPool(ChildSupervision, Pool):
    """Runs jobs in ``threads`` child processes that import ``app`` ("module:attribute")."""

    name = "prefork"

    def __init__(
        self,
        env: ExecutionEnv,
        threads: int,
        *,
        app: str | None = None,
        async_concurrency: int = 100,
        max_tasks_per_child: int = 0,
        startup_timeout_s: float = 60.0,
    ) -> None:
        if sys.platform == "win32":
            raise NotImplementedError("pool='prefork' is not supported on Windows; use 'thread'")
        if not isinstance(app, str) or not all(part.strip() for part in app.partition(":")):
            raise ConfigurationError(
                f"app= is required when pool='prefork', as 'module:attribute' "
                f"(e.g. app='myapp.tasks:queue'), so that child processes can import the "
                f"Queue; got {app!r}"
            )
        _check_count("threads", threads, least=1)
        _check_count("max_tasks_per_child", max_tasks_per_child, least=0)
        super().__init__(app, threads, max_tasks_per_child)
        self._startup_timeout_s = startup_timeout_s
        self._supervisor: threading.Thread | None = None
        self._started = False

    @property
    def capacity(self) -> int:
        return self._size

    def free_slots(self, executing: int) -> int:
        """A slot per child, plus the prefetch: while recent jobs were short, up to
        ``_MAX_PREFETCH_PER_CHILD`` more per child, waiting in the pool for the first child
        that frees up, about ``_PREFETCH_WAIT_S`` at most (docs/pools.md, "Prefetch")."""
        with self._lock:
            mean_run_s = self._mean_run_s
        ahead = 0
        if mean_run_s is not None:
            ahead = min(_MAX_PREFETCH_PER_CHILD, int(_PREFETCH_WAIT_S / max(mean_run_s, 1e-6)))
        return self._size * (1 + ahead) - executing

    def child_pids(self) -> list[int]:
        """Pids of the children ready to serve (loaded, not being replaced), by slot."""
        with self._lock:
            return [
                child.pid
                for _, child in sorted(self._slots.items())
                if child.state in (ChildState.IDLE, ChildState.BUSY)
            ]

    def start_delay_s(self, job_id: str) -> float | None:
        with self._lock:
            if job_id not in self._jobs:
                return 0.0
            child = self._jobs[job_id]
            if child is None or child.running is None or child.running.started_mono is None:
                return None
            return child.running.started_mono - child.running.submitted_mono

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the children and wait until each has loaded the app; raise if one cannot."""
        with self._lock:
            if self._started:
                raise RuntimeError("this PreforkPool was already started")
            self._started = True
        # Read at start, not import: the CLI or the test may set it just before.
        self._python = os.environ.get("TASKITO_PYTHON") or sys.executable
        self._log_level = parent_log_level()
        self._supervisor = threading.Thread(
            target=self._supervise, name="taskito-prefork-supervisor", daemon=True
        )
        self._supervisor.start()
        for slot in range(self._size):
            self._spawn_requests.put(slot)
        error = self._wait_until_ready()
        if error is None:
            return
        self.shutdown(0.0)
        app_failed, text = error
        if app_failed:
            raise ConfigurationError(f"pool='prefork' could not load app {self._app!r}: {text}")
        raise RuntimeError(f"pool='prefork' could not start its children: {text}")

    def _wait_until_ready(self) -> tuple[bool, str] | None:
        deadline = time.monotonic() + self._startup_timeout_s
        with self._lock:
            while not self._startup_errors:
                ready = [c for c in self._slots.values() if c.state is not ChildState.STARTING]
                if len(ready) == self._size:
                    self._serving = True
                    return None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return (False, f"children not ready after {self._startup_timeout_s}s")
                self._changed.wait(remaining)
            return self._startup_errors[0]

    def shutdown(self, drain_timeout_s: float) -> None:
        """Let each child finish what it was sent, up to ``drain_timeout_s``; kill the rest."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for child in list(self._slots.values()):
                if child.state is ChildState.IDLE:
                    self._stop_gracefully_locked(child, "the pool shut down")
        self._stopping.set()
        deadline = time.monotonic() + max(0.0, drain_timeout_s)
        with self._lock:
            while self._live and (remaining := deadline - time.monotonic()) > 0:
                self._changed.wait(remaining)
            unfinished = [s.job.id for s in self._backlog]
            for child in list(self._live):
                if child.running is not None:
                    unfinished.append(child.running.job.id)
                    child.running = None
                child.stop_reason = child.stop_reason or "the drain timeout passed"
                child.state = ChildState.STOPPING
                child.kill()
            self._backlog.clear()
            self._jobs.clear()
        if unfinished:
            logger.warning(
                "prefork pool stopped with %d job(s) unfinished; their leases will expire and "
                "they will run again: %s",
                len(unfinished),
                ", ".join(unfinished),
                extra={"job_ids": unfinished},
            )
        self._spawn_requests.put(None)
        if self._supervisor is not None:
            self._supervisor.join()
        with self._lock:
            readers = list(self._readers)
        for reader in readers:
            reader.join()

    # --- jobs and signals -----------------------------------------------------------------

    def submit(self, claimed: ClaimedJob, on_done: OnDone) -> None:
        # A child has its own registry: it is sent the record alone and resolves it there.
        job = claimed.job
        submitted = Submitted(job, on_done, tuple(sorted(claimed.disabled_middleware)))
        with self._lock:
            if not self._serving or self._closed:
                raise RuntimeError("the prefork pool is not running")
            if job.id in self._jobs:
                raise ValueError(f"job {job.id} is already running in this pool")
            child = next((c for c in self._slots.values() if c.state is ChildState.IDLE), None)
            if child is None:
                # Every child is busy or being replaced: the next one ready takes it.
                self._backlog.append(submitted)
                self._jobs[job.id] = None
            else:
                self._run_on_locked(child, submitted)

    def cancel(self, job_id: str, force: bool = False) -> bool:
        with self._lock:
            if job_id not in self._jobs:
                return False
            child = self._jobs[job_id]
            ended = None
            if child is None or force:
                ended = self._end_for_cancel_locked(job_id, child)
        if ended is None:
            assert child is not None
            # Sent without the lock: if the job ends meanwhile, the child ignores a Cancel
            # for a job it no longer holds (and a child that died reports its job itself).
            child.send(protocol.Cancel(job_id))
            return True
        submitted, outcome = ended
        if force:
            logger.info("%s", outcome.error, extra={"job_id": job_id})
        self._report(submitted, outcome)
        return True

    def _end_for_cancel_locked(
        self, job_id: str, child: ChildProcess | None
    ) -> tuple[Submitted, Outcome]:
        """Take a job waiting in the backlog out of it, or kill the child running it."""
        if child is None:
            waiting = self._take_from_backlog_locked(job_id)
            return waiting, _cancelled(f"job {job_id} was cancelled before it started")
        submitted = child.running
        assert submitted is not None, "a child named in _jobs holds that job"
        self._kill_locked(child, f"job {job_id} was force-cancelled")
        error = f"job {job_id} was force-cancelled: prefork child {child.pid} running it was killed"
        return submitted, _cancelled(error)

    def abandon(self, job_id: str) -> bool:
        with self._lock:
            if job_id not in self._jobs:
                return False
            child = self._jobs[job_id]
            if child is None:
                self._take_from_backlog_locked(job_id)
                return True
            self._kill_locked(child, f"job {job_id} passed its hard timeout")
        logger.warning(
            "job %s passed its hard timeout; prefork child %d was killed and is replaced",
            job_id,
            child.pid,
            extra={"job_id": job_id, "pid": child.pid},
        )
        return True


def _check_count(what: str, value: object, *, least: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise ValueError(f"{what} must be an integer >= {least}, got {value!r}")


def _cancelled(error: str) -> Outcome:
    return Outcome(
        OutcomeKind.CANCELLED,
        error=error,
        retryable=False,
        exception_type="TaskCancelledError",
    )


__all__ = ["WORKER_DIED", "PreforkPool"]
