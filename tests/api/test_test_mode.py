"""Test mode: tasks run at once through the engine's execution path, results are recorded,
middleware/hooks/events behave as in a worker, resources are injected, nothing is stored."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from taskito import (
    EventType,
    MockResource,
    Queue,
    ResourceNotFoundError,
    TaskMiddleware,
    TestMode,
    TestResult,
    TestResults,
    current_job,
)
from tests.api.driving import MakeQueue


def test_delay_runs_the_task_now_and_records_it(queue: Queue) -> None:
    @queue.task()
    def add(a: int, b: int) -> int:
        return a + b

    with queue.test_mode() as results:
        assert queue._test_mode_active is True
        job = add.delay(2, b=3)
        assert (job.id, job.status, job.error, job.progress) == (
            "test-000001",
            "complete",
            None,
            100,
        )
        assert job.result() == 5
        assert asyncio.run(job.aresult()) == 5
        assert add.delay(1, 1).id == "test-000002"
    assert queue._test_mode_active is False
    assert isinstance(results, TestResults)
    assert results[0] == TestResult("test-000001", add.name, (2,), {"b": 3}, 5, None, None)
    assert results[0].succeeded and not results[0].failed
    assert sum(queue.stats().values()) == 0  # nothing was stored


def test_test_mode_is_a_seam_in_enqueue_not_a_patch(queue: Queue) -> None:
    @queue.task()
    def double(x: int) -> int:
        return 2 * x

    enqueue = queue.enqueue
    with queue.test_mode() as results, queue.test_mode() as inner:
        assert queue.enqueue == enqueue  # the method is not replaced
        assert double.delay(2).result() == 4
        assert asyncio.run(queue.aenqueue(double.name, args=(3,))).result() == 6
    assert [r.return_value for r in inner] == [4, 6] and len(results) == 0
    assert queue._test_mode is None


def test_after_the_block_delay_stores_jobs_again(queue: Queue) -> None:
    @queue.task()
    def noop() -> None: ...

    with queue.test_mode():
        noop.delay()
    assert noop.delay().status == "pending"
    assert queue.stats()["pending"] == 1


def test_a_failing_task_is_recorded_and_its_result_raises(queue: Queue) -> None:
    @queue.task()
    def boom() -> None:
        raise ValueError("bad input")

    with queue.test_mode() as results:
        job = boom.delay()
    assert job.status == "failed"
    assert job.error == "ValueError: bad input"
    with pytest.raises(RuntimeError, match="failed: ValueError: bad input"):
        job.result()
    run = results.failed[0]
    assert isinstance(run.error, ValueError)
    assert run.traceback is not None and "ValueError: bad input" in run.traceback
    assert results.succeeded == []


def test_propagate_errors_raises_the_task_exception(queue: Queue) -> None:
    @queue.task()
    def boom() -> None:
        raise KeyError("missing")

    with (
        queue.test_mode(propagate_errors=True) as results,
        pytest.raises(KeyError, match="missing"),
    ):
        boom.delay()
    assert len(results) == 1


def test_an_unknown_task_name_is_a_key_error(queue: Queue) -> None:
    with queue.test_mode(), pytest.raises(KeyError, match="nope"):
        queue.enqueue("nope")


def test_map_is_not_intercepted(queue: Queue) -> None:
    @queue.task()
    def work(x: int) -> int:
        return x

    with queue.test_mode() as results:
        jobs = work.map([(1,), (2,)])
    assert results == []
    assert [job.status for job in jobs] == ["pending", "pending"]


def test_the_task_sees_its_context(queue: Queue) -> None:
    @queue.task(queue="reports")
    def whoami() -> tuple[str, str, str, int]:
        return (
            current_job.id,
            current_job.task_name,
            current_job.queue_name,
            current_job.retry_count,
        )

    with queue.test_mode():
        job = whoami.delay()
    assert job.result() == ("test-000001", whoami.name, "reports", 0)


def test_the_task_reads_the_metadata_it_was_enqueued_with(queue: Queue) -> None:
    @queue.task()
    def read_metadata() -> str | None:
        return current_job.metadata

    with queue.test_mode():
        tagged = read_metadata.apply_async(metadata='{"tenant": 7}')
        plain = read_metadata.delay()
    assert (tagged.result(), plain.result()) == ('{"tenant": 7}', None)


def test_async_tasks_run_to_completion(queue: Queue) -> None:
    @queue.task()
    async def double(x: int) -> int:
        await asyncio.sleep(0)
        return x * 2

    with queue.test_mode():
        assert double.delay(21).result() == 42


def test_middleware_hooks_and_events_run_but_on_enqueue_does_not(make_queue: MakeQueue) -> None:
    calls: list[str] = []

    class Tracking(TaskMiddleware):
        def before(self, ctx: Any) -> None:
            calls.append("mw.before")

        def after(self, ctx: Any, result: Any, error: BaseException | None) -> None:
            calls.append(f"mw.after:{result}")

        def on_enqueue(self, *args: Any) -> None:
            calls.append("mw.on_enqueue")

    queue = make_queue(middleware=[Tracking()])
    queue.before_task(lambda name, args, kwargs: calls.append("before_task"))
    queue.on_success(lambda name, args, kwargs, result: calls.append("on_success"))
    events: list[tuple[EventType, dict[str, Any]]] = []
    queue.on_event(EventType.JOB_COMPLETED, lambda kind, payload: events.append((kind, payload)))
    queue.on_event(EventType.JOB_FAILED, lambda kind, payload: events.append((kind, payload)))

    @queue.task(name="t.ok")
    def ok() -> int:
        return 1

    @queue.task(name="t.bad")
    def bad() -> None:
        raise RuntimeError("nope")

    with queue.test_mode():
        ok.delay()
        bad.delay()
    assert calls[:4] == ["mw.before", "before_task", "on_success", "mw.after:1"]
    assert "mw.on_enqueue" not in calls
    assert queue._event_bus.flush(timeout_s=5)
    durations = [payload.pop("duration_ms") for _, payload in events]
    assert all(isinstance(duration, float) and duration >= 0 for duration in durations)
    assert sorted(events, key=lambda e: e[1]["job_id"]) == [
        (
            EventType.JOB_COMPLETED,
            {"task_name": "t.ok", "job_id": "test-000001", "queue": "default"},
        ),
        (
            EventType.JOB_FAILED,
            {"task_name": "t.bad", "job_id": "test-000002", "queue": "default", "error": "nope"},
        ),
    ]


def test_results_filter_by_task_and_outcome(queue: Queue) -> None:
    @queue.task(name="t.a")
    def a(fail: bool) -> None:
        if fail:
            raise ValueError

    @queue.task(name="t.b")
    def b() -> None: ...

    with queue.test_mode() as results:
        a.delay(False)
        a.delay(True)
        b.delay()
    assert [r.job_id for r in results.filter(task_name="t.a")] == ["test-000001", "test-000002"]
    assert [r.job_id for r in results.filter(task_name="t.a", succeeded=True)] == ["test-000001"]
    assert [r.job_id for r in results.succeeded] == ["test-000001", "test-000003"]
    assert [r.job_id for r in results.failed] == ["test-000002"]


def _with_inject(queue: Queue, task_name: str, *names: str) -> None:
    """The task's inject list, set on its registered spec (as ``inject=`` would)."""
    spec = queue._task_registry[task_name]
    queue._task_registry[task_name] = dataclasses.replace(spec, inject=names)


def test_inject_at_decoration_is_honoured_in_test_mode(queue: Queue) -> None:
    @queue.task(inject=["db"])
    def use(db: Any) -> Any:
        return db

    with queue.test_mode(resources={"db": "x"}):
        assert use.delay().result() == "x"


def test_resources_are_injected_unless_passed(queue: Queue) -> None:
    @queue.task()
    def use(db: Any = None, cache: Any = None) -> tuple[Any, Any]:
        return db, cache

    _with_inject(queue, use.name, "db", "cache")

    db = MockResource("db", return_value="connection", track_calls=True)
    with queue.test_mode(resources={"db": db, "cache": {"plain": "value"}}):
        assert use.delay().result() == ("connection", {"plain": "value"})
        assert use.delay(db="mine").result() == ("mine", {"plain": "value"})
    assert db.call_count == 1
    assert db.calls == ["test-000001"]


def test_a_missing_resource_is_a_clear_error(queue: Queue) -> None:
    @queue.task()
    def use(db: Any = None) -> None: ...

    _with_inject(queue, use.name, "db")

    with queue.test_mode(), pytest.raises(ResourceNotFoundError, match="db"):
        use.delay()


def test_mock_resource_hands_out_wraps_or_return_value() -> None:
    real = object()
    wrapping = MockResource("svc", return_value="ignored", wraps=real)
    assert wrapping.get() is real
    counting = MockResource("svc", return_value=3)
    assert (counting.get(), counting.get(), counting.call_count, counting.calls) == (3, 3, 2, [])


def test_the_fake_job_dict_has_the_job_result_keys(queue: Queue) -> None:
    @queue.task(priority=3, timeout=9)
    def work() -> None: ...

    with queue.test_mode():
        job = work.delay()
    job.refresh()
    data = job.to_dict()
    assert set(data) == set(queue.enqueue("x").to_dict())
    assert (data["status"], data["priority"], data["timeout_ms"]) == ("complete", 3, 9000)


def test_test_mode_can_be_used_directly(queue: Queue) -> None:
    @queue.task()
    def one() -> int:
        return 1

    with TestMode(queue) as results:
        one.delay()
    assert [r.return_value for r in results] == [1]


def test_resources_must_be_a_dict_of_names(queue: Queue) -> None:
    with pytest.raises(TypeError, match="resources"):
        queue.test_mode(resources=["db"])  # type: ignore[arg-type]


def test_a_call_the_task_cannot_take_raises_at_delay_as_outside_test_mode(queue: Queue) -> None:
    @queue.task()
    def one(a: int) -> int:
        return a

    with queue.test_mode() as results, pytest.raises(TypeError, match="too many positional"):
        one.delay(1, 2)
    assert list(results) == []
