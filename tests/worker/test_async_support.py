"""``taskito.async_support``: ``run_maybe_async``, the async job context under the reference's
names, and ``AsyncTaskExecutor`` (jobs by payload on an event loop of its own, bounded by its
concurrency, each outcome reported) running through the engine's async path
(docs/architecture.md)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taskito import Queue, current_job
from taskito.async_support import (
    AsyncTaskExecutor,
    clear_async_context,
    get_async_context,
    run_maybe_async,
    set_async_context,
)
from taskito.context import _clear_context, _set_context
from tests.helpers import wait_until

# --- run_maybe_async -----------------------------------------------------------------------


def test_a_plain_value_is_returned_as_it_is() -> None:
    marker = object()
    assert run_maybe_async(marker) is marker and run_maybe_async(None) is None


def test_a_coroutine_runs_on_a_fresh_loop_that_is_closed_after() -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    async def work() -> int:
        loops.append(asyncio.get_running_loop())
        return 42

    assert run_maybe_async(work()) == 42
    assert run_maybe_async(work()) == 42
    assert loops[0] is not loops[1] and loops[0].is_closed()


def test_under_a_running_loop_it_refuses_and_leaves_the_coroutine_unrun() -> None:
    ran: list[bool] = []

    async def work() -> None:
        ran.append(True)

    async def inside() -> None:
        coroutine = work()
        try:
            with pytest.raises(RuntimeError) as raised:
                run_maybe_async(coroutine)
            message = str(raised.value)
            assert "async API" in message
            assert "aresult()" in message and "aenqueue()" in message and "await" in message
            assert coroutine.cr_frame is not None  # neither run nor closed: still awaitable
            await coroutine
        finally:
            coroutine.close()

    asyncio.run(inside())
    assert ran == [True]


def test_from_a_worker_thread_of_an_async_program_it_works() -> None:
    async def work() -> str:
        return "from a thread"

    async def main() -> str:
        return await asyncio.to_thread(run_maybe_async, work())

    assert asyncio.run(main()) == "from a thread"


# --- the async job context ------------------------------------------------------------------


def test_set_get_and_clear() -> None:
    assert get_async_context() is None
    token = set_async_context("job-1", "task", 2, "q")
    try:
        context = get_async_context()
        assert context is not None
        assert (context.job_id, context.task_name, context.retry_count, context.queue_name) == (
            "job-1",
            "task",
            2,
            "q",
        )
        assert current_job.id == "job-1" and current_job.queue_name == "q"
    finally:
        clear_async_context(token)
    assert get_async_context() is None


def test_contexts_stay_apart_under_gather() -> None:
    async def one(job_id: str) -> tuple[str, str]:
        token = set_async_context(job_id, "t")
        try:
            await asyncio.sleep(0.01)
            seen = current_job.id
            await asyncio.sleep(0)
            return job_id, seen
        finally:
            clear_async_context(token)

    async def main() -> list[tuple[str, str]]:
        return list(await asyncio.gather(*(one(f"job-{i}") for i in range(5))))

    assert all(wanted == seen for wanted, seen in asyncio.run(main()))


def test_an_async_context_wins_over_the_threads_and_falls_back_to_it() -> None:
    _set_context("thread-job", "t", 0, "default")
    try:

        async def main() -> tuple[str, str]:
            token = set_async_context("task-job", "t")
            try:
                inside = current_job.id
            finally:
                clear_async_context(token)
            return inside, current_job.id

        # A new asyncio task starts from a copy of this thread's context.
        assert asyncio.run(main()) == ("task-job", "thread-job")
    finally:
        _clear_context()


# --- AsyncTaskExecutor -----------------------------------------------------------------------


class Sender:
    """Records every report, positional arguments as given."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reports: list[tuple[str, tuple[Any, ...]]] = []

    def report_success(self, *args: Any) -> None:
        with self.lock:
            self.reports.append(("success", args))

    def report_failure(self, *args: Any) -> None:
        with self.lock:
            self.reports.append(("failure", args))

    def report_cancelled(self, *args: Any) -> None:
        with self.lock:
            self.reports.append(("cancelled", args))

    def of(self, job_id: str) -> tuple[str, tuple[Any, ...]] | None:
        with self.lock:
            return next((r for r in self.reports if r[1][0] == job_id), None)


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[Queue]:
    opened = Queue(db_path=str(tmp_path / "q.db"))
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def sender() -> Sender:
    return Sender()


def payload(queue: Queue, *args: Any, **kwargs: Any) -> bytes:
    return queue._serializer.dumps((args, kwargs))


def test_jobs_run_with_current_job_and_report_success(queue: Queue, sender: Sender) -> None:
    @queue.task(name="who")
    async def who(x: int) -> list[Any]:
        await asyncio.sleep(0)
        return [current_job.id, current_job.task_name, current_job.retry_count, x]

    executor = AsyncTaskExecutor(sender, None, queue, max_concurrency=4)
    executor.start()
    try:
        assert executor._loop is not None
        assert any(t.name == "taskito-async-executor" for t in threading.enumerate())
        executor.submit_job("j1", "who", payload(queue, 5), 2, 3, "default")
        report = wait_until(lambda: sender.of("j1"), message="j1 reported")
    finally:
        executor.stop()
    kind, (job_id, task_name, result, wall_ns) = report
    assert (kind, job_id, task_name) == ("success", "j1", "who")
    assert queue._serializer.loads(result) == ["j1", "who", 2, 5] and wall_ns > 0


def test_at_most_max_concurrency_jobs_run_and_all_finish(queue: Queue, sender: Sender) -> None:
    running = 0
    peak = 0

    @queue.task(name="busy")
    async def busy() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.05)
        running -= 1

    executor = AsyncTaskExecutor(sender, {"busy": busy}, queue, max_concurrency=2)
    executor.start()
    try:
        for index in range(5):
            executor.submit_job(f"b{index}", "busy", payload(queue), 0, 0, "default")
        wait_until(lambda: len(sender.reports) == 5, message="five reports")
    finally:
        executor.stop()
    assert peak == 2
    assert [kind for kind, _ in sender.reports] == ["success"] * 5
    assert all(args[2] is None for _, args in sender.reports)  # None result: no bytes


@pytest.mark.parametrize(
    ("raised", "options", "should_retry"),
    [
        (TypeError, {"retry_on": [ValueError]}, False),
        (ValueError, {"retry_on": [ValueError]}, True),
        (KeyError, {"dont_retry_on": [KeyError]}, False),
        (RuntimeError, {}, True),
    ],
)
def test_failures_are_reported_with_should_retry(
    queue: Queue,
    sender: Sender,
    raised: type[Exception],
    options: dict[str, Any],
    should_retry: bool,
) -> None:
    @queue.task(name="fails", **options)
    async def fails() -> None:
        raise raised("boom")

    executor = AsyncTaskExecutor(sender, None, queue)
    executor.start()
    try:
        executor.submit_job("f1", "fails", payload(queue), 1, 4, "default")
        report = wait_until(lambda: sender.of("f1"), message="f1 reported")
    finally:
        executor.stop()
    kind, (job_id, task_name, error, retry_count, max_retries, wall_ns, retry) = report
    assert (kind, job_id, task_name, retry_count, max_retries) == ("failure", "f1", "fails", 1, 4)
    assert f"{raised.__name__}: {raised('boom')}" in error and wall_ns > 0
    assert retry is should_retry


def test_cancellation_and_undecodable_payloads_are_reported(queue: Queue, sender: Sender) -> None:
    from taskito import TaskCancelledError

    @queue.task(name="cancels")
    async def cancels() -> None:
        raise TaskCancelledError("stop")

    executor = AsyncTaskExecutor(sender, None, queue)
    executor.start()
    try:
        executor.submit_job("c1", "cancels", payload(queue), 0, 0, "default")
        executor.submit_job("d1", "cancels", b"not a payload", 0, 0, "default")
        cancelled = wait_until(lambda: sender.of("c1"), message="c1 reported")
        garbled = wait_until(lambda: sender.of("d1"), message="d1 reported")
    finally:
        executor.stop()
    assert cancelled[0] == "cancelled" and cancelled[1][:2] == ("c1", "cancels")
    assert garbled[0] == "failure" and "could not be decoded" in garbled[1][2]
    assert garbled[1][6] is False


def test_submitting_before_start_is_refused(queue: Queue, sender: Sender) -> None:
    executor = AsyncTaskExecutor(sender, None, queue)
    with pytest.raises(RuntimeError, match="not started"):
        executor.submit_job("x", "t", b"", 0, 0, "default")
    with pytest.raises(TypeError, match="queue_ref must be a taskito Queue"):
        AsyncTaskExecutor(sender, None, object())


def test_the_async_flags_of_a_task(queue: Queue) -> None:
    @queue.task()
    async def coro() -> None:
        return None

    @queue.task()
    def plain() -> None:
        return None

    assert coro._taskito_is_async is True and coro._taskito_async_fn is coro.__wrapped__
    assert plain._taskito_is_async is False and plain._taskito_async_fn is None
    assert queue._async_concurrency == 100
