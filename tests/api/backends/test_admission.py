"""Admission caps on every backend: ``set_queue_max_pending`` stored for every producer, an
enqueue or a whole batch past the cap refused with ``QueueFullError`` (nothing stored), and
the cap held by concurrent producers on two Queue objects."""

from __future__ import annotations

import threading

import pytest

from taskito import ConfigurationError, Queue, QueueError, QueueFullError, TaskMiddleware
from tests.api.backends.support import Backend


def _pending(queue: Queue) -> int:
    return queue.stats()["pending"]


def test_an_enqueue_past_the_cap_is_refused(queue: Queue) -> None:
    queue.set_queue_max_pending("default", 2)
    queue.enqueue("t")
    queue.enqueue("t", delay=3600)  # delayed jobs count
    with pytest.raises(QueueFullError) as caught:
        queue.enqueue("t")
    assert str(caught.value) == (
        "queue 'default' is full: 2 pending + 1 incoming would pass its max_pending cap of 2;"
        " nothing was stored"
    )
    assert (caught.value.pending, caught.value.incoming, caught.value.cap) == (2, 1, 2)
    assert isinstance(caught.value, QueueError)
    queue.enqueue("t", queue="other")  # another queue is not capped
    assert _pending(queue) == 3


def test_a_batch_is_checked_whole(queue: Queue) -> None:
    @queue.task()
    def job(n: int) -> None: ...

    queue.set_queue_max_pending("default", 3)
    job.delay(0)
    with pytest.raises(QueueFullError, match="1 pending \\+ 3 incoming"):
        job.map([(1,), (2,), (3,)])
    with pytest.raises(QueueFullError):
        queue.enqueue_many(job.name, [(1,), (2,), (3,)], metadata_list=["a", "b", "c"])
    assert _pending(queue) == 1
    assert len(job.map([(1,), (2,)])) == 2
    assert _pending(queue) == 3


def test_zero_admits_nothing_and_none_removes_the_cap(queue: Queue) -> None:
    queue.set_queue_max_pending("default", 0)
    with pytest.raises(QueueFullError):
        queue.enqueue("t")
    assert queue.queue_max_pending("default") == 0
    queue.set_queue_max_pending("default", None)
    assert queue.queue_max_pending("default") is None
    queue.enqueue("t")
    assert _pending(queue) == 1


def test_the_cap_is_stored_for_every_producer(backend: Backend) -> None:
    setter, other = backend.queue(), backend.queue()
    setter.set_queue_max_pending("default", 1)
    assert other.queue_max_pending("default") == 1
    other.enqueue("t")
    with pytest.raises(QueueFullError):
        other.enqueue("t")
    with pytest.raises(QueueFullError):
        setter.enqueue("t")


def test_a_held_unique_key_still_returns_its_holder_under_the_cap(queue: Queue) -> None:
    queue.set_queue_max_pending("default", 2)
    first = queue.enqueue("t", unique_key="k")
    assert queue.enqueue("t", unique_key="k").id == first.id
    assert _pending(queue) == 1


def test_a_batch_spread_over_queues_with_a_cap_is_refused(queue: Queue) -> None:
    class Route(TaskMiddleware):
        def on_enqueue(self, task_name, args, kwargs, options):  # type: ignore[no-untyped-def]
            options["queue"] = f"q{args[0]}"

    @queue.task(middleware=[Route()])
    def job(n: int) -> None: ...

    queue.set_queue_max_pending("q1", 5)
    with pytest.raises(QueueError, match="cannot be checked against the max_pending cap"):
        job.map([(1,), (2,)])
    assert _pending(queue) == 0


def test_bad_caps_are_refused(queue: Queue) -> None:
    with pytest.raises(ConfigurationError, match="max_pending"):
        queue.set_queue_max_pending("default", -1)
    with pytest.raises(TypeError, match="max_pending"):
        queue.set_queue_max_pending("default", "10")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="queue"):
        queue.set_queue_max_pending("", 1)
    assert queue.queue_max_pending("default") is None
    queue.enqueue("t")


def test_concurrent_producers_on_two_queue_objects_hold_the_cap(backend: Backend) -> None:
    queues = [backend.queue(), backend.queue()]
    queues[0].set_queue_max_pending("default", 10)
    producers, each = 8, 4
    barrier = threading.Barrier(producers)
    stored, refused = [], []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def produce(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            for _ in range(each):
                try:
                    job = queues[index % 2].enqueue("t")
                except QueueFullError:
                    with lock:
                        refused.append(index)
                else:
                    with lock:
                        stored.append(job.id)
        except BaseException as exc:
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=produce, args=(n,)) for n in range(producers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert len(stored) == 10 and len(refused) == producers * each - 10
    assert _pending(queues[0]) == 10


def test_an_idempotent_batch_is_held_to_the_cap(queue: Queue) -> None:
    @queue.task(idempotent=True)
    def job(n: int) -> None: ...

    queue.set_queue_max_pending("default", 2)
    job.delay(1)
    with pytest.raises(QueueFullError):
        queue.enqueue_many(job.name, [(2,), (3,)])
    assert len(queue.enqueue_many(job.name, [(1,)])) == 1
    assert _pending(queue) == 1
