"""Bad input is caught at the door (issue 10 point 11), on every backend: a call the task's
signature refuses raises ``TypeError`` and an out-of-range number raises the same
``ValueError`` everywhere, before anything is stored; the limits themselves are stored
exactly."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any

import pytest

from taskito import Queue, chain, group, starmap
from taskito.queue.checks import MAX_EXACT_INT, MAX_SECONDS, PRIORITY_MAX, PRIORITY_MIN
from tests.api.backends.support import record_of


def stored_jobs(queue: Queue) -> int:
    return sum(queue.stats().values())


def add(a: int, b: int = 1, *, scale: int = 1) -> int:
    return (a + b) * scale


async def async_add(a: int, b: int) -> int:
    return a + b


def anything(*args: Any, **kwargs: Any) -> None: ...


def test_a_call_the_signature_refuses_raises_type_error_and_stores_nothing(
    queue: Queue,
) -> None:
    task = queue.task(name="t.add")(add)
    refused: list[tuple[Callable[[], object], str]] = [
        (lambda: task.delay(), "missing a required argument: 'a'"),
        (lambda: task.delay(1, 2, 3), "too many positional arguments"),
        (lambda: task.delay(1, c=3), "unexpected keyword argument 'c'"),
        (lambda: task.delay(1, a=2), "multiple values for argument 'a'"),
        (lambda: task.apply_async((1, 2, 3)), "too many positional arguments"),
        (lambda: task.apply_async(kwargs={"b": 2}), "missing a required argument: 'a'"),
        (lambda: queue.enqueue("t.add", (), {"scale": 2}), "missing a required argument"),
        (lambda: task.map([(1,), (1, 2, 3)]), "too many positional arguments"),
        (lambda: task.s(1, 2, 3).apply(), "too many positional arguments"),
        (lambda: starmap(task, [(1,), ()]).apply(), "missing a required argument"),
        (lambda: queue.enqueue_many("t.add", [(1,)], kwargs_list=[{"x": 1}]), "'x'"),
    ]
    for call, message in refused:
        with pytest.raises(TypeError, match=message) as caught:
            call()
        assert "task 't.add'" in str(caught.value)
    assert stored_jobs(queue) == 0


def test_calls_the_signature_accepts_are_stored(queue: Queue) -> None:
    task = queue.task(name="t.add")(add)
    task.delay(1)
    task.delay(1, 2, scale=3)
    task.delay(a=1, b=2)
    task.apply_async((1,), {"scale": 2})
    task.map([(1,), (1, 2)])
    queue.enqueue("not.registered.here", (1, 2, 3), {"any": "thing"})  # cannot be checked
    assert stored_jobs(queue) == 7


def test_async_partial_and_variadic_tasks_are_checked_too(queue: Queue) -> None:
    async_task = queue.task(name="t.async_add")(async_add)
    partial_task = queue.task(name="t.partial")(functools.partial(add, 1))
    variadic = queue.task(name="t.any")(anything)
    unreadable = queue.task(name="t.builtin")(max)  # no readable signature: no check
    with pytest.raises(TypeError, match=r"t\.async_add"):
        async_task.delay(1)
    with pytest.raises(TypeError, match=r"t\.partial"):
        partial_task.delay(1, 2)
    assert stored_jobs(queue) == 0
    async_task.delay(1, 2)
    partial_task.delay(2)
    variadic.delay(1, 2, 3, x=4)
    unreadable.delay()
    assert stored_jobs(queue) == 4


def test_a_chain_or_group_refuses_bad_arguments_before_storing_anything(queue: Queue) -> None:
    task = queue.task(name="t.add")(add)
    with pytest.raises(TypeError, match=r"t\.add"):
        chain(task.s(), task.s(1)).apply()
    with pytest.raises(TypeError, match=r"t\.add"):
        group(task.s(1), task.s(1, 2, 3)).apply()
    assert stored_jobs(queue) == 0  # a group checks every signature before storing any


def test_the_async_signature_apply_checks_too(queue: Queue) -> None:
    task = queue.task(name="t.add")(add)
    with pytest.raises(TypeError, match=r"t\.add"):
        asyncio.run(task.s(1, 2, 3).apply_async())
    assert stored_jobs(queue) == 0


OUT_OF_RANGE: list[tuple[dict[str, Any], str]] = [
    ({"delay": 1e300}, "delay must be at most"),
    ({"delay": float("nan")}, "delay_seconds must be a finite non-negative number"),
    ({"delay": float("inf")}, "delay_seconds must be a finite non-negative number"),
    ({"delay": -1}, "delay_seconds must be a finite non-negative number"),
    ({"delay": 10**400}, "delay must be at most"),
    ({"priority": 2**70}, "priority must be a 64-bit integer"),
    ({"priority": PRIORITY_MAX + 1}, "priority must be a 64-bit integer"),
    ({"priority": PRIORITY_MIN - 1}, "priority must be a 64-bit integer"),
    ({"timeout": 1e300}, "timeout must be at most"),
    ({"timeout": float("nan")}, "timeout must be a finite positive number"),
    ({"timeout": 10**400}, "timeout must be at most"),
    ({"max_retries": 2**70}, f"max_retries must be <= {MAX_EXACT_INT}"),
    ({"max_retries": -1}, "max_retries must be >= 0"),
    ({"expires": 1e300}, "expires must be at most"),
    ({"expires": float("nan")}, "expires must be a finite non-negative number"),
    ({"result_ttl": 1e300}, "result_ttl must be at most"),
    ({"result_ttl": -5}, "result_ttl must be a finite non-negative number"),
]


@pytest.mark.parametrize(("options", "message"), OUT_OF_RANGE)
def test_out_of_range_numbers_raise_the_same_value_error_and_store_nothing(
    queue: Queue, options: dict[str, Any], message: str
) -> None:
    task = queue.task(name="t.add")(add)
    with pytest.raises(ValueError, match=message):
        task.apply_async((1,), **options)
    with pytest.raises(ValueError, match=message):
        queue.enqueue("t.add", (1,), **options)
    with pytest.raises(ValueError, match=message):
        queue.enqueue_many("t.add", [(1,), (2,)], **options)
    assert stored_jobs(queue) == 0


def test_the_limits_themselves_are_stored_exactly(queue: Queue) -> None:
    task = queue.task(name="t.add")(add)
    highest = task.apply_async(
        (1,),
        priority=PRIORITY_MAX,
        max_retries=MAX_EXACT_INT,
        delay=MAX_SECONDS,
        timeout=MAX_SECONDS,
        expires=MAX_SECONDS,
        result_ttl=MAX_SECONDS,
    )
    lowest = task.apply_async((1,), priority=PRIORITY_MIN)
    high, low = record_of(queue, highest.id), record_of(queue, lowest.id)
    assert (high.priority, low.priority) == (PRIORITY_MAX, PRIORITY_MIN)
    assert high.max_retries == MAX_EXACT_INT
    assert high.timeout_ms == high.result_ttl_ms == round(MAX_SECONDS * 1000)
    assert high.scheduled_at == high.created_at + round(MAX_SECONDS * 1000)
    assert high.expires_at == high.created_at + round(MAX_SECONDS * 1000)
    assert high.scheduled_at <= MAX_EXACT_INT


def test_a_periodic_schedule_with_arguments_the_task_cannot_take_fails_at_definition(
    queue: Queue,
) -> None:
    with pytest.raises(TypeError, match="too many positional arguments"):
        queue.periodic(cron="0 0 * * * *", name="p.bad", args=(1, 2, 3))(add)
    task = queue.task(name="t.add")(add)
    with pytest.raises(TypeError, match="missing a required argument"):
        queue.periodic(cron="0 0 * * * *", name="p.stacked")(task)
    assert queue._periodic == {}
    assert list(queue._task_registry) == ["t.add"]  # the refused schedule registered nothing
    queue.periodic(cron="0 0 * * * *", name="p.good", args=(1,))(task)
    assert list(queue._periodic) == ["p.good"]
