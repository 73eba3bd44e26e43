"""``async def`` tasks on one event loop thread, in the async pool and the thread pool alike:
concurrency bounded by ``async_concurrency``, ``current_job`` per coroutine, sync tasks on the
async pool's helper threads, claims sized so no claimed job waits for a slot, and shutdown."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskito.job import now_ms
from taskito.registry import ClaimedJob
from taskito.worker.pools import create_pool
from taskito.worker.pools.asyncio import AsyncPool
from taskito.worker.pools.asyncio_loop import EventLoopRunner
from taskito.worker.pools.thread import ThreadPool
from tests.helpers import wait_until
from tests.worker.harness import Harness
from tests.worker.pool_app import MakeApp, pool_apps


@pytest.fixture
def harness(sqlite_harness: Harness) -> Harness:
    """SQLite only: the pools are the subject here; storage only hands out jobs."""
    return sqlite_harness


@pytest.fixture
def make_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakeApp]:
    yield from pool_apps(tmp_path, monkeypatch)


@pytest.mark.parametrize(
    ("pool", "loop_thread"), [("async", "taskito-async-loop"), ("thread", "taskito-thread-loop")]
)
def test_async_tasks_share_one_loop_thread_each_with_its_own_current_job(
    make_app: MakeApp, pool: str, loop_thread: str
) -> None:
    app = make_app(workers=2)
    with app.running(pool):
        jobs = [app.task("apid").delay() for _ in range(6)]
        results = [job.result(timeout=20) for job in jobs]
    assert {(pid, thread) for pid, thread, _ in results} == {(os.getpid(), loop_thread)}
    assert [job_id for *_, job_id in results] == [job.id for job in jobs]


@pytest.mark.parametrize("pool", ["async", "thread"])
def test_async_concurrency_bounds_the_jobs_running_at_once(make_app: MakeApp, pool: str) -> None:
    app = make_app(workers=4, async_concurrency=2)
    with app.running(pool):
        began = time.monotonic()
        jobs = [app.task("counted").delay(0.3) for _ in range(5)]
        assert [job.result(timeout=20) for job in jobs] == [0.3] * 5
        elapsed = time.monotonic() - began
    assert app.module.most_at_once[0] == 2
    assert elapsed >= 0.85, "five 0.3 s jobs two at a time take three rounds"


def test_many_async_jobs_overlap_on_the_loop(make_app: MakeApp) -> None:
    app = make_app(workers=1, async_concurrency=50)
    with app.running("async"):
        began = time.monotonic()
        jobs = [app.task("aslow").delay(0.5) for _ in range(40)]
        assert [job.result(timeout=20) for job in jobs] == [0.5] * 40
        # Run one after the other they would take 20 s.
        assert time.monotonic() - began < 5


def test_sync_tasks_on_the_async_pool_run_on_its_helper_threads(make_app: MakeApp) -> None:
    app = make_app(workers=1)
    with app.running("async"):
        job = app.task("slow").delay(0.05)
        assert job.result(timeout=20) == 0.05
    thread_name = app.wait_for_mark(job.id, "started").split()[1]
    assert thread_name == "taskito-async-sync-1"


def test_the_thread_pool_runs_sync_tasks_on_threads_and_async_ones_on_its_loop(
    make_app: MakeApp,
) -> None:
    app = make_app(workers=1)
    with app.running("thread"):
        sync_job = app.task("slow").delay(0.05)
        async_job = app.task("aslow").delay(0.05)
        assert sync_job.result(timeout=20) == async_job.result(timeout=20) == 0.05
    assert app.wait_for_mark(sync_job.id, "started").split()[1] == "taskito-thread-1"
    assert app.wait_for_mark(async_job.id, "started").split()[1] == "taskito-thread-loop"


@pytest.mark.parametrize(
    ("pool", "occupier", "waiter", "options"),
    [
        # One thread, busy: an async job is not claimed, though the loop is free.
        pytest.param("thread", "slow", "aslow", {"workers": 1}, id="thread-busy"),
        # A full loop: a sync job is not claimed, though a thread is free.
        pytest.param(
            "thread", "aslow", "slow", {"workers": 2, "async_concurrency": 1}, id="thread-loop-full"
        ),
        pytest.param(
            "async", "aslow", "slow", {"workers": 2, "async_concurrency": 1}, id="async-loop-full"
        ),
        pytest.param("async", "slow", "aslow", {"workers": 1}, id="async-helper-busy"),
    ],
)
def test_a_job_is_claimed_only_when_a_slot_of_either_kind_is_free(
    make_app: MakeApp, pool: str, occupier: str, waiter: str, options: dict[str, int]
) -> None:
    app = make_app(**options)
    with app.running(pool):
        first = app.task(occupier).delay(0.6)
        app.wait_for_mark(first.id, "started")
        second = app.task(waiter).delay(0.05)
        # For a while (not a synchronisation: the claim must NOT happen in this window).
        window_end = time.monotonic() + 0.3
        while time.monotonic() < window_end:
            assert app.status(second.id) == "pending"
            time.sleep(0.01)
        assert second.result(timeout=20) == 0.05
    assert app.status(first.id) == "complete"


def test_shutdown_waits_for_running_async_jobs(make_app: MakeApp) -> None:
    app = make_app(drain_timeout=30)
    with app.running("async") as worker:
        job = app.task("aslow").delay(0.3)
        app.wait_for_mark(job.id, "started")
        app.queue.request_shutdown()
        wait_until(lambda: worker.status == "draining")
    assert job.result(timeout=1) == 0.3


def test_the_drain_timeout_cancels_async_jobs_left_running(make_app: MakeApp) -> None:
    app = make_app(drain_timeout=0.2)
    with app.running("async"):
        job = app.task("aignores").delay(60)
        app.wait_for_mark(job.id, "started")
        stopping_at = time.monotonic()
    assert time.monotonic() - stopping_at < 5
    app.wait_for_mark(job.id, "interrupted")
    # Not recorded as cancelled: released as a rescue, to run again elsewhere.
    assert app.status(job.id) == "pending"
    assert not any(t.name == "taskito-async-loop" for t in threading.enumerate())


def test_pool_objects_refuse_misuse(make_app: MakeApp) -> None:
    app = make_app()
    env = app.queue._execution_env()
    with pytest.raises(ValueError, match="async_concurrency"):
        EventLoopRunner(env, 0, thread_name="x")
    with pytest.raises(ValueError, match="async_concurrency"):
        ThreadPool(env, 1, async_concurrency=-1)
    with pytest.raises(ValueError, match="async_concurrency"):
        create_pool("async", env, 1, async_concurrency=0)
    pool = create_pool("async", env, 2, async_concurrency=7)
    assert isinstance(pool, AsyncPool) and pool.capacity == 7
    app.queue.enqueue(app.task("aslow").name, args=(0.01,))
    (record,) = app.queue._storage.claim("misuse", None, None, 1, now_ms(), 60_000)
    job = env.resolve(record)
    with pytest.raises(RuntimeError, match="not running"):
        pool.submit(job, lambda _job, _outcome: None)
    runner = EventLoopRunner(env, 1, thread_name="test-loop")
    runner.start()
    try:
        with pytest.raises(RuntimeError, match="already started"):
            runner.start()
        runner.submit(job, lambda _job, _outcome: None)
        with pytest.raises(ValueError, match="already running"):
            runner.submit(job, lambda _job, _outcome: None)
    finally:
        runner.shutdown(5)
    assert runner.cancel(record.id) is False and runner.abandon(record.id) is False


def test_free_slots_count_only_the_kinds_of_tasks_registered(harness: Harness) -> None:
    gate = threading.Event()
    harness.task(lambda: gate.wait(10), name="blocks")
    async_pool = AsyncPool(harness.env, 1, async_concurrency=5)
    thread_pool = ThreadPool(harness.env, 3, async_concurrency=2)
    async_pool.start()
    thread_pool.start()
    try:
        # Only sync tasks: the async pool is bounded by its one helper thread.
        assert async_pool.free_slots(0) == 1
        async_pool.submit(claim(harness, "blocks"), lambda _job, _outcome: None)
        assert async_pool.free_slots(1) == 0
        assert thread_pool.free_slots(0) == 3 and thread_pool.free_slots(2) == 1

        async def sleeps() -> None:
            await asyncio.sleep(10)

        harness.task(sleeps, is_async=True)  # both kinds now: the fewer free slots count
        assert thread_pool.free_slots(0) == 2
        thread_pool.submit(claim(harness, "sleeps"), lambda _job, _outcome: None)
        thread_pool.submit(claim(harness, "sleeps"), lambda _job, _outcome: None)
        assert thread_pool.free_slots(2) == 0  # the loop is full; the threads are not
        assert async_pool.free_slots(1) == 0
    finally:
        gate.set()
        thread_pool.shutdown(0.0)  # the sleeping coroutines are cancelled, unreported
        async_pool.shutdown(5)


def claim(harness: Harness, task_name: str) -> ClaimedJob:
    harness.enqueue(task_name)
    (job,) = harness.storage.claim("slots-test", None, None, 1, now_ms(), 60_000)
    return harness.env.resolve(job)
