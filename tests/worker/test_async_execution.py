"""``execution.run_job_async``: the same steps as ``run_job`` (one ordering of middleware and
hooks, one classification), with the coroutine awaited on the caller's loop."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from taskito.context import current_job, get_active
from taskito.exceptions import TaskCancelledError
from taskito.execution import run_job, run_job_async
from taskito.job import Outcome, OutcomeKind
from taskito.worker.pools.base import CancelFlag
from tests.worker.harness import Harness
from tests.worker.test_execution import Recorder, job_for


@pytest.fixture
def harness(sqlite_harness: Harness) -> Harness:
    """SQLite only: ``run_job_async`` is the subject here; storage only hands out jobs."""
    return sqlite_harness


def hooked(harness: Harness, calls: list[str]) -> None:
    """Record middleware and hook calls into ``calls`` (replacing any recorded before)."""
    harness.middleware.clear()
    hooks = harness.hooks
    for registered in (hooks.before_task, hooks.on_success, hooks.on_failure, hooks.after_task):
        registered.clear()
    harness.middleware.append(Recorder("mw", calls))
    harness.hooks.before_task.append(lambda name, *_: calls.append(f"before_task:{name}"))
    harness.hooks.on_success.append(lambda name, *_: calls.append(f"on_success:{name}"))
    harness.hooks.on_failure.append(
        lambda name, _a, _k, error: calls.append(f"on_failure:{type(error).__name__}")
    )
    harness.hooks.after_task.append(lambda name, *_: calls.append(f"after_task:{name}"))


@pytest.mark.parametrize("fails", [False, True])
def test_the_async_path_runs_the_same_steps_in_the_same_order(
    harness: Harness, fails: bool
) -> None:
    async def work(x: int) -> int:
        await asyncio.sleep(0)
        if fails:
            raise ValueError(f"bad {x}")
        return x * 2

    harness.task(work)
    sync_calls: list[str] = []
    hooked(harness, sync_calls)
    sync_outcome = run_job(job_for(harness, "work", 21), harness.env)
    async_calls: list[str] = []
    hooked(harness, async_calls)
    async_outcome = asyncio.run(run_job_async(job_for(harness, "work", 21), harness.env))
    assert async_calls == sync_calls
    assert async_outcome.kind is sync_outcome.kind
    assert async_outcome.result == sync_outcome.result
    if fails:
        assert async_outcome.error is not None and "ValueError: bad 21" in async_outcome.error
        assert "in work" in async_outcome.error  # the coroutine's own frame is in the trace


def test_each_concurrent_coroutine_sees_its_own_current_job(harness: Harness) -> None:
    async def who(delay_s: float) -> str:
        await asyncio.sleep(delay_s)
        return current_job.id

    harness.task(who)

    async def both() -> tuple[Outcome, Outcome]:
        first = job_for(harness, "who", 0.02)
        second = job_for(harness, "who", 0.0)
        second = dataclasses.replace(second, job=dataclasses.replace(second.job, id="job-2"))
        return await asyncio.gather(
            run_job_async(first, harness.env), run_job_async(second, harness.env)
        )

    outcomes = asyncio.run(both())
    assert [harness.serializer.loads(o.result or b"") for o in outcomes] == ["job-1", "job-2"]
    assert get_active() is None


def test_a_cancelled_flag_before_the_start_means_the_task_never_runs(harness: Harness) -> None:
    ran: list[int] = []

    async def never() -> None:
        ran.append(1)

    harness.task(never)
    flag = CancelFlag()
    flag.set()
    outcome = asyncio.run(run_job_async(job_for(harness, "never"), harness.env, flag))
    assert outcome.kind is OutcomeKind.CANCELLED and ran == []


@pytest.mark.parametrize("requested", [True, False])
def test_task_cancel_counts_as_a_cancel_only_when_one_was_requested(
    harness: Harness, requested: bool
) -> None:
    started = asyncio.Event()

    async def sleeps() -> None:
        started.set()
        await asyncio.sleep(60)

    harness.task(sleeps)
    flag = CancelFlag()

    async def cancel_it() -> Any:
        task = asyncio.create_task(run_job_async(job_for(harness, "sleeps"), harness.env, flag))
        await started.wait()
        if requested:
            flag.set()
        task.cancel()
        outcome = await task
        assert not task.cancelled()  # the cancellation became the job's outcome
        return outcome

    outcome = asyncio.run(cancel_it())
    expected = OutcomeKind.CANCELLED if requested else OutcomeKind.FAILURE
    assert outcome.kind is expected
    assert outcome.error is not None and "CancelledError" in outcome.error


def test_check_cancelled_inside_a_coroutine_reads_the_flag(harness: Harness) -> None:
    flag = CancelFlag()

    async def polls() -> None:
        while True:
            current_job.check_cancelled()
            flag.set()
            await asyncio.sleep(0)

    harness.task(polls)
    outcome = asyncio.run(run_job_async(job_for(harness, "polls"), harness.env, flag))
    assert outcome.kind is OutcomeKind.CANCELLED
    assert outcome.exception_type == TaskCancelledError.__name__
