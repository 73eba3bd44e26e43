"""``queue.enqueue_many`` and ``TaskWrapper.map``: one transaction, per-job lists, per-job
``on_enqueue`` through global and task middleware, and all-or-nothing on bad input."""

from __future__ import annotations

import collections
import dataclasses
import threading
from typing import Any

import pytest

from taskito import (
    EventType,
    JobResult,
    JsonSerializer,
    Queue,
    SerializationError,
    TaskMiddleware,
    UniqueConflictError,
)
from tests.api.driving import MakeQueue


def stored_count(queue: Queue) -> int:
    return sum(queue.stats().values())


def test_map_enqueues_one_job_per_tuple_with_the_decorator_defaults(queue: Queue) -> None:
    @queue.task(priority=2, queue="batch", max_retries=1, timeout=9)
    def add(a: int, b: int) -> int:
        return a + b

    jobs = add.map([(1, 2), (3, 4), [5, 6]])
    assert [job.status for job in jobs] == ["pending"] * 3
    ids = [job.id for job in jobs]
    assert ids == sorted(ids)
    for job, expected in zip(jobs, [(1, 2), (3, 4), (5, 6)], strict=True):
        record = queue._storage.get_job(job.id)
        assert record is not None
        assert queue._serializer.loads(record.payload) == (expected, {})
        assert (record.priority, record.queue, record.max_retries) == (2, "batch", 1)
        assert record.timeout_ms == 9000


def test_an_empty_batch_stores_nothing(queue: Queue) -> None:
    assert queue.enqueue_many("t", []) == []
    assert stored_count(queue) == 0


def test_per_job_lists_override_the_shared_values(queue: Queue) -> None:
    jobs = queue.enqueue_many(
        "t",
        [(1,), (2,)],
        kwargs_list=[{"k": 1}, None],
        delay=1,
        delay_list=[None, 3],
        unique_keys=["u1", None],
        metadata="shared",
        metadata_list=[None, "own"],
        expires_list=[10, None],
        result_ttl=5,
        result_ttl_list=[None, 7],
    )
    first, second = (queue._storage.get_job(job.id) for job in jobs)
    assert first is not None and second is not None
    assert queue._serializer.loads(first.payload) == ((1,), {"k": 1})
    assert queue._serializer.loads(second.payload) == ((2,), {})
    assert first.scheduled_at - first.created_at == 1000
    assert second.scheduled_at - second.created_at == 3000
    assert (first.unique_key, second.unique_key) == ("u1", None)
    assert (first.metadata, second.metadata) == ("shared", "own")
    assert first.expires_at == first.created_at + 10_000 and second.expires_at is None
    assert (first.result_ttl_ms, second.result_ttl_ms) == (5000, 7000)


@pytest.mark.parametrize(
    "name", ["kwargs_list", "delay_list", "unique_keys", "metadata_list", "expires_list"]
)
def test_a_list_of_the_wrong_length_is_refused(queue: Queue, name: str) -> None:
    with pytest.raises(ValueError, match=f"{name} has 1 entries but args_list has 2"):
        queue.enqueue_many("t", [(1,), (2,)], **{name: [None]})  # type: ignore[arg-type]
    assert stored_count(queue) == 0


def test_a_bad_delay_in_a_batch_is_refused_and_nothing_is_stored(queue: Queue) -> None:
    with pytest.raises(ValueError, match="delay_seconds"):
        queue.enqueue_many("t", [(1,), (2,)], delay_list=[1, -5])
    assert stored_count(queue) == 0


def test_one_unserializable_job_fails_the_whole_batch(queue: Queue) -> None:
    @queue.task()
    def work(x: Any) -> None: ...

    with pytest.raises(SerializationError):
        work.map([(1,), (2,), (threading.Lock(),)])
    assert stored_count(queue) == 0


def test_a_unique_key_held_by_an_active_job_fails_the_whole_batch(queue: Queue) -> None:
    queue.enqueue("t", unique_key="taken")
    with pytest.raises(UniqueConflictError) as caught:
        queue.enqueue_many("t", [(1,), (2,)], unique_keys=["free", "taken"])
    assert isinstance(caught.value, RuntimeError)
    assert stored_count(queue) == 1


@pytest.mark.parametrize(
    ("args_list", "fragment"), [("abc", "args_list"), ([(1,), "x"], "args must be")]
)
def test_malformed_argument_lists_are_type_errors(
    queue: Queue, args_list: Any, fragment: str
) -> None:
    with pytest.raises(TypeError, match=fragment):
        queue.enqueue_many("t", args_list)
    assert stored_count(queue) == 0


class PriorityFromFirstArg(TaskMiddleware):
    def __init__(self) -> None:
        self.seen: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def on_enqueue(
        self, task_name: str, args: tuple[Any, ...], kwargs: dict[str, Any], options: dict[str, Any]
    ) -> None:
        self.seen.append((args, kwargs))
        options["priority"] = args[0]


def test_on_enqueue_runs_per_job_through_global_and_task_middleware(
    make_queue: MakeQueue,
) -> None:
    global_mw = PriorityFromFirstArg()
    task_mw = PriorityFromFirstArg()
    queue = make_queue(middleware=[global_mw])

    @queue.task(middleware=[task_mw])
    def work(level: int) -> None: ...

    jobs = work.map([(3,), (7,)])
    assert [job.to_dict()["priority"] for job in jobs] == [3, 7]
    assert global_mw.seen == [((3,), {}), ((7,), {})]
    assert task_mw.seen == [((3,), {}), ((7,), {})]


def test_batch_events_carry_job_id_and_task_name(queue: Queue) -> None:
    seen: list[dict[str, Any]] = []
    queue.on_event(EventType.JOB_ENQUEUED, lambda kind, payload: seen.append(payload))
    jobs = queue.enqueue_many("t", [(1,), (2,)])
    assert queue._event_bus.flush(timeout_s=5)
    assert sorted(seen, key=lambda p: p["job_id"]) == [
        {"job_id": job.id, "task_name": "t"} for job in jobs
    ]


def stored_rows(queue: Queue, jobs: list[JobResult]) -> list[dict[str, Any]]:
    """The stored rows of ``jobs``, without what differs between two enqueues of one call
    (its id and times) but with everything else, payload included."""
    rows = []
    for job in jobs:
        record = queue._storage.get_job(job.id)
        assert record is not None
        row = dataclasses.asdict(record)
        assert row["scheduled_at"] - row["created_at"] >= 0
        row["delay_ms"] = row.pop("scheduled_at") - row.pop("created_at")
        del row["id"]
        rows.append(row)
    return rows


CALLS: list[tuple[Any, ...]] = [
    (1, "a"),
    (2.5, None),
    ([1, 2], {"k": (3, b"x")}),
    (complex(1, 2), "not plain data"),
    (list(range(100)), "long"),
]


TASK_OPTIONS = ("priority", "queue", "max_retries", "timeout")


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"priority": 4, "queue": "q2", "max_retries": 0, "timeout": 2.5},
        {"namespace": "tenant-a"},
        {"serializer": JsonSerializer()},
        {"signing_key": "k" * 32},
    ],
)
def test_map_stores_the_rows_delay_stores_for_the_same_calls(
    make_queue: MakeQueue, options: dict[str, Any]
) -> None:
    task_options = {key: options.pop(key) for key in TASK_OPTIONS if key in options}
    signed = "signing_key" in options
    queue = make_queue(**options)
    calls = CALLS if "serializer" not in options else [(1, "a"), (2.5, None), ([1, 2], {"k": 3})]

    @queue.task(name="work", **task_options)
    def work(a: Any, b: Any) -> None: ...

    mapped = work.map(calls)
    delayed = [work.delay(*call) for call in calls]
    mapped_rows, delayed_rows = stored_rows(queue, mapped), stored_rows(queue, delayed)
    if signed:
        # A signed payload is bound to its job id: the same arguments, different bytes.
        for row in (*mapped_rows, *delayed_rows):
            del row["payload"]
    assert mapped_rows == delayed_rows
    assert [queue.job_arguments(job.id) for job in mapped] == [
        queue.job_arguments(job.id) for job in delayed
    ]
    assert [job._record for job in mapped] == [queue._storage.get_job(job.id) for job in mapped]


def test_a_call_that_cannot_bind_names_its_index_and_stores_nothing(queue: Queue) -> None:
    @queue.task()
    def add(a: int, b: int) -> int:
        return a + b

    with pytest.raises(TypeError, match=r"args_list\[2\]: task .* cannot be called"):
        add.map([(1, 2), (3, 4), (5,), (6, 7)])
    assert stored_count(queue) == 0


def test_an_unserializable_call_names_its_index_and_stores_nothing(queue: Queue) -> None:
    @queue.task()
    def work(x: Any) -> None: ...

    with pytest.raises(SerializationError, match=r"args_list\[1\]: arguments of task"):
        work.map([(1,), (threading.Lock(),), (3,)])
    assert stored_count(queue) == 0


def test_an_entry_that_is_not_a_tuple_names_its_index(queue: Queue) -> None:
    with pytest.raises(TypeError, match=r"args_list\[1\]: args must be a tuple or list"):
        queue.enqueue_many("t", [(1,), 7])
    assert stored_count(queue) == 0


def test_a_bad_per_job_option_names_its_index(queue: Queue) -> None:
    with pytest.raises(ValueError, match=r"args_list\[1\]: .*unique_key"):
        queue.enqueue_many("t", [(1,), (2,)], unique_keys=["fine", ""])
    assert stored_count(queue) == 0


def test_batch_results_are_the_stored_records(queue: Queue) -> None:
    jobs = queue.enqueue_many("t", [(n,) for n in range(50)], priority=3, metadata="m", delay=5)
    assert [job._record for job in jobs] == [queue._storage.get_job(job.id) for job in jobs]


def test_map_of_namedtuples_of_a_local_class_stores_them_as_delay_does(queue: Queue) -> None:
    Point = collections.namedtuple("Point", "x y")  # local: only cloudpickle can pickle it

    @queue.task(name="work")
    def work(x: int, y: int) -> None: ...

    mapped = work.map([Point(1, 2), Point(3, 4)])
    delayed = [work.delay(*Point(1, 2)), work.delay(*Point(3, 4))]
    assert [queue.job_arguments(job.id) for job in mapped] == [((1, 2), {}), ((3, 4), {})]
    assert type(queue.job_arguments(mapped[0].id)[0]).__name__ == "Point"
    assert [queue.job_arguments(job.id) for job in delayed] == [((1, 2), {}), ((3, 4), {})]
