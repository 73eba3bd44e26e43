"""``queue.enqueue``, ``delay`` and ``apply_async``: what is stored, the option defaults and
checks, ``on_enqueue`` middleware, the JOB_ENQUEUED event, and bad input that stores nothing."""

from __future__ import annotations

import json
import logging
import re
import threading
from typing import Any

import pytest

from taskito import (
    DependencyError,
    EventType,
    JsonSerializer,
    Queue,
    SerializationError,
    TaskMiddleware,
)
from taskito.job import JobStatus
from tests.api.driving import MakeQueue

UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def nothing_stored(queue: Queue) -> bool:
    return queue.list_jobs(namespace=None) == [] and sum(queue.stats().values()) == 0


def test_delay_stores_a_pending_job_with_the_decorator_defaults(queue: Queue) -> None:
    @queue.task(priority=4, queue="mail", max_retries=6, timeout=12)
    def send(to: str, subject: str = "") -> None: ...

    job = send.delay("a@b.c", subject="hi")
    assert job.status == "pending"
    assert UUID7.match(job.id)
    record = queue._storage.get_job(job.id)
    assert record is not None
    assert (record.task_name, record.queue, record.priority) == (send.name, "mail", 4)
    assert (record.max_retries, record.timeout_ms) == (6, 12_000)
    assert record.scheduled_at == record.created_at
    assert queue._serializer.loads(record.payload) == (("a@b.c",), {"subject": "hi"})


def test_job_ids_increase(queue: Queue) -> None:
    ids = [queue.enqueue("t").id for _ in range(20)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 20


def test_the_task_name_is_not_checked_against_the_registry(queue: Queue) -> None:
    job = queue.enqueue("nobody.registered.this", (1,))
    assert queue.get_job(job.id) is not None


def test_queue_defaults_fill_raw_enqueue(make_queue: MakeQueue) -> None:
    queue = make_queue(default_retry=9, default_timeout=42, default_priority=3)
    record = queue._storage.get_job(queue.enqueue("t").id)
    assert record is not None
    assert (record.queue, record.max_retries, record.timeout_ms, record.priority) == (
        "default",
        9,
        42_000,
        3,
    )


def test_max_retries_zero_is_kept(queue: Queue) -> None:
    @queue.task(max_retries=0)
    def once() -> None: ...

    assert queue.get_job(once.delay().id).to_dict()["max_retries"] == 0  # type: ignore[union-attr]
    assert queue.enqueue("t", max_retries=0).to_dict()["max_retries"] == 0


def test_apply_async_overrides_and_falls_back(queue: Queue) -> None:
    @queue.task(priority=1, queue="q1", max_retries=2, timeout=10)
    def work(x: int) -> None: ...

    fallback = work.apply_async((1,)).to_dict()
    assert (fallback["priority"], fallback["queue"], fallback["max_retries"]) == (1, "q1", 2)
    assert fallback["timeout_ms"] == 10_000

    job = work.apply_async(
        args=(2,),
        priority=8,
        delay=2.5,
        queue="q2",
        max_retries=0,
        timeout=1.5,
        unique_key="k-1",
        metadata='{"a": 1}',
        expires=60,
        result_ttl=30,
    )
    record = queue._storage.get_job(job.id)
    assert record is not None
    assert (record.priority, record.queue, record.max_retries) == (8, "q2", 0)
    assert record.timeout_ms == 1500
    assert record.scheduled_at - record.created_at == 2500
    assert (record.unique_key, record.metadata) == ("k-1", '{"a": 1}')
    assert record.expires_at is not None and record.expires_at - record.created_at == 60_000
    assert record.result_ttl_ms == 30_000


def test_queue_result_ttl_is_the_default_for_every_enqueue_path(make_queue: MakeQueue) -> None:
    queue = make_queue(result_ttl=90)

    @queue.task()
    def work(x: int) -> None: ...

    single = work.delay(1)
    own = work.apply_async(args=(2,), result_ttl=5)
    batch = work.map([(3,), (4,)])
    ttls = [queue._storage.get_job(j.id).result_ttl_ms for j in (single, own, *batch)]  # type: ignore[union-attr]
    assert ttls == [90_000, 5_000, 90_000, 90_000]


def test_per_task_serializer_encodes_the_arguments(queue: Queue) -> None:
    @queue.task(serializer=JsonSerializer())
    def as_json(x: int, y: list[int]) -> None: ...

    record = queue._storage.get_job(as_json.delay(5, y=[1]).id)
    assert record is not None
    assert json.loads(record.payload) == [[5], {"y": [1]}]


def test_namespace_is_written_on_every_job(make_queue: MakeQueue) -> None:
    queue = make_queue(namespace="tenant")
    assert queue.enqueue("t").to_dict()["namespace"] == "tenant"


# --- bad input stores nothing ---------------------------------------------------------


def test_unserializable_arguments_raise_at_delay_and_store_nothing(queue: Queue) -> None:
    @queue.task()
    def takes_lock(lock: Any) -> None: ...

    with pytest.raises(SerializationError, match="could not be serialized"):
        takes_lock.delay(threading.Lock())
    assert nothing_stored(queue)


def test_json_queue_refuses_objects_at_enqueue(make_queue: MakeQueue) -> None:
    queue = make_queue(serializer=JsonSerializer())
    with pytest.raises(SerializationError, match="JsonSerializer"):
        queue.enqueue("t", (object(),))
    assert nothing_stored(queue)


@pytest.mark.parametrize("delay", [-1, -0.001, float("nan"), float("inf"), float("-inf")])
def test_bad_delay_is_refused_with_the_reference_message(queue: Queue, delay: float) -> None:
    with pytest.raises(ValueError, match=r"^delay_seconds must be a finite non-negative number$"):
        queue.enqueue("t", delay=delay)
    assert nothing_stored(queue)


BAD_OPTIONS: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"delay": "5"}, TypeError, "delay"),
    ({"timeout": 0}, ValueError, "timeout"),
    ({"timeout": float("nan")}, ValueError, "timeout"),
    ({"expires": -1}, ValueError, "expires"),
    ({"result_ttl": float("inf")}, ValueError, "result_ttl"),
    ({"max_retries": -1}, ValueError, "max_retries"),
    ({"priority": "high"}, TypeError, "priority"),
    ({"queue": ""}, ValueError, "queue"),
    ({"metadata": {"a": 1}}, TypeError, "metadata must be a str"),
    ({"unique_key": 5}, TypeError, "unique_key"),
    ({"depends_on": 5}, TypeError, "depends_on"),
    ({"args": "abc"}, TypeError, "args"),
    ({"kwargs": [1]}, TypeError, "kwargs"),
]


@pytest.mark.parametrize(("options", "error", "fragment"), BAD_OPTIONS)
def test_bad_options_raise_and_store_nothing(
    queue: Queue, options: dict[str, Any], error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error, match=fragment):
        queue.enqueue("t", **options)
    assert nothing_stored(queue)


def test_bad_task_name_is_refused(queue: Queue) -> None:
    with pytest.raises(ValueError, match="task_name"):
        queue.enqueue("")
    with pytest.raises(TypeError, match="task_name"):
        queue.enqueue(None)  # type: ignore[arg-type]


# --- dependencies and unique keys -----------------------------------------------------


def test_depends_on_a_missing_job_is_a_runtime_error_and_stores_nothing(queue: Queue) -> None:
    with pytest.raises(DependencyError) as caught:
        queue.enqueue("t", depends_on="01900000-0000-7000-8000-000000000000")
    assert isinstance(caught.value, RuntimeError)
    assert nothing_stored(queue)


def test_depends_on_a_cancelled_job_is_refused(queue: Queue) -> None:
    parent = queue.enqueue("t")
    assert queue.cancel_job(parent.id)
    with pytest.raises(RuntimeError):
        queue.enqueue("t", depends_on=[parent.id])
    assert len(queue.list_jobs()) == 1


def test_depends_on_records_both_directions(queue: Queue) -> None:
    first, second = queue.enqueue("t"), queue.enqueue("t")
    child = queue.enqueue("t", depends_on=[first.id, second.id])
    single = queue.enqueue("t", depends_on=first.id)
    assert sorted(child.dependencies) == sorted([first.id, second.id])
    assert sorted(first.dependents) == sorted([child.id, single.id])
    assert single.dependencies == [first.id]


def test_unique_key_returns_the_active_job_then_frees_when_it_ends(queue: Queue) -> None:
    first = queue.enqueue("t", unique_key="only-one")
    again = queue.enqueue("t", unique_key="only-one")
    assert again.id == first.id
    assert len(queue.list_jobs()) == 1
    queue.cancel(first.id)
    third = queue.enqueue("t", unique_key="only-one")
    assert third.id != first.id


# --- on_enqueue middleware and events -------------------------------------------------


class Recorder(TaskMiddleware):
    def __init__(self, set_priority: int | None = None) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any], dict[str, Any]]] = []
        self.set_priority = set_priority

    def on_enqueue(
        self, task_name: str, args: tuple[Any, ...], kwargs: dict[str, Any], options: dict[str, Any]
    ) -> None:
        self.calls.append((task_name, args, kwargs, dict(options)))
        if self.set_priority is not None:
            options["priority"] = self.set_priority


def test_on_enqueue_sees_the_options_and_its_changes_apply(make_queue: MakeQueue) -> None:
    global_mw = Recorder(set_priority=9)
    queue = make_queue(middleware=[global_mw])
    task_mw = Recorder()

    @queue.task(middleware=[task_mw], queue="q")
    def work(x: int, flag: bool = False) -> None: ...

    job = work.delay(1, flag=True)
    name, args, kwargs, options = global_mw.calls[0]
    assert (name, args, kwargs) == (work.name, (1,), {"flag": True})
    assert set(options) == {
        "priority",
        "delay",
        "queue",
        "max_retries",
        "timeout",
        "unique_key",
        "metadata",
        "depends_on",
        "expires",
        "result_ttl",
    }
    assert options["queue"] == "q"
    assert job.to_dict()["priority"] == 9
    assert task_mw.calls == []  # enqueue runs the global middleware only


def test_middleware_appended_later_is_used(queue: Queue) -> None:
    mw = Recorder(set_priority=5)
    queue._global_middleware.append(mw)
    assert queue.enqueue("t").to_dict()["priority"] == 5


def test_a_failing_on_enqueue_is_logged_and_the_job_is_stored(
    make_queue: MakeQueue, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(TaskMiddleware):
        def on_enqueue(self, *args: Any) -> None:
            raise RuntimeError("middleware bug")

    queue = make_queue(middleware=[Broken()])
    with caplog.at_level(logging.ERROR, logger="taskito"):
        job = queue.enqueue("t")
    assert queue.get_job(job.id) is not None
    assert "middleware on_enqueue() error" in caplog.text


def test_job_enqueued_event_carries_task_job_and_queue(queue: Queue) -> None:
    seen: list[tuple[EventType, dict[str, Any]]] = []
    queue.on_event(EventType.JOB_ENQUEUED, lambda kind, payload: seen.append((kind, payload)))
    job = queue.enqueue("mail.send", queue="mail")
    assert queue._event_bus.flush(timeout_s=5)
    assert seen == [
        (EventType.JOB_ENQUEUED, {"task_name": "mail.send", "job_id": job.id, "queue": "mail"})
    ]


def test_without_listeners_no_event_thread_is_started(queue: Queue) -> None:
    for _ in range(5):
        queue.enqueue("t")
    assert queue._event_bus._executor._threads == set()


def test_the_handle_comes_from_the_stored_record_without_a_read_back(
    queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_reads(job_id: str) -> None:
        raise AssertionError("enqueue read the job back")

    monkeypatch.setattr(queue._storage, "get_job", no_reads)
    job = queue.enqueue("t", priority=2)
    assert job.status == JobStatus.PENDING.value
    assert (job.progress, job.error) == (None, None)


def test_a_middleware_that_invents_an_option_is_refused(make_queue: MakeQueue) -> None:
    class Inventive(TaskMiddleware):
        def on_enqueue(self, *args: Any) -> None:
            args[-1]["countdown"] = 5

    queue = make_queue(middleware=[Inventive()])
    with pytest.raises(ValueError, match="unknown enqueue options \\['countdown'\\]"):
        queue.enqueue("t")
    assert nothing_stored(queue)
