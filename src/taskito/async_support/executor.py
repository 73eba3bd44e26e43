"""``AsyncTaskExecutor``: the reference's native async executor, as a thin adapter over the
engine's event loop (``worker.pools.asyncio_loop``) and its one execution path
(``execution.run_job_async``). Jobs submitted by id, task name and payload run on a loop of
its own, at most ``max_concurrency`` at once (the rest wait their turn), and each outcome is
reported to ``result_sender``:

* ``report_success(job_id, task_name, result_bytes_or_None, wall_ns)``
* ``report_cancelled(job_id, task_name, wall_ns)``
* ``report_failure(job_id, task_name, error_text, retry_count, max_retries, wall_ns,
  should_retry)``; ``should_retry`` follows the task's ``retry_on``/``dont_retry_on``.

The payload is decoded with the queue's serializer (cloudpickle unless the queue says
otherwise), and the task runs exactly as on the async pool: middleware, hooks, intercepted
arguments restored, ``current_job`` bound.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import threading
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from taskito.job import JobRecord, JobStatus, Outcome, OutcomeKind, now_ms
from taskito.registry import ClaimedJob, ExecutionEnv, TaskSpec
from taskito.worker.pools.asyncio_loop import EventLoopRunner


class ResultSender(Protocol):
    """Where the executor reports each job's outcome (positional arguments)."""

    def report_success(self, *args: Any) -> Any: ...

    def report_failure(self, *args: Any) -> Any: ...

    def report_cancelled(self, *args: Any) -> Any: ...


class AsyncTaskExecutor:
    """Runs submitted jobs on its own event loop thread (``taskito-async-executor``)."""

    def __init__(
        self,
        result_sender: ResultSender,
        task_registry: Mapping[str, Any] | None,
        queue_ref: Any,
        max_concurrency: int = 100,
    ) -> None:
        make_env = getattr(queue_ref, "_execution_env", None)
        env = make_env() if callable(make_env) else None
        if not isinstance(env, ExecutionEnv):
            raise TypeError(f"queue_ref must be a taskito Queue, not {type(queue_ref).__name__}")
        if task_registry is not None:
            env = dataclasses.replace(env, tasks=_specs(task_registry))
        self._env = env
        self._sender = result_sender
        self._runner = EventLoopRunner(env, max_concurrency, thread_name="taskito-async-executor")
        self._lock = threading.Lock()
        self._waiting: deque[ClaimedJob] = deque()
        self._started = False

    @property
    def _loop(self) -> asyncio.AbstractEventLoop | None:
        return self._runner._loop

    def start(self) -> None:
        with self._lock:
            self._runner.start()
            self._started = True

    def stop(self, drain_timeout_s: float = 0.0) -> None:
        """Stop the loop (jobs still running are cancelled, unreported) and join its thread
        (up to 5 s)."""
        with self._lock:
            self._started = False
            self._waiting.clear()
        self._runner.shutdown(drain_timeout_s)

    def submit_job(
        self,
        job_id: str,
        task_name: str,
        payload: bytes,
        retry_count: int,
        max_retries: int,
        queue_name: str,
    ) -> None:
        """Schedule one job and return at once."""
        now = now_ms()
        job = JobRecord(
            job_id, queue_name, task_name, payload, JobStatus.RUNNING, 0, now, now,
            retry_count, max_retries, None, attempt=1,
        )  # fmt: skip
        claimed = self._env.resolve(job)
        with self._lock:
            if not self._started:
                raise RuntimeError("AsyncTaskExecutor not started: call start() first")
            self._waiting.append(claimed)
        self._pump()

    def _pump(self) -> None:
        """Start waiting jobs while the loop has free slots."""
        while True:
            with self._lock:
                if not self._started or not self._waiting or self._runner.free() <= 0:
                    return
                claimed = self._waiting.popleft()
            self._runner.submit(claimed, self._done)

    def _done(self, job: JobRecord, outcome: Outcome) -> None:
        try:
            self._report(job, outcome)
        finally:
            self._pump()

    def _report(self, job: JobRecord, outcome: Outcome) -> None:
        wall_ns = outcome.wall_time_ns
        if outcome.kind is OutcomeKind.SUCCESS:
            self._sender.report_success(job.id, job.task_name, outcome.result, wall_ns)
        elif outcome.kind is OutcomeKind.CANCELLED:
            self._sender.report_cancelled(job.id, job.task_name, wall_ns)
        else:
            self._sender.report_failure(
                job.id,
                job.task_name,
                outcome.error or "",
                job.retry_count,
                job.max_retries,
                wall_ns,
                outcome.retryable,
            )


def _specs(registry: Mapping[str, Any]) -> dict[str, TaskSpec]:
    """Task name -> spec, from a TaskWrapper, a TaskSpec or a plain function per name."""
    specs: dict[str, TaskSpec] = {}
    for name, entry in registry.items():
        spec = getattr(entry, "_spec", entry)
        if not isinstance(spec, TaskSpec):
            fn: Callable[..., Any] = getattr(entry, "_taskito_async_fn", None) or entry
            if not callable(fn):
                raise TypeError(f"task_registry[{name!r}] is not a task or a function")
            spec = TaskSpec(name=name, fn=fn, is_async=inspect.iscoroutinefunction(fn))
        specs[name] = spec
    return specs


__all__ = ["AsyncTaskExecutor", "ResultSender"]
