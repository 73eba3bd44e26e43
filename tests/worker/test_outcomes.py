"""Outcomes: retry, dead-letter, cancelled; events and outcome hooks fire once, in the worker,
with the real retry_count; a failing hook or listener never breaks the worker."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from taskito.context import current_job
from taskito.events import EventType
from taskito.exceptions import TaskCancelledError
from taskito.job import JobStatus
from taskito.middleware import TaskMiddleware
from taskito.retry import RetryPolicy
from tests.helpers import wait_until, write_through_finish_many
from tests.worker.harness import Harness

FAST_RETRY = RetryPolicy(backoff_s=0.01)


class HookLog(TaskMiddleware):
    """Records the outcome hooks with the context they were given."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.threads: set[str] = set()

    def _note(self, *call: Any) -> None:
        self.calls.append(call)
        self.threads.add(threading.current_thread().name)

    def on_retry(self, ctx: Any, error: BaseException, retry_count: int) -> None:
        self._note("retry", ctx.id, ctx.retry_count, retry_count, type(error), str(error))

    def on_dead_letter(self, ctx: Any, error: BaseException) -> None:
        self._note("dead", ctx.id, ctx.retry_count, type(error), str(error))

    def on_timeout(self, ctx: Any) -> None:
        self._note("timeout", ctx.id, ctx.retry_count)

    def on_cancel(self, ctx: Any) -> None:
        self._note("cancel", ctx.id, ctx.retry_count, ctx.task_name, ctx.queue_name)


def test_a_failure_retries_then_completes(harness: Harness) -> None:
    hooks = HookLog()
    harness.middleware.append(hooks)

    def flaky() -> int:
        if current_job.retry_count == 0:
            raise ValueError("first try fails")
        return current_job.retry_count

    harness.task(flaky, retry=FAST_RETRY)
    job_id = harness.enqueue("flaky", max_retries=3)
    harness.burst(lambda: harness.is_terminal(job_id))
    assert harness.result(job_id) == 1
    (call,) = hooks.calls
    assert call[:5] == ("retry", job_id, 0, 0, RuntimeError)
    assert "ValueError: first try fails" in call[5]
    assert hooks.threads == {"test-worker"}  # the worker loop's thread, not a pool thread
    retrying = harness.events.of(EventType.JOB_RETRYING)
    assert len(retrying) == 1
    assert retrying[0]["retry_count"] == 0 and retrying[0]["job_id"] == job_id
    assert "first try fails" in retrying[0]["error"]
    failed = harness.events.of(EventType.JOB_FAILED)
    assert [(p["job_id"], p["queue"], p["task_name"]) for p in failed] == [
        (job_id, "default", "flaky")
    ]
    (completed,) = harness.events.of(EventType.JOB_COMPLETED)
    duration_ms = completed.pop("duration_ms")
    assert completed == {"task_name": "flaky", "job_id": job_id, "queue": "default"}
    assert isinstance(duration_ms, float) and duration_ms >= 0
    assert all(isinstance(p["duration_ms"], float) for p in failed)
    assert [e.attempt for e in harness.storage.job_errors(job_id)] == [0]


def test_exhausted_retries_dead_letter_with_the_real_retry_count(harness: Harness) -> None:
    hooks = HookLog()
    harness.middleware.append(hooks)

    def always() -> None:
        raise KeyError("nope")

    harness.task(always, retry=FAST_RETRY)
    job_id = harness.enqueue("always", max_retries=2)
    harness.burst(lambda: harness.is_terminal(job_id))
    assert harness.status(job_id) is JobStatus.DEAD
    assert [c[:4] for c in hooks.calls] == [
        ("retry", job_id, 0, 0),
        ("retry", job_id, 1, 1),
        ("dead", job_id, 2, RuntimeError),
    ]
    assert "KeyError: 'nope'" in hooks.calls[-1][4]
    assert len(harness.events.of(EventType.JOB_FAILED)) == 3
    assert [p["retry_count"] for p in harness.events.of(EventType.JOB_RETRYING)] == [0, 1]
    (dead,) = harness.events.of(EventType.JOB_DEAD)
    assert dead["job_id"] == job_id and "KeyError" in dead["error"]
    assert [d.original_job_id for d in harness.storage.dead_letters(10, 0)] == [job_id]


def test_max_retries_zero_means_no_retry(harness: Harness) -> None:
    harness.task(lambda: 1 / 0, name="div", retry=FAST_RETRY)
    job_id = harness.enqueue("div", max_retries=0)
    harness.burst(lambda: harness.is_terminal(job_id))
    record = harness.job(job_id)
    assert (record.status, record.retry_count) == (JobStatus.DEAD, 0)
    assert record.error is not None and "ZeroDivisionError" in record.error


def test_a_filtered_exception_dead_letters_with_retries_left(harness: Harness) -> None:
    def fail() -> None:
        raise PermissionError("denied")

    harness.task(fail, retry=FAST_RETRY, dont_retry_on=(PermissionError,))
    job_id = harness.enqueue("fail", max_retries=5)
    harness.burst(lambda: harness.is_terminal(job_id))
    assert harness.job(job_id).status is JobStatus.DEAD
    assert harness.events.of(EventType.JOB_RETRYING) == []


def test_an_unknown_task_dead_letters_with_a_clear_error(harness: Harness) -> None:
    harness.env.unknown_task_window_ms = 0  # no wait for a worker that knows it
    job_id = harness.enqueue("missing.task", max_retries=3)
    harness.burst(lambda: harness.is_terminal(job_id))
    record = harness.job(job_id)
    assert record.status is JobStatus.DEAD
    assert record.error == "task 'missing.task' is not registered"


def test_a_cancelled_task_ends_cancelled_with_events_and_on_cancel(harness: Harness) -> None:
    hooks = HookLog()
    harness.middleware.append(hooks)

    def quits() -> None:
        raise TaskCancelledError("I stop")

    harness.task(quits)
    job_id = harness.enqueue("quits", max_retries=3, queue="q")
    harness.burst(lambda: harness.is_terminal(job_id))
    record = harness.job(job_id)
    assert (record.status, record.error) == (JobStatus.CANCELLED, "cancelled by request")
    assert hooks.calls == [("cancel", job_id, 0, "quits", "q")]
    assert harness.events.of(EventType.JOB_CANCELLED) == [{"job_id": job_id, "task_name": "quits"}]
    assert len(harness.events.of(EventType.JOB_FAILED)) == 1
    assert harness.events.of(EventType.JOB_RETRYING) == []


def test_a_cancel_requested_job_that_fails_otherwise_ends_cancelled(harness: Harness) -> None:
    hooks = HookLog()
    harness.middleware.append(hooks)
    requested = threading.Event()

    def ignores_then_fails() -> None:
        wait_until(requested.is_set)
        raise OSError("disk on fire")

    harness.task(ignores_then_fails, retry=FAST_RETRY)
    with harness.running():
        job_id = harness.enqueue("ignores_then_fails", max_retries=5)
        wait_until(lambda: harness.status(job_id) is JobStatus.RUNNING)
        assert harness.storage.request_cancel(job_id)
        requested.set()
        wait_until(lambda: harness.is_terminal(job_id))
    assert harness.status(job_id) is JobStatus.CANCELLED
    assert [c[0] for c in hooks.calls] == ["cancel"]


def test_failing_hooks_and_listeners_do_not_break_the_worker(harness: Harness) -> None:
    class Broken(TaskMiddleware):
        def on_retry(self, ctx: Any, error: BaseException, retry_count: int) -> None:
            raise RuntimeError("hook broke")

        def on_dead_letter(self, ctx: Any, error: BaseException) -> None:
            raise RuntimeError("hook broke")

    def bad_listener(event_type: EventType, payload: dict[str, Any]) -> None:
        raise RuntimeError("listener broke")

    later = HookLog()
    harness.middleware.extend([Broken(), later])
    for event_type in EventType:
        harness.bus.on(event_type, bad_listener)

    def fails_once() -> str:
        if current_job.retry_count == 0:
            raise ValueError("once")
        return "fine"

    harness.task(fails_once, retry=FAST_RETRY)
    harness.task(lambda: 1 / 0, name="div")
    first = harness.enqueue("fails_once", max_retries=1)
    second = harness.enqueue("div")
    third = harness.enqueue("fails_once", max_retries=1)
    harness.burst(lambda: harness.is_terminal(first, second, third))
    assert harness.result(first) == "fine" and harness.result(third) == "fine"
    assert harness.status(second) is JobStatus.DEAD
    # The middleware after the broken one still ran, once per outcome.
    assert sorted(c[0] for c in later.calls) == ["dead", "retry", "retry"]


def test_each_outcome_event_fires_once_per_job(harness: Harness) -> None:
    harness.task(lambda i: i, name="ident")
    ids = [harness.enqueue("ident", i) for i in range(50)]
    harness.burst(lambda: harness.is_terminal(*ids), threads=4)
    completed = [p["job_id"] for p in harness.events.of(EventType.JOB_COMPLETED)]
    assert sorted(completed) == sorted(ids)


def test_outcome_events_carry_how_long_the_attempt_ran(harness: Harness) -> None:
    """``duration_ms`` (a later release's field) on JOB_COMPLETED and JOB_FAILED: the task's
    own run time, not the time the job waited."""

    def slow(fail: bool) -> None:
        threading.Event().wait(0.05)  # the run time being measured
        if fail:
            raise RuntimeError("failed after 50 ms")

    harness.task(slow)
    ids = [harness.enqueue("slow", False), harness.enqueue("slow", True, max_retries=0)]
    harness.burst(lambda: harness.is_terminal(*ids))
    ((completed, completed_ms),) = [
        (p["job_id"], p["duration_ms"]) for p in harness.events.of(EventType.JOB_COMPLETED)
    ]
    ((failed, failed_ms),) = [
        (p["job_id"], p["duration_ms"]) for p in harness.events.of(EventType.JOB_FAILED)
    ]
    assert [completed, failed] == ids
    assert 50 <= completed_ms < 10_000 and 50 <= failed_ms < 10_000


@pytest.mark.parametrize("write", ["finish_many", "finish_and_claim"])
def test_an_outcome_whose_write_reply_was_lost_is_announced_once(
    harness: Harness, monkeypatch: Any, write: str
) -> None:
    """The write commits but its reply is lost (a dropped connection): the worker writes
    again, storage says "not applied" (the attempt is no longer running), and the worker must
    still see that its own first write applied it: events and hooks fire once, not never.
    Either write: ``finish_many`` (the combined call made of two, as a backend that cannot
    combine them does), or ``finish_and_claim``, whose lost reply also loses the job it
    claimed: that one is given back and runs once all the same."""
    from taskito.exceptions import StorageUnavailableError

    storage = harness.storage
    if write == "finish_many":
        write_through_finish_many(monkeypatch, storage)
    real_write = getattr(storage, write)
    lost_replies: list[int] = []

    def write_then_lose_the_reply(finishes: Any, *args: Any) -> Any:
        written = real_write(finishes, *args)
        if not lost_replies:
            lost_replies.append(len(finishes))
            raise StorageUnavailableError("connection dropped before the reply")
        return written

    monkeypatch.setattr(storage, write, write_then_lose_the_reply)
    hooks = HookLog()
    harness.middleware.append(hooks)

    def doomed() -> None:
        raise ValueError("always")

    harness.task(lambda: 42, name="answer")
    harness.task(doomed)
    done = harness.enqueue("answer")
    dead = harness.enqueue("doomed", max_retries=0)
    harness.burst(
        lambda: harness.is_terminal(done, dead) and len(harness.events.of(EventType.JOB_DEAD)) == 1,
        threads=1,
    )
    assert lost_replies, "the lost reply was never simulated"
    assert harness.result(done) == 42
    completed = [e["job_id"] for e in harness.events.of(EventType.JOB_COMPLETED)]
    assert completed == [done]
    assert [e["job_id"] for e in harness.events.of(EventType.JOB_DEAD)] == [dead]
    assert [call[:2] for call in hooks.calls] == [("dead", dead)]
