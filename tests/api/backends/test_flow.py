"""The Queue's flow-control API (issue 6 points 4 and 6): ``@queue.periodic`` and
``list_periodic``, ``set_queue_rate_limit``, ``set_queue_concurrency``, ``circuit_breakers`` /
``acircuit_breakers``, with their bad inputs, on every backend."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from taskito import PeriodicInfo, Queue
from taskito.exceptions import ConfigurationError, SerializationError
from taskito.job import now_ms
from taskito.registry import PeriodicSpec, QueueLimits, RateLimit
from taskito.storage.control import BreakerConfig
from taskito.task import TaskWrapper
from tests.api.backends.support import (
    Backend,
    status_of,
    worker_thread,
)
from tests.helpers import wait_until

# --- @queue.periodic ----------------------------------------------------------------------


def test_periodic_registers_a_task_and_a_schedule(queue: Queue) -> None:
    @queue.periodic(cron="0 */5 * * * *", args=(1,), kwargs={"b": 2}, queue="cron")
    def report(a: int, b: int) -> int:
        return a + b

    assert isinstance(report, TaskWrapper)
    assert report(1, 2) == 3  # still directly callable
    assert report.name in queue._task_registry
    assert queue._periodic[report.name] == PeriodicSpec(
        name=report.name,
        task_name=report.name,
        cron="0 */5 * * * *",
        timezone=None,
        queue="cron",
        args=(1,),
        kwargs={"b": 2},
    )


def test_periodic_name_names_the_task_and_the_schedule(queue: Queue) -> None:
    @queue.periodic("0 0 9 * * MON-FRI", name="morning", timezone="Europe/Paris")
    def wake() -> None: ...

    assert wake.name == "morning"
    spec = queue._periodic["morning"]
    assert (spec.task_name, spec.timezone, spec.queue) == ("morning", "Europe/Paris", "default")
    assert (spec.args, spec.kwargs) == ((), {})


def test_periodic_stacked_on_a_task_schedules_that_task(queue: Queue) -> None:
    @queue.periodic("0 * * * * *")
    @queue.task(name="sync", priority=9, max_retries=0, timeout=30)
    def sync() -> int:
        return 1

    assert sync() == 1 and sync.name == "sync"
    assert list(queue._task_registry) == ["sync"]
    assert queue._task_registry["sync"].priority == 9
    assert queue._periodic["sync"].task_name == "sync"


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"cron": "* * * * *"}, ValueError, r"'\* \* \* \* \*'.*6 or 7 fields"),
        ({"cron": "61 * * * * *"}, ValueError, "second"),
        ({"cron": "* * * * * *", "timezone": "Mars/Olympus"}, ValueError, "Mars/Olympus"),
        ({"cron": 5}, ValueError, "cron expression must be a str"),
        ({"cron": "* * * * * *", "queue": ""}, ValueError, "queue"),
        ({"cron": "* * * * * *", "name": ""}, ValueError, "name"),
        ({"cron": "* * * * * *", "args": "ab"}, TypeError, "args"),
        ({"cron": "* * * * * *", "kwargs": [1]}, TypeError, "kwargs"),
        ({"cron": "* * * * * *", "args": (threading.Lock(),)}, SerializationError, "serialized"),
    ],
)
def test_periodic_rejects_bad_declarations_at_once(
    queue: Queue, options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        queue.periodic(**options)
    assert queue._periodic == {} and queue._task_registry == {}


def test_a_duplicate_schedule_name_is_a_clear_error(queue: Queue) -> None:
    @queue.periodic("* * * * * *", name="tick")
    def first() -> None: ...

    with pytest.raises(ConfigurationError, match="periodic schedule named 'tick'"):

        @queue.periodic("0 * * * * *", name="tick")
        def second() -> None: ...

    assert queue._periodic["tick"].cron == "* * * * * *"


def test_periodic_decorates_functions_only(queue: Queue) -> None:
    with pytest.raises(TypeError, match="decorates a function"):
        queue.periodic("* * * * * *")(42)  # type: ignore[arg-type]


def test_a_worker_fires_a_periodic_task(backend: Backend) -> None:
    queue = backend.queue(workers=2)
    seen: list[int] = []

    @queue.periodic("* * * * * *", name="heartbeat", args=(7,))
    def heartbeat(value: int) -> None:
        seen.append(value)

    with worker_thread(queue):
        wait_until(lambda: len(seen) >= 1, 10, message="a slot ran")
    assert seen[0] == 7
    (schedule,) = queue._storage.periodic_schedules()
    assert schedule.name == "heartbeat" and schedule.last_run is not None


def test_list_periodic_shows_the_stored_schedules(backend: Backend) -> None:
    queue = backend.queue(workers=1)

    @queue.periodic("* * * * * *", name="heartbeat", queue="cron")
    def heartbeat() -> None:
        pass

    @queue.periodic("0 0 0 1 1 * 2000", name="past", timezone="Europe/Paris")
    def past() -> None:
        pass

    assert queue.list_periodic() == []  # declared, not stored until a worker starts
    started = now_ms()
    with worker_thread(queue):
        wait_until(
            lambda: any(info.last_run for info in queue.list_periodic()), 10, message="a slot"
        )
    beat, never = queue.list_periodic()
    assert beat == PeriodicInfo(
        name="heartbeat",
        task_name="heartbeat",
        cron_expr="* * * * * *",
        queue="cron",
        enabled=True,
        last_run=beat.last_run,
        next_run=beat.next_run,
        timezone=None,
    )
    assert beat.last_run is not None and beat.next_run is not None
    assert started - 1000 <= beat.last_run < beat.next_run
    assert (never.name, never.timezone, never.next_run, never.last_run) == (
        "past",
        "Europe/Paris",
        None,  # the year field is past: it never fires
        None,
    )
    assert asyncio.run(queue.alist_periodic()) == queue.list_periodic()
    with backend.queue() as other:  # the catalog is the database's, not the declaring app's
        assert [info.name for info in other.list_periodic()] == ["heartbeat", "past"]


# --- queue-level limits -------------------------------------------------------------------


def test_queue_limits_are_stored_and_cleared(queue: Queue) -> None:
    queue.set_queue_rate_limit("mail", "100/m")
    queue.set_queue_concurrency("mail", 3)
    assert queue._queue_limits["mail"] == QueueLimits(RateLimit(100, 60.0), 3)
    queue.set_queue_rate_limit("mail", None)
    assert queue._queue_limits["mail"] == QueueLimits(None, 3)
    queue.set_queue_concurrency("mail", None)
    assert "mail" not in queue._queue_limits  # no entry: no checks at claim time


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda q: q.set_queue_rate_limit("mail", "fast"), ValueError, "rate_limit 'fast'"),
        (lambda q: q.set_queue_rate_limit("mail", "0/s"), ValueError, "rate_limit '0/s'"),
        (lambda q: q.set_queue_rate_limit("mail", 10), TypeError, "rate_limit"),
        (lambda q: q.set_queue_rate_limit("", "1/s"), ValueError, "queue_name"),
        (lambda q: q.set_queue_concurrency("mail", 0), ValueError, "max_concurrent"),
        (lambda q: q.set_queue_concurrency("mail", -2), ValueError, "max_concurrent"),
        (lambda q: q.set_queue_concurrency("mail", 1.5), TypeError, "max_concurrent"),
        (lambda q: q.set_queue_concurrency("mail", True), TypeError, "max_concurrent"),
        (lambda q: q.set_queue_concurrency(None, 1), TypeError, "queue_name"),
    ],
)
def test_queue_limits_reject_bad_values(
    queue: Queue, call: Any, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        call(queue)
    assert queue._queue_limits == {}


def test_a_queue_rate_limit_spaces_jobs_in_a_worker(backend: Backend) -> None:
    queue = backend.queue(workers=4)

    @queue.task(queue="slow")
    def ping() -> None: ...

    queue.set_queue_rate_limit("slow", "5/s")
    jobs = [ping.delay() for _ in range(3)]
    with worker_thread(queue):
        wait_until(lambda: all(status_of(queue, j.id) == "complete" for j in jobs), 10)
    records = [queue._storage.get_job(j.id) for j in jobs]
    started = sorted(r.started_at or 0 for r in records if r is not None)
    assert len(started) == 3 and started[-1] - started[0] >= 2 * 200
    assert all(r is not None and r.retry_count == 0 for r in records)


# --- circuit breakers ---------------------------------------------------------------------

BREAKER_KEYS = {
    "task_name",
    "state",
    "failure_count",
    "last_failure_at",
    "opened_at",
    "threshold",
    "window_ms",
    "cooldown_ms",
}


def test_circuit_breakers_lists_every_breaker_as_a_dict(queue: Queue) -> None:
    assert queue.circuit_breakers() == []
    config = BreakerConfig(threshold=1, window_ms=60_000, cooldown_ms=30_000,
                           half_open_probes=1, half_open_success_rate=1.0)  # fmt: skip
    now = now_ms()
    queue._storage.breaker_record("flaky", config, False, now)
    queue._storage.breaker_admit("steady", config, now)
    breakers = queue.circuit_breakers()
    assert [b["task_name"] for b in breakers] == ["flaky", "steady"]
    assert all(set(b) == BREAKER_KEYS for b in breakers)
    assert breakers[0] | {"last_failure_at": None} == {
        "task_name": "flaky",
        "state": "open",
        "failure_count": 1,
        "last_failure_at": None,
        "opened_at": now,
        "threshold": 1,
        "window_ms": 60_000,
        "cooldown_ms": 30_000,
    }
    assert breakers[1]["state"] == "closed" and breakers[1]["opened_at"] is None
    assert asyncio.run(queue.acircuit_breakers()) == breakers


def test_a_worker_opens_the_breaker_of_a_failing_task(backend: Backend) -> None:
    queue = backend.queue(workers=1)

    @queue.task(max_retries=0, circuit_breaker={"threshold": 2, "cooldown": 60})
    def broken() -> None:
        raise RuntimeError("down")

    failed = [broken.delay() for _ in range(2)]
    with worker_thread(queue):
        wait_until(lambda: [b["state"] for b in queue.circuit_breakers()] == ["open"], 10)
        held = broken.delay()
        wait_until(lambda: attempts(queue, held.id) >= 1, 10, message="the job was claimed")
    assert [status_of(queue, j.id) for j in failed] == ["dead", "dead"]
    assert status_of(queue, held.id) == "pending"  # held back until the cooldown ends, not failed
    record = queue._storage.get_job(held.id)
    assert record is not None and record.retry_count == 0 and record.error is None
    (breaker,) = queue.circuit_breakers()
    assert breaker["failure_count"] == 2 and breaker["cooldown_ms"] == 60_000


def attempts(queue: Queue, job_id: str) -> int:
    record = queue._storage.get_job(job_id)
    assert record is not None
    return record.attempt
