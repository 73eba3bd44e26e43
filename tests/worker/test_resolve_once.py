"""A claimed job's task is looked up once: right after the claim (``ExecutionEnv.resolve``).
The flow gate, the thread pool (and its event loop), ``run_job`` and the outcome writer all
read the ``ClaimedJob`` they are handed, never the registry again."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections import Counter
from typing import Any

import pytest

from taskito.job import JobRecord, JobStatus
from taskito.middleware import TaskMiddleware
from taskito.registry import CircuitBreakerConfig, ExecutionEnv, RateLimit, TaskSpec
from taskito.retry import RetryPolicy
from taskito.storage.base import Storage
from taskito.worker import Worker, WorkerSettings
from tests.helpers import wait_until
from tests.worker.harness import FAST, Harness

NO_WAIT = RetryPolicy(backoff_s=0.0)


class CountingEnv(ExecutionEnv):
    """A real execution environment that counts its look-ups of tasks by name."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lookups: Counter[str] = Counter()
        self._count_lock = threading.Lock()

    def lookup(self, task_name: str) -> TaskSpec | None:
        with self._count_lock:
            self.lookups[task_name] += 1
        return super().lookup(task_name)


class Outcomes(TaskMiddleware):
    """Per-task middleware recording its outcome hooks, which must reach the outcome writer."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def on_retry(self, ctx: Any, error: BaseException, retry_count: int) -> None:
        self.calls.append(f"retry:{ctx.task_name}")

    def on_dead_letter(self, ctx: Any, error: BaseException) -> None:
        self.calls.append(f"dead:{ctx.task_name}")


@pytest.fixture
def harness(sqlite_harness: Harness) -> Harness:
    return sqlite_harness


def test_each_claimed_job_is_looked_up_once_on_the_thread_pool(harness: Harness) -> None:
    env = CountingEnv(
        storage=harness.storage,
        serializer=harness.serializer,
        tasks=harness.tasks,
        middleware=harness.middleware,
        hooks=harness.hooks,
        unknown_task_window_ms=300,  # the unknown task is held back once, then fails
    )
    claimed: Counter[str] = Counter()
    real_claim = harness.storage.claim

    def counting_claim(*args: Any, **kwargs: Any) -> list[JobRecord]:
        jobs = real_claim(*args, **kwargs)
        claimed.update(job.task_name for job in jobs)
        return jobs

    harness.storage.claim = counting_claim  # type: ignore[method-assign]
    harness.storage.finish_and_claim = functools.partial(  # type: ignore[method-assign]
        Storage.finish_and_claim, harness.storage
    )
    recorder = Outcomes()
    failed_once: set[int] = set()

    def flaky(n: int) -> int:
        if n not in failed_once:
            failed_once.add(n)
            raise RuntimeError(f"first try of {n}")
        return n

    async def awaited(n: int) -> int:
        await asyncio.sleep(0)
        return n

    # Limits send "flaky" through every check of the gate, and its breaker through the writer.
    harness.task(
        flaky,
        retry=NO_WAIT,
        middleware=(recorder,),
        max_concurrent=10,
        rate_limit=RateLimit(500, 1.0),
        circuit_breaker=CircuitBreakerConfig(threshold=100),
    )
    harness.task(awaited, is_async=True)
    harness.task(lambda: 1 / 0, name="doomed", middleware=(recorder,))
    ids = [harness.enqueue("flaky", n, max_retries=2) for n in range(6)]
    ids += [harness.enqueue("awaited", n) for n in range(4)]
    ids += [harness.enqueue("doomed"), harness.enqueue("nobody.knows")]
    settings = WorkerSettings(threads=2, install_signals=False, **FAST)
    with harness.running(Worker(env, harness.bus, settings)):
        wait_until(lambda: harness.is_terminal(*ids), 15.0, message="every job finished")

    statuses = Counter(harness.status(job_id) for job_id in ids)
    assert statuses == {JobStatus.COMPLETE: 10, JobStatus.DEAD: 2}
    assert claimed["flaky"] >= 12  # each failed once, then ran again
    assert claimed["nobody.knows"] == 2  # held back once, then failed as not registered
    assert env.lookups == claimed  # one look-up per claimed job, whatever it went through
    assert sorted(recorder.calls) == ["dead:doomed"] + ["retry:flaky"] * 6
