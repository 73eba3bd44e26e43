"""``@queue.task(on_excess="drop")`` on every backend (issue 18): a job its task's or its
queue's rate limit refuses at claim is dead-lettered without running (``retry_count``
unchanged, dependents cancelled, no middleware hook and no task event); the default defers;
a concurrency cap or an open circuit breaker always defers."""

from __future__ import annotations

import threading
from typing import Any

from taskito import EventType, Queue, TaskMiddleware
from tests.api.backends.support import record_of, worker_thread
from tests.helpers import wait_until


def _shed_error(task_name: str) -> str:
    return (
        f"rate_limit: task {task_name!r} is over its dispatch rate limit, and its on_excess is drop"
    )


class Everything(TaskMiddleware):
    """Records every hook the worker calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def before(self, ctx: Any) -> None:
        self.calls.append("before")

    def after(self, ctx: Any, result: Any, error: BaseException | None) -> None:
        self.calls.append("after")

    def on_retry(self, ctx: Any, error: BaseException, retry_count: int) -> None:
        self.calls.append("on_retry")

    def on_dead_letter(self, ctx: Any, error: BaseException) -> None:
        self.calls.append("on_dead_letter")


def _events(queue: Queue) -> list[EventType]:
    seen: list[EventType] = []
    for kind in (EventType.JOB_COMPLETED, EventType.JOB_FAILED, EventType.JOB_DEAD):
        queue.on_event(kind, lambda event_type, _payload: seen.append(event_type))
    return seen


def test_drop_dead_letters_what_the_task_rate_limit_refuses(queue: Queue) -> None:
    hooks = Everything()
    events = _events(queue)
    ran: list[int] = []

    @queue.task(rate_limit="1/h", on_excess="drop", max_retries=3, middleware=[hooks])
    def report(n: int) -> int:
        ran.append(n)
        return n

    first = report.delay(1)
    with worker_thread(queue):
        assert first.result(timeout=20) == 1  # took the hour's one slot
        wait_until(lambda: events == [EventType.JOB_COMPLETED], message="the first job's event")
        shed = report.delay(2)
        after_shed = report.apply_async(args=(3,), depends_on=shed.id)
        wait_until(lambda: record_of(queue, shed.id).status == "dead", timeout_s=20)
        wait_until(lambda: record_of(queue, after_shed.id).status == "cancelled", timeout_s=20)
    assert ran == [1]
    record = record_of(queue, shed.id)
    assert record.error == _shed_error(report.name)
    assert record.retry_count == 0 and record.attempt == 1
    letters = queue.dead_letters()
    assert [(letter["original_job_id"], letter["error"]) for letter in letters] == [
        (shed.id, _shed_error(report.name))
    ]
    assert letters[0]["retry_count"] == 0
    assert record_of(queue, after_shed.id).error == f"dependency failed: {shed.id}"
    # Only the job that ran went through middleware and events.
    assert hooks.calls == ["before", "after"]
    assert events == [EventType.JOB_COMPLETED]


def test_drop_applies_to_the_queue_rate_limit_too(queue: Queue) -> None:
    @queue.task(on_excess="drop", queue="slow")
    def shed(n: int) -> int:
        return n

    queue.set_queue_rate_limit("slow", "1/h")
    jobs = [shed.delay(n) for n in range(3)]
    with worker_thread(queue):
        wait_until(
            lambda: (
                sorted(record_of(queue, job.id).status for job in jobs)
                == ["complete", "dead", "dead"]
            ),
            timeout_s=20,
        )
    errors = {record_of(queue, job.id).error for job in jobs}
    assert errors == {None, _shed_error(shed.name)}


def test_the_default_defers_without_spending_a_retry(queue: Queue) -> None:
    @queue.task(rate_limit="1/h")
    def kept(n: int) -> int:
        return n

    first, second = kept.delay(1), kept.delay(2)
    with worker_thread(queue):
        wait_until(
            lambda: (
                {record_of(queue, job.id).status for job in (first, second)}
                == {"complete", "pending"}
            ),
            timeout_s=20,
        )
    records = [record_of(queue, job.id) for job in (first, second)]
    waiting = next(record for record in records if record.status == "pending")
    assert waiting.retry_count == 0 and waiting.error is None
    assert queue.dead_letters() == []


def test_an_open_breaker_defers_even_a_dropping_task(queue: Queue) -> None:
    calls: list[int] = []

    @queue.task(
        on_excess="drop",
        rate_limit="1000/s",
        max_retries=0,
        circuit_breaker={"threshold": 1, "cooldown": 3600},
    )
    def fragile(n: int) -> None:
        calls.append(n)
        raise RuntimeError("down")

    broke = fragile.delay(1)
    with worker_thread(queue):
        wait_until(lambda: record_of(queue, broke.id).status == "dead", timeout_s=20)
        wait_until(lambda: queue.circuit_breakers()[0]["state"] == "open", timeout_s=20)
        held = fragile.delay(2)
        wait_until(
            lambda: (
                record_of(queue, held.id).attempt >= 1
                and record_of(queue, held.id).status == "pending"
            ),
            timeout_s=20,
        )
    assert calls == [1]
    assert record_of(queue, held.id).retry_count == 0
    assert len(queue.dead_letters()) == 1  # the failure, not the held-back job


def test_a_concurrency_cap_defers_even_a_dropping_task(queue: Queue) -> None:
    release = threading.Event()

    @queue.task(on_excess="drop", max_concurrent=1)
    def one_at_a_time(n: int) -> int:
        release.wait(20)
        return n

    jobs = [one_at_a_time.delay(n) for n in range(2)]
    with worker_thread(queue, workers=2):
        wait_until(
            lambda: any(
                record_of(queue, job.id).status == "pending"
                and record_of(queue, job.id).attempt >= 1
                for job in jobs
            ),
            timeout_s=20,
            message="the second job claimed and held back",
        )
        release.set()
        assert sorted(job.result(timeout=20) for job in jobs) == [0, 1]
    assert queue.dead_letters() == []
