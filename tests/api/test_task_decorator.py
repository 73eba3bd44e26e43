"""``@queue.task(...)``: names, option checks at definition time, the ``TaskSpec`` it
registers, the ``TaskWrapper`` surface, hooks and ``on_event``."""

from __future__ import annotations

import asyncio
import sys
import types
from typing import Any

import pytest

from taskito import EventType, JsonSerializer, OnExcess, Queue, TaskMiddleware, TaskWrapper
from taskito.registry import CircuitBreakerConfig, RateLimit
from taskito.retry import RetryPolicy
from taskito.task_options import default_task_name


def test_bare_decorator_is_refused(queue: Queue) -> None:
    with pytest.raises(TypeError, match="parentheses"):

        @queue.task  # type: ignore[arg-type]
        def oops() -> None: ...

    assert queue._task_registry == {}


def test_default_name_is_module_and_qualname(queue: Queue) -> None:
    @queue.task()
    def local() -> None: ...

    expected = f"{__name__}.test_default_name_is_module_and_qualname.<locals>.local"
    assert local.name == expected
    assert set(queue._task_registry) == {expected}


def _function_in_main() -> Any:
    def work() -> None: ...

    work.__module__ = "__main__"
    work.__qualname__ = "work"
    return work


def test_main_module_is_named_after_its_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    main = types.ModuleType("__main__")
    main.__spec__ = types.SimpleNamespace(name="pkg.jobs")  # type: ignore[assignment]
    monkeypatch.setitem(sys.modules, "__main__", main)
    assert default_task_name(_function_in_main()) == "pkg.jobs.work"


def test_main_module_without_spec_is_named_after_the_script(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    main = types.ModuleType("__main__")
    main.__spec__ = None
    main.__file__ = "/somewhere/my_script.py"
    monkeypatch.setitem(sys.modules, "__main__", main)
    assert default_task_name(_function_in_main()) == "my_script.work"


def test_duplicate_names_are_refused_and_the_first_stays(queue: Queue) -> None:
    @queue.task(name="jobs.send")
    def first() -> None: ...

    with pytest.raises(ValueError, match="already registered"):

        @queue.task(name="jobs.send")
        def second() -> None: ...

    assert queue._task_registry["jobs.send"].fn is first.__wrapped__


def test_options_become_the_task_spec(queue: Queue) -> None:
    mw = TaskMiddleware()
    serializer = JsonSerializer()

    @queue.task(
        name="jobs.full",
        max_retries=5,
        retry_backoff=2.0,
        timeout=30,
        priority=7,
        rate_limit="10/s",
        queue="emails",
        circuit_breaker={"threshold": 3, "window": 10},
        retry_on=[ConnectionError],
        dont_retry_on=[KeyError],
        soft_timeout=5,
        middleware=[mw],
        retry_delays=[1, 2.5],
        inject=[],
        serializer=serializer,
        max_retry_delay=60,
        max_concurrent=2,
    )
    def full(db: Any = None) -> None: ...

    spec = queue._task_registry["jobs.full"]
    assert spec.max_retries == 5
    assert spec.retry == RetryPolicy(backoff_s=2.0, delays_s=(1.0, 2.5), max_delay_s=60.0)
    assert spec.timeout_s == 30
    assert spec.soft_timeout_s == 5
    assert spec.priority == 7
    assert spec.rate_limit == RateLimit(count=10, period_s=1.0)
    assert spec.queue == "emails"
    assert spec.circuit_breaker == CircuitBreakerConfig(threshold=3, window_s=10.0)
    assert spec.retry_on == (ConnectionError,)
    assert spec.dont_retry_on == (KeyError,)
    assert spec.middleware == (mw,)
    assert spec.inject == ()
    assert spec.serializer is serializer
    assert spec.max_concurrent == 2
    assert spec.is_async is False
    assert full.inject == []


def test_defaults_become_the_task_spec(queue: Queue) -> None:
    @queue.task()
    def plain() -> None: ...

    spec = queue._task_registry[plain.name]
    assert (spec.max_retries, spec.timeout_s, spec.priority, spec.queue) == (3, 300, 0, "default")
    assert spec.retry == RetryPolicy(backoff_s=1.0, delays_s=None, max_delay_s=None)
    assert spec.rate_limit is None and spec.circuit_breaker is None
    assert spec.retry_budget is None and spec.on_excess is OnExcess.DEFER
    assert plain.inject == []


def test_retry_budget_and_on_excess_become_the_task_spec(queue: Queue) -> None:
    @queue.task(retry_budget="100/m", on_excess="drop")
    def shed() -> None: ...

    @queue.task(retry_budget=" 5 / s ", on_excess=OnExcess.DEFER)
    def kept() -> None: ...

    spec = queue._task_registry[shed.name]
    assert spec.retry_budget == RateLimit(count=100, period_s=60.0)
    assert spec.on_excess is OnExcess.DROP and spec.on_excess == "drop"
    other = queue._task_registry[kept.name]
    assert other.retry_budget == RateLimit(count=5, period_s=1.0)
    assert other.on_excess is OnExcess.DEFER


BAD_OPTIONS: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"name": ""}, ValueError, "name"),
    ({"max_retries": -1}, ValueError, "max_retries"),
    ({"max_retries": 1.5}, TypeError, "max_retries"),
    ({"retry_backoff": -1}, ValueError, "retry_backoff"),
    ({"retry_backoff": float("nan")}, ValueError, "retry_backoff"),
    ({"timeout": 0}, ValueError, "timeout"),
    ({"timeout": float("inf")}, ValueError, "timeout"),
    ({"priority": "high"}, TypeError, "priority"),
    ({"rate_limit": "fast"}, ValueError, "rate_limit"),
    ({"rate_limit": "10/fortnight"}, ValueError, "rate_limit"),
    ({"rate_limit": 10}, TypeError, "rate_limit"),
    ({"queue": ""}, ValueError, "queue"),
    ({"circuit_breaker": {"threshhold": 3}}, ValueError, "unknown keys"),
    ({"circuit_breaker": {"threshold": 0}}, ValueError, "threshold"),
    ({"circuit_breaker": {"half_open_success_rate": 2}}, ValueError, "half_open_success_rate"),
    ({"circuit_breaker": "on"}, TypeError, "circuit_breaker"),
    ({"retry_on": ValueError}, TypeError, "retry_on"),
    ({"retry_on": [str]}, TypeError, "retry_on"),
    ({"dont_retry_on": ["KeyError"]}, TypeError, "dont_retry_on"),
    ({"soft_timeout": 0}, ValueError, "soft_timeout"),
    ({"middleware": [object()]}, TypeError, "middleware"),
    ({"retry_delays": [1, -1]}, ValueError, "retry_delays"),
    ({"retry_delays": 5}, TypeError, "retry_delays"),
    ({"inject": "db"}, TypeError, "inject"),
    ({"inject": [""]}, ValueError, "inject"),
    ({"priority": 2**63}, ValueError, "64-bit"),
    ({"priority": -(2**63) - 1}, ValueError, "64-bit"),
    ({"max_retries": 2**53}, ValueError, "max_retries"),
    ({"timeout": 1e300}, ValueError, "at most"),
    ({"timeout": float("nan")}, ValueError, "timeout"),
    ({"serializer": object()}, TypeError, "serializer"),
    ({"max_retry_delay": -1}, ValueError, "max_retry_delay"),
    ({"max_concurrent": 0}, ValueError, "max_concurrent"),
    ({"retry_budget": "lots"}, ValueError, "invalid retry_budget 'lots'"),
    ({"retry_budget": "0/m"}, ValueError, "invalid retry_budget '0/m'.*positive"),
    ({"retry_budget": "5/fortnight"}, ValueError, "retry_budget"),
    ({"retry_budget": 100}, TypeError, "retry_budget must be a string"),
    (
        {"on_excess": "shed"},
        ValueError,
        "invalid on_excess 'shed': expected one of 'defer', 'drop'",
    ),
    ({"on_excess": None}, TypeError, "on_excess must be one of"),
]


@pytest.mark.parametrize(("options", "error", "fragment"), BAD_OPTIONS)
def test_bad_options_raise_at_definition_and_register_nothing(
    queue: Queue, options: dict[str, Any], error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error, match=fragment):
        queue.task(**options)
    assert queue._task_registry == {}


def test_decorating_something_not_callable_is_refused(queue: Queue) -> None:
    with pytest.raises(TypeError, match="decorates a function"):
        queue.task()(42)  # type: ignore[arg-type]


def test_wrapper_keeps_the_function_identity_and_calls_it_directly(queue: Queue) -> None:
    def add(a: int, b: int) -> int:
        """Adds."""
        return a + b

    wrapper = queue.task(name="math.add")(add)
    assert isinstance(wrapper, TaskWrapper)
    assert wrapper.__name__ == "add"
    assert wrapper.__doc__ == "Adds."
    assert wrapper.__wrapped__ is add
    assert repr(wrapper) == "<TaskWrapper 'math.add'>"
    assert wrapper(2, 3) == 5
    assert wrapper._taskito_is_async is False
    assert wrapper._taskito_async_fn is None
    assert queue.stats()["pending"] == 0  # calling it enqueues nothing


def test_async_task_call_returns_the_coroutine(queue: Queue) -> None:
    async def double(x: int) -> int:
        return x * 2

    wrapper = queue.task()(double)
    assert wrapper._taskito_is_async is True
    assert wrapper._taskito_async_fn is double
    assert queue._task_registry[wrapper.name].is_async is True
    coroutine = wrapper(21)
    assert asyncio.iscoroutine(coroutine)
    assert asyncio.run(coroutine) == 42


def test_hook_decorators_return_the_function_and_register_it(queue: Queue) -> None:
    def before(*args: Any) -> None: ...
    def after(*args: Any) -> None: ...
    def success(*args: Any) -> None: ...
    def failure(*args: Any) -> None: ...

    assert queue.before_task(before) is before
    assert queue.after_task(after) is after
    assert queue.on_success(success) is success
    assert queue.on_failure(failure) is failure
    hooks = queue._hooks
    assert (hooks.before_task, hooks.after_task) == ([before], [after])
    assert (hooks.on_success, hooks.on_failure) == ([success], [failure])


def test_hooks_must_be_callable(queue: Queue) -> None:
    with pytest.raises(TypeError, match="callable"):
        queue.before_task("not a function")  # type: ignore[type-var]


def test_on_event_registers_with_the_bus_and_refuses_strings(queue: Queue) -> None:
    def listener(event_type: EventType, payload: dict[str, Any]) -> None: ...

    queue.on_event(EventType.JOB_COMPLETED, listener)
    assert queue._event_bus.has_listeners(EventType.JOB_COMPLETED)
    with pytest.raises(TypeError, match="EventType"):
        queue.on_event("job.completed", listener)  # type: ignore[arg-type]
