"""current_job: binding per thread and per asyncio task, accessors, progress, logs, publish,
cooperative cancel (no storage read) and the soft timeout."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import timeit
from typing import Any

import pytest

from taskito import context
from taskito.context import ActiveJob, JobContext, bind, current_job, get_active, unbind
from taskito.exceptions import SoftTimeoutError, TaskCancelledError
from taskito.job import now_ms

NO_CONTEXT = "No active job context. current_job can only be used inside a running task."


class RecordingStorage:
    """Records the two storage calls JobContext makes; the context needs no other method."""

    def __init__(self) -> None:
        self.progress: list[tuple[str, int]] = []
        self.logs: list[tuple[str, str, str, str, str | None, int]] = []

    def update_progress(self, job_id: str, progress: int) -> bool:
        self.progress.append((job_id, progress))
        return True

    def add_log(
        self, job_id: str, task_name: str, level: str, message: str, extra: str | None, now: int
    ) -> None:
        self.logs.append((job_id, task_name, level, message, extra, now))


class UntouchableStorage:
    """Fails the test if the context reads anything from storage."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"storage.{name} was used")


@pytest.fixture
def storage() -> RecordingStorage:
    return RecordingStorage()


@pytest.fixture
def active(storage: RecordingStorage) -> Any:
    job = ActiveJob("job-1", "tasks.add", 2, "emails", storage=storage)  # type: ignore[arg-type]
    token = bind(job)
    yield job
    unbind(token)


# --- outside a task -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["id", "task_name", "retry_count", "queue_name", "metadata"])
def test_properties_outside_a_task_raise(name: str) -> None:
    with pytest.raises(RuntimeError, match=re.escape(NO_CONTEXT)):
        getattr(current_job, name)


@pytest.mark.parametrize(
    "call",
    [
        lambda: current_job.update_progress(50),
        lambda: current_job.log("hello"),
        lambda: current_job.publish({"a": 1}),
        lambda: current_job.check_cancelled(),
        lambda: current_job.check_timeout(),
    ],
    ids=["update_progress", "log", "publish", "check_cancelled", "check_timeout"],
)
def test_methods_outside_a_task_raise(call: Any) -> None:
    with pytest.raises(RuntimeError, match=re.escape(NO_CONTEXT)):
        call()


def test_get_active_is_none_outside_a_task() -> None:
    assert get_active() is None
    assert "no active job" in repr(current_job)


# --- binding ------------------------------------------------------------------------------


def test_properties_read_the_bound_job(active: ActiveJob) -> None:
    assert current_job.id == "job-1"
    assert current_job.task_name == "tasks.add"
    assert current_job.retry_count == 2
    assert current_job.queue_name == "emails"
    assert current_job.metadata is None
    assert get_active() is active
    assert "job-1" in repr(current_job)


def test_unbind_restores_the_outer_job() -> None:
    outer = bind(ActiveJob("outer", "t", 0, "default"))
    try:
        inner = bind(ActiveJob("inner", "t", 0, "default"))
        assert current_job.id == "inner"
        unbind(inner)
        assert current_job.id == "outer"
    finally:
        unbind(outer)
    assert get_active() is None


def test_bind_rejects_anything_but_an_active_job() -> None:
    with pytest.raises(TypeError, match="expects an ActiveJob"):
        bind({"job_id": "j"})  # type: ignore[arg-type]


def test_current_job_is_a_job_context_singleton() -> None:
    assert isinstance(current_job, JobContext)
    assert context.current_job is current_job


def test_each_thread_sees_only_its_own_job(active: ActiveJob) -> None:
    seen: dict[str, object] = {}

    def other_thread() -> None:
        seen["before"] = get_active()
        token = bind(ActiveJob("thread-job", "t", 0, "default"))
        seen["inside"] = current_job.id
        unbind(token)

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()

    assert seen == {"before": None, "inside": "thread-job"}
    assert current_job.id == "job-1"


def test_each_asyncio_task_sees_only_its_own_job() -> None:
    async def run_one(job_id: str, both_bound: asyncio.Barrier) -> list[str]:
        token = bind(ActiveJob(job_id, "t", 0, "default"))
        try:
            seen = [current_job.id]
            await both_bound.wait()  # the other task is bound now too
            seen.append(current_job.id)
            await asyncio.sleep(0)
            seen.append(current_job.id)
            return seen
        finally:
            unbind(token)

    async def main() -> list[list[str]]:
        barrier = asyncio.Barrier(2)
        return list(await asyncio.gather(run_one("a", barrier), run_one("b", barrier)))

    assert asyncio.run(main()) == [["a", "a", "a"], ["b", "b", "b"]]
    assert get_active() is None


def test_reference_style_set_and_clear_context() -> None:
    context._set_context("j9", "tasks.x", 1, "q")
    try:
        assert (current_job.id, current_job.retry_count, current_job.queue_name) == ("j9", 1, "q")
        current_job.log("no storage: accepted and dropped")
    finally:
        context._clear_context()
    with pytest.raises(RuntimeError, match=re.escape(NO_CONTEXT)):
        current_job.id  # noqa: B018


def test_active_job_defaults() -> None:
    before = time.monotonic()
    first = ActiveJob("a", "t", 0, "default")
    second = ActiveJob("b", "t", 0, "default")

    assert first.storage is None
    assert first.soft_timeout_s is None
    assert isinstance(first.cancel_flag, threading.Event)
    assert first.cancel_flag is not second.cancel_flag
    assert not first.cancel_flag.is_set()
    assert before <= first.started_mono <= time.monotonic()


# --- progress -----------------------------------------------------------------------------


@pytest.mark.parametrize("progress", [0, 1, 50, 100])
def test_update_progress_writes_to_storage(
    active: ActiveJob, storage: RecordingStorage, progress: int
) -> None:
    current_job.update_progress(progress)
    assert storage.progress == [("job-1", progress)]


@pytest.mark.parametrize("bad", [-1, 101, 1000])
def test_update_progress_out_of_range(
    active: ActiveJob, storage: RecordingStorage, bad: int
) -> None:
    with pytest.raises(ValueError, match="from 0 to 100"):
        current_job.update_progress(bad)
    assert storage.progress == []


@pytest.mark.parametrize("bad", [True, False, 50.0, "50", None])
def test_update_progress_needs_an_int(
    active: ActiveJob, storage: RecordingStorage, bad: Any
) -> None:
    with pytest.raises(ValueError, match="progress must be an int"):
        current_job.update_progress(bad)
    assert storage.progress == []


def test_update_progress_without_storage_validates_and_drops() -> None:
    token = bind(ActiveJob("j", "t", 0, "default"))
    try:
        current_job.update_progress(10)
        with pytest.raises(ValueError):
            current_job.update_progress(200)
    finally:
        unbind(token)


# --- logs ---------------------------------------------------------------------------------


def test_log_writes_a_row(active: ActiveJob, storage: RecordingStorage) -> None:
    before = now_ms()
    current_job.log("starting", level="warning", extra={"rows": 3})
    after = now_ms()

    [(job_id, task_name, level, message, extra, logged_at)] = storage.logs
    assert (job_id, task_name, level, message) == ("job-1", "tasks.add", "warning", "starting")
    assert json.loads(extra or "") == {"rows": 3}
    assert before <= logged_at <= after


def test_log_defaults_to_info_without_extra(active: ActiveJob, storage: RecordingStorage) -> None:
    current_job.log("plain")
    assert storage.logs[0][2:5] == ("info", "plain", None)


def test_log_extra_that_is_not_json_falls_back_to_str(
    active: ActiveJob, storage: RecordingStorage
) -> None:
    class Opaque:
        def __str__(self) -> str:
            return "opaque-thing"

    circular: list[Any] = []
    circular.append(circular)

    current_job.log("a", extra=Opaque())
    current_job.log("b", extra={"when": b"bytes"})
    current_job.log("c", extra=circular)

    assert [log[4] for log in storage.logs] == ["opaque-thing", "{'when': b'bytes'}", "[[...]]"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"message": 42}, "message must be a str"),
        ({"message": "m", "level": ""}, "level must be a non-empty str"),
        ({"message": "m", "level": None}, "level must be a non-empty str"),
    ],
)
def test_log_bad_input(
    active: ActiveJob, storage: RecordingStorage, kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(TypeError, match=match):
        current_job.log(**kwargs)
    assert storage.logs == []


# --- publish ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "extra"),
    [("plain string", '"plain string"'), ([1, 2, 3], "[1, 2, 3]"), (42, "42"), (None, "null")],
)
def test_publish_stores_json_with_default_spacing(
    active: ActiveJob, storage: RecordingStorage, data: Any, extra: str
) -> None:
    current_job.publish(data)

    [(job_id, task_name, level, message, stored_extra, _)] = storage.logs
    assert (job_id, task_name, level, message) == ("job-1", "tasks.add", "result", "")
    assert stored_extra == extra


def test_publish_dict_keeps_default_separators(
    active: ActiveJob, storage: RecordingStorage
) -> None:
    current_job.publish({"step": 1, "of": 3})
    assert '"step": 1' in (storage.logs[0][4] or "")


def test_publish_non_json_falls_back_to_str(active: ActiveJob, storage: RecordingStorage) -> None:
    current_job.publish({3})
    current_job.publish(float("nan"))  # json.dumps allows NaN: kept as JSON's NaN literal

    assert [log[4] for log in storage.logs] == ["{3}", "NaN"]


# --- cancellation -------------------------------------------------------------------------


def test_check_cancelled_passes_until_the_flag_is_set() -> None:
    job = ActiveJob("job-7", "t", 0, "default", storage=UntouchableStorage())  # type: ignore[arg-type]
    token = bind(job)
    try:
        current_job.check_cancelled()
        job.cancel_flag.set()  # type: ignore[attr-defined]
        with pytest.raises(TaskCancelledError, match=r"^Job job-7 was cancelled$"):
            current_job.check_cancelled()
    finally:
        unbind(token)


def test_check_cancelled_accepts_an_asyncio_event() -> None:
    async def main() -> None:
        flag = asyncio.Event()
        token = bind(ActiveJob("async-job", "t", 0, "default", cancel_flag=flag))
        try:
            current_job.check_cancelled()
            flag.set()
            with pytest.raises(TaskCancelledError, match="async-job"):
                current_job.check_cancelled()
        finally:
            unbind(token)

    asyncio.run(main())


def test_check_cancelled_sees_a_flag_set_by_another_thread() -> None:
    job = ActiveJob("job-8", "t", 0, "default")
    token = bind(job)
    try:
        setter = threading.Thread(target=job.cancel_flag.set)  # type: ignore[attr-defined]
        setter.start()
        setter.join()
        with pytest.raises(TaskCancelledError):
            current_job.check_cancelled()
    finally:
        unbind(token)


def test_check_cancelled_is_cheap() -> None:
    token = bind(ActiveJob("fast", "t", 0, "default", storage=UntouchableStorage()))  # type: ignore[arg-type]
    try:
        calls = 100_000
        per_call_s = min(timeit.repeat(current_job.check_cancelled, number=calls, repeat=3)) / calls
    finally:
        unbind(token)
    # Well under a microsecond on a normal machine; the bound is loose for slow CI hosts.
    assert per_call_s < 5e-6


# --- soft timeout -------------------------------------------------------------------------


def test_check_timeout_without_soft_timeout_never_raises() -> None:
    job = ActiveJob("j", "t", 0, "default", started_mono=time.monotonic() - 10_000)
    token = bind(job)
    try:
        current_job.check_timeout()
    finally:
        unbind(token)


def test_check_timeout_before_the_soft_timeout_passes() -> None:
    token = bind(ActiveJob("j", "t", 0, "default", soft_timeout_s=60.0))
    try:
        current_job.check_timeout()
    finally:
        unbind(token)


def test_check_timeout_after_the_soft_timeout_raises() -> None:
    job = ActiveJob("j", "t", 0, "default", soft_timeout_s=2.5, started_mono=time.monotonic() - 3.0)
    token = bind(job)
    try:
        with pytest.raises(SoftTimeoutError, match=r"^Soft timeout exceeded: 3\.\ds > 2\.5s$"):
            current_job.check_timeout()
    finally:
        unbind(token)


def test_soft_timeout_is_not_a_cancellation() -> None:
    job = ActiveJob("j", "t", 0, "default", soft_timeout_s=0.5, started_mono=time.monotonic() - 1)
    token = bind(job)
    try:
        current_job.check_cancelled()
        with pytest.raises(SoftTimeoutError) as info:
            current_job.check_timeout()
        assert not isinstance(info.value, TaskCancelledError)
    finally:
        unbind(token)
