"""``execution.run_job`` and ``invoke``: the one execution path every pool and test mode use."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from typing import Any

import pytest

from taskito.context import ActiveJob, current_job
from taskito.exceptions import TaskCancelledError
from taskito.execution import Invocation, invoke, run_job
from taskito.job import JobRecord, JobStatus, OutcomeKind
from taskito.middleware import TaskMiddleware
from taskito.registry import ClaimedJob, TaskSpec
from taskito.serializers import JsonSerializer
from tests.worker.harness import Harness


@pytest.fixture
def harness(sqlite_harness: Harness) -> Harness:
    """SQLite only: ``run_job`` is the subject here; storage only hands out job records."""
    return sqlite_harness


def record(h: Harness, task_name: str, payload: bytes, retry_count: int = 0) -> ClaimedJob:
    """A claimed job, resolved against the harness's tasks as the worker does after a claim."""
    job = JobRecord(
        id="job-1",
        queue="q1",
        task_name=task_name,
        payload=payload,
        status=JobStatus.RUNNING,
        priority=0,
        created_at=0,
        scheduled_at=0,
        retry_count=retry_count,
        max_retries=3,
        timeout_ms=None,
        attempt=1,
    )
    return h.env.resolve(job)


def job_for(h: Harness, task_name: str, *args: Any, **kwargs: Any) -> ClaimedJob:
    return record(h, task_name, h.serializer.dumps((args, kwargs)))


class Recorder(TaskMiddleware):
    def __init__(self, name: str, calls: list[str], fail_before: bool = False) -> None:
        self.name, self.calls, self.fail_before = name, calls, fail_before

    def before(self, ctx: Any) -> None:
        self.calls.append(f"{self.name}.before:{ctx.id}")
        if self.fail_before:
            raise RuntimeError("before broke")

    def after(self, ctx: Any, result: Any, error: BaseException | None) -> None:
        self.calls.append(f"{self.name}.after:{result!r}:{type(error).__name__}")


def test_success_encodes_the_result_with_the_queue_serializer(harness: Harness) -> None:
    harness.task(lambda a, b=0: {"sum": a + b}, name="add")
    outcome = run_job(job_for(harness, "add", 2, b=3), harness.env)
    assert outcome.kind is OutcomeKind.SUCCESS
    assert outcome.result is not None
    assert harness.serializer.loads(outcome.result) == {"sum": 5}
    assert outcome.wall_time_ns > 0


def test_a_none_result_is_stored_as_none(harness: Harness) -> None:
    harness.task(lambda: None, name="nothing")
    outcome = run_job(job_for(harness, "nothing"), harness.env)
    assert (outcome.kind, outcome.result) == (OutcomeKind.SUCCESS, None)


def test_current_job_is_bound_for_the_run_and_unbound_after(harness: Harness) -> None:
    seen: dict[str, Any] = {}

    def task() -> None:
        seen.update(id=current_job.id, queue=current_job.queue_name, retry=current_job.retry_count)

    harness.task(task)
    run_job(record(harness, "task", harness.serializer.dumps(((), {})), retry_count=2), harness.env)
    assert seen == {"id": "job-1", "queue": "q1", "retry": 2}
    with pytest.raises(RuntimeError, match="No active job context"):
        current_job.id  # noqa: B018


def test_the_task_reads_the_metadata_of_its_job(harness: Harness) -> None:
    harness.task(lambda: current_job.metadata, name="read_metadata")
    claimed = job_for(harness, "read_metadata")
    job = dataclasses.replace(
        claimed, job=dataclasses.replace(claimed.job, metadata='{"tenant": 7}')
    )
    outcome = run_job(job, harness.env)
    assert outcome.result is not None
    assert harness.serializer.loads(outcome.result) == '{"tenant": 7}'


def test_unknown_task_fails_without_retry(harness: Harness) -> None:
    outcome = run_job(job_for(harness, "nope"), harness.env)
    assert outcome.kind is OutcomeKind.FAILURE
    assert outcome.retryable is False
    assert outcome.error == "task 'nope' is not registered"


@pytest.mark.parametrize(
    "payload",
    [b"not a pickle", None, "just a string", (1, 2, 3), ((), {"x": 1}, 3), ({}, {})],
)
def test_a_corrupt_payload_fails_that_job_only(harness: Harness, payload: Any) -> None:
    harness.task(lambda *a, **k: "ran", name="t")
    raw = payload if isinstance(payload, bytes) else harness.serializer.dumps(payload)
    outcome = run_job(record(harness, "t", raw), harness.env)
    assert outcome.kind is OutcomeKind.FAILURE
    assert outcome.retryable is False
    assert outcome.error is not None and "could not be decoded" in outcome.error
    # The same env runs the next, valid job.
    assert run_job(job_for(harness, "t"), harness.env).kind is OutcomeKind.SUCCESS


def test_a_list_pair_payload_is_accepted(harness: Harness) -> None:
    harness.env.serializer = JsonSerializer()
    harness.task(lambda a, b: a * b, name="mul")
    outcome = run_job(record(harness, "mul", b'[[6], {"b": 7}]'), harness.env)
    assert outcome.kind is OutcomeKind.SUCCESS
    assert outcome.result == b"42"


def test_the_task_serializer_decodes_arguments(harness: Harness) -> None:
    harness.task(lambda a: a, name="echo", serializer=JsonSerializer())
    outcome = run_job(record(harness, "echo", b'[["hi"], {}]'), harness.env)
    assert harness.serializer.loads(outcome.result or b"") == "hi"


def test_an_unserializable_result_fails_with_a_clear_error(harness: Harness) -> None:
    harness.env.serializer = JsonSerializer()
    harness.task(lambda: object(), name="weird")
    outcome = run_job(record(harness, "weird", b"[[], {}]"), harness.env)
    assert outcome.kind is OutcomeKind.FAILURE
    assert outcome.retryable is False
    assert outcome.error is not None and "result could not be serialized" in outcome.error


def test_an_exception_becomes_a_failure_with_its_traceback(harness: Harness) -> None:
    def boom() -> None:
        raise ValueError("boom")

    harness.task(boom)
    outcome = run_job(job_for(harness, "boom"), harness.env)
    assert outcome.kind is OutcomeKind.FAILURE
    assert outcome.retryable is True
    assert outcome.exception_type == "ValueError"
    assert outcome.error is not None
    assert "Traceback" in outcome.error and "ValueError: boom" in outcome.error


def test_retry_filters_decide_retryable(harness: Harness) -> None:
    def fail(kind: str) -> None:
        raise {"value": ValueError, "key": KeyError, "type": TypeError}[kind]("x")

    harness.task(fail, name="only_value", retry_on=(ValueError,))
    harness.task(fail, name="not_key", dont_retry_on=(KeyError,))
    assert run_job(job_for(harness, "only_value", "value"), harness.env).retryable
    assert not run_job(job_for(harness, "only_value", "type"), harness.env).retryable
    assert not run_job(job_for(harness, "not_key", "key"), harness.env).retryable
    assert run_job(job_for(harness, "not_key", "type"), harness.env).retryable


def test_task_cancelled_error_and_subclasses_mean_cancelled(harness: Harness) -> None:
    class MyCancel(TaskCancelledError):
        pass

    def stop() -> None:
        raise MyCancel("stop")

    harness.task(stop)
    outcome = run_job(job_for(harness, "stop"), harness.env)
    assert outcome.kind is OutcomeKind.CANCELLED
    assert outcome.retryable is False


def test_check_cancelled_reads_the_flag_given_to_run_job(harness: Harness) -> None:
    started, flag = threading.Event(), threading.Event()

    def loop() -> None:
        started.set()
        while True:
            current_job.check_cancelled()

    harness.task(loop)
    outcomes: list[Any] = []
    runner = threading.Thread(
        target=lambda: outcomes.append(run_job(job_for(harness, "loop"), harness.env, flag))
    )
    runner.start()
    assert started.wait(5)
    flag.set()
    runner.join(5)
    assert not runner.is_alive()
    assert outcomes[0].kind is OutcomeKind.CANCELLED


def test_a_flag_set_before_the_start_means_the_task_never_runs(harness: Harness) -> None:
    ran: list[int] = []
    harness.task(lambda: ran.append(1), name="t")
    flag = threading.Event()
    flag.set()
    outcome = run_job(job_for(harness, "t"), harness.env, flag)
    assert outcome.kind is OutcomeKind.CANCELLED
    assert ran == []


def test_order_of_middleware_and_hooks_on_success(harness: Harness) -> None:
    calls: list[str] = []
    harness.middleware.append(Recorder("global", calls))
    harness.hooks.before_task.append(lambda name, a, k: calls.append(f"before_task:{name}:{a}"))
    harness.hooks.on_success.append(lambda name, a, k, r: calls.append(f"on_success:{r}"))
    harness.hooks.on_failure.append(lambda name, a, k, e: calls.append("on_failure"))
    harness.hooks.after_task.append(lambda name, a, k, r, e: calls.append(f"after_task:{r}:{e}"))

    def work(x: int) -> int:
        calls.append("task")
        return x + 1

    harness.task(work, middleware=(Recorder("task", calls),))
    outcome = run_job(job_for(harness, "work", 1), harness.env)
    assert outcome.kind is OutcomeKind.SUCCESS
    assert calls == [
        "global.before:job-1",
        "task.before:job-1",
        "before_task:work:(1,)",
        "task",
        "on_success:2",
        "after_task:2:None",
        "global.after:2:NoneType",
        "task.after:2:NoneType",
    ]


def test_order_on_failure_and_a_failing_before_is_left_out_of_after(harness: Harness) -> None:
    calls: list[str] = []
    harness.middleware.append(Recorder("broken", calls, fail_before=True))
    harness.middleware.append(Recorder("ok", calls))
    harness.hooks.on_failure.append(lambda name, a, k, e: calls.append(f"on_failure:{e}"))
    harness.hooks.after_task.append(
        lambda name, a, k, r, e: calls.append(f"after_task:{type(e).__name__}")
    )

    def bad() -> None:
        raise KeyError("k")

    harness.task(bad)
    outcome = run_job(job_for(harness, "bad"), harness.env)
    assert outcome.kind is OutcomeKind.FAILURE
    assert calls == [
        "broken.before:job-1",
        "ok.before:job-1",
        "on_failure:'k'",
        "after_task:KeyError",
        "ok.after:None:KeyError",
    ]


def test_a_raising_middleware_after_is_ignored(harness: Harness) -> None:
    class BadAfter(TaskMiddleware):
        def after(self, ctx: Any, result: Any, error: BaseException | None) -> None:
            raise RuntimeError("after broke")

    harness.middleware.append(BadAfter())
    harness.task(lambda: 5, name="five")
    outcome = run_job(job_for(harness, "five"), harness.env)
    assert outcome.kind is OutcomeKind.SUCCESS


@pytest.mark.parametrize("hook_list", ["before_task", "on_success", "after_task"])
def test_a_raising_hook_fails_the_attempt(harness: Harness, hook_list: str) -> None:
    ran: list[int] = []

    def hook(*args: Any) -> None:
        raise LookupError(f"{hook_list} broke")

    getattr(harness.hooks, hook_list).append(hook)
    harness.task(lambda: ran.append(1), name="t")
    outcome = run_job(job_for(harness, "t"), harness.env)
    assert outcome.kind is OutcomeKind.FAILURE
    assert outcome.error is not None and f"LookupError: {hook_list} broke" in outcome.error
    assert ran == ([] if hook_list == "before_task" else [1])


def test_async_tasks_and_returned_coroutines_run_to_completion(harness: Harness) -> None:
    async def double(x: int) -> int:
        await asyncio.sleep(0)
        return current_job.retry_count + x * 2

    def returns_coroutine(x: int) -> Any:
        return double(x)

    harness.task(double)
    harness.task(returns_coroutine)
    for name in ("double", "returns_coroutine"):
        outcome = run_job(job_for(harness, name, 21), harness.env)
        assert harness.serializer.loads(outcome.result or b"") == 42


def test_an_async_task_runs_even_when_a_loop_runs_in_the_calling_thread(
    harness: Harness,
) -> None:
    async def who() -> str:
        await asyncio.sleep(0)
        return current_job.id

    harness.task(who)

    async def main() -> Any:
        return run_job(job_for(harness, "who"), harness.env)

    outcome = asyncio.run(main())
    assert harness.serializer.loads(outcome.result or b"") == "job-1"


def test_invoke_returns_an_invocation_and_never_raises_for_task_errors(
    harness: Harness,
) -> None:
    harness.task(lambda: 1 / 0, name="div")
    spec = harness.tasks["div"]
    active = ActiveJob("j", "div", 0, "default")
    invocation = invoke(spec, harness.env, active, (), {}, middleware=())
    assert isinstance(invocation, Invocation)
    assert isinstance(invocation.error, ZeroDivisionError)
    assert invocation.traceback is not None and "ZeroDivisionError" in invocation.traceback
    ok = invoke(TaskSpec(name="v", fn=lambda v: v), harness.env, active, (3,), {}, middleware=())
    assert (ok.value, ok.error, ok.traceback) == (3, None, None)
