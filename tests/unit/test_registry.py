"""Task registry records: rate-limit parsing, retry filters, task lookup and the resolved
``ClaimedJob``."""

from __future__ import annotations

from typing import Any, cast

import pytest

from taskito.job import JobRecord, JobStatus
from taskito.middleware import TaskMiddleware
from taskito.registry import ExecutionEnv, Hooks, RateLimit, TaskSpec, parse_rate_limit
from taskito.serializers import CloudpickleSerializer
from taskito.storage.base import Storage


@pytest.mark.parametrize(
    ("text", "count", "period_s"),
    [
        ("10/s", 10, 1.0),
        ("3/sec", 3, 1.0),
        ("3/second", 3, 1.0),
        ("100/m", 100, 60.0),
        ("2/min", 2, 60.0),
        ("2/minute", 2, 60.0),
        ("5/h", 5, 3600.0),
        ("1/hr", 1, 3600.0),
        ("1/hour", 1, 3600.0),
        (" 20 / S ", 20, 1.0),
        ("7/Minute", 7, 60.0),
    ],
)
def test_parse_rate_limit_accepts_the_documented_forms(
    text: str, count: int, period_s: float
) -> None:
    assert parse_rate_limit(text) == RateLimit(count=count, period_s=period_s)


def test_rate_limit_per_second() -> None:
    assert parse_rate_limit("120/m").per_second == 2.0
    assert parse_rate_limit("10/s").per_second == 10.0


@pytest.mark.parametrize(
    "text",
    ["", "10", "/s", "10/", "10/d", "10/day", "10/seconds", "ten/s", "1e3/s", "10//s", "10/s/m"],
)
def test_parse_rate_limit_rejects_malformed_text(text: str) -> None:
    with pytest.raises(ValueError, match="invalid rate_limit"):
        parse_rate_limit(text)


@pytest.mark.parametrize("text", ["0/s", "-1/s", "1.5/s", "0.0/m", "10.0/s"])
def test_parse_rate_limit_rejects_non_positive_or_fractional_counts(text: str) -> None:
    with pytest.raises(ValueError, match="invalid rate_limit"):
        parse_rate_limit(text)


@pytest.mark.parametrize("value", [10, None, 1.5, b"10/s"])
def test_parse_rate_limit_rejects_non_strings(value: object) -> None:
    with pytest.raises(TypeError, match="rate_limit must be a string"):
        parse_rate_limit(value)  # type: ignore[arg-type]


def _spec(**options: Any) -> TaskSpec:
    return TaskSpec(name="tasks.work", fn=lambda: None, **options)


def test_allows_retry_by_default() -> None:
    assert _spec().allows_retry(ValueError("x"))
    assert _spec().allows_retry(KeyboardInterrupt())


def test_retry_on_retries_only_what_it_names_and_subclasses() -> None:
    spec = _spec(retry_on=(ConnectionError, ValueError))
    assert spec.allows_retry(ConnectionResetError())  # subclass of ConnectionError
    assert spec.allows_retry(UnicodeDecodeError("utf-8", b"", 0, 1, "bad"))  # a ValueError
    assert not spec.allows_retry(KeyError("k"))


def test_dont_retry_on_excludes_what_it_names() -> None:
    spec = _spec(dont_retry_on=(PermissionError,))
    assert not spec.allows_retry(PermissionError())
    assert spec.allows_retry(TimeoutError())


def test_dont_retry_on_wins_over_retry_on() -> None:
    spec = _spec(retry_on=(OSError,), dont_retry_on=(PermissionError,))
    assert spec.allows_retry(TimeoutError())  # an OSError
    assert not spec.allows_retry(PermissionError())  # an OSError, but excluded
    assert not spec.allows_retry(ValueError())  # not named by retry_on


def test_task_spec_defaults() -> None:
    spec = _spec()
    assert (spec.queue, spec.priority, spec.max_retries) == ("default", 0, 3)
    assert spec.timeout_s == 300.0
    assert spec.soft_timeout_s is None
    assert spec.serializer is None
    assert spec.middleware == ()


def _env(*names: str) -> ExecutionEnv:
    tasks = {name: TaskSpec(name=name, fn=print) for name in names}
    # lookup() never touches storage; a unit test holds none (no I/O).
    return ExecutionEnv(
        storage=cast(Storage, None),
        serializer=CloudpickleSerializer(),
        tasks=tasks,
        middleware=[],
        hooks=Hooks(),
    )


def test_lookup_finds_an_exact_name() -> None:
    env = _env("app.tasks.add", "app.tasks.mul")
    spec = env.lookup("app.tasks.add")
    assert spec is not None
    assert spec.name == "app.tasks.add"


def test_lookup_of_an_unknown_name_is_none() -> None:
    assert _env("app.tasks.add").lookup("app.tasks.sub") is None
    assert _env("app.tasks.add").lookup("tasks.add") is None  # no suffix match outside __main__


def test_lookup_maps_main_to_the_module_that_defines_the_task() -> None:
    spec = _env("app.tasks.add", "app.tasks.mul").lookup("__main__.add")
    assert spec is not None
    assert spec.name == "app.tasks.add"


def test_lookup_prefers_an_exact_main_name() -> None:
    spec = _env("__main__.add", "app.tasks.add").lookup("__main__.add")
    assert spec is not None
    assert spec.name == "__main__.add"


def test_lookup_of_an_ambiguous_main_name_is_none() -> None:
    assert _env("a.add", "b.add").lookup("__main__.add") is None


def test_lookup_main_suffix_matches_whole_name_parts_only() -> None:
    assert _env("app.tasks.add").lookup("__main__.dd") is None
    assert _env("app.tasks.add").lookup("__main__") is None


def test_hooks_lists_are_not_shared_between_instances() -> None:
    first, second = Hooks(), Hooks()
    first.before_task.append(print)
    assert second.before_task == []


def test_env_sees_tasks_added_to_the_shared_dict() -> None:
    env = _env()
    env.tasks["late.task"] = TaskSpec(name="late.task", fn=lambda: None)
    assert env.lookup("late.task") is not None


def _job(task_name: str) -> JobRecord:
    return JobRecord(
        id="j1",
        queue="default",
        task_name=task_name,
        payload=b"",
        status=JobStatus.RUNNING,
        priority=0,
        created_at=0,
        scheduled_at=0,
        retry_count=0,
        max_retries=0,
        timeout_ms=None,
        attempt=1,
    )


def test_resolve_carries_the_task_and_its_middleware_chain_global_first() -> None:
    env = _env()
    first, second, own = TaskMiddleware(), TaskMiddleware(), TaskMiddleware()
    env.middleware.extend([first, second])
    env.tasks["app.work"] = TaskSpec(name="app.work", fn=print, middleware=(own,))
    job = _job("__main__.work")
    claimed = env.resolve(job)
    assert claimed.job is job and claimed.spec is env.tasks["app.work"]
    assert claimed.middleware == (first, second, own)
    env.middleware.append(TaskMiddleware())  # later additions reach the next claim only
    assert claimed.middleware == (first, second, own)
    assert len(env.resolve(job).middleware) == 4


def test_resolve_of_an_unknown_task_has_no_spec_and_the_global_chain() -> None:
    env = _env("app.work")
    only = TaskMiddleware()
    env.middleware.append(only)
    claimed = env.resolve(_job("app.other"))
    assert claimed.spec is None and claimed.middleware == (only,)
    assert env.middleware_for(None) == (only,)


def test_parse_rate_limit_keeps_large_counts_exact() -> None:
    assert parse_rate_limit("99999999999999999/s").count == 99_999_999_999_999_999


# --- CallShape: the fast rules agree with Signature.bind ----------------------------------


def _plain(a: int, b: int = 1) -> None: ...
def _keyword_only(a: int, *, key: int, opt: int = 0) -> None: ...
def _positional_only(a: int, /, b: int = 2) -> None: ...
def _variadic(a: int, *rest: int, **extra: int) -> None: ...
def _no_args() -> None: ...


_FUNCTIONS = (_plain, _keyword_only, _positional_only, _variadic, _no_args)
_CALLS: tuple[tuple[tuple[int, ...], dict[str, int]], ...] = (
    ((), {}),
    ((1,), {}),
    ((1, 2), {}),
    ((1, 2, 3), {}),
    ((), {"a": 1}),
    ((1,), {"a": 1}),
    ((1,), {"b": 2}),
    ((), {"a": 1, "b": 2}),
    ((1,), {"key": 1}),
    ((1,), {"key": 1, "opt": 2}),
    ((1,), {"opt": 2}),
    ((1,), {"other": 1}),
    ((1, 2), {"b": 3}),
)


@pytest.mark.parametrize("fn", _FUNCTIONS, ids=lambda fn: fn.__name__)
def test_call_shape_refuses_exactly_what_bind_refuses(fn: Any) -> None:
    import inspect

    shape = TaskSpec(name="t", fn=fn).call_shape
    for args, kwargs in _CALLS:
        try:
            inspect.signature(fn).bind(*args, **kwargs)
        except TypeError as exc:
            with pytest.raises(TypeError, match=f"task 't' cannot be called .*: {exc}"):
                shape.check("t", args, kwargs)
        else:
            shape.check("t", args, kwargs)


def test_call_shape_of_a_function_without_a_signature_accepts_anything() -> None:
    shape = TaskSpec(name="t", fn=max).call_shape
    shape.check("t", (), {})
    shape.check("t", (1, 2, 3), {"x": 1})


def test_call_shape_reads_the_function_the_worker_calls_not_the_one_it_wraps() -> None:
    import functools

    def inner(a: int) -> int:
        return a

    @functools.wraps(inner)
    def wrapper(*args: Any, trace: bool = False, **kwargs: Any) -> int:
        return inner(*args, **kwargs)

    TaskSpec(name="t", fn=wrapper).call_shape.check("t", (1,), {"trace": True})
