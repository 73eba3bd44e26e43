"""Idempotency keys on every backend: ``idempotent=`` (task default and per call) and explicit
``idempotency_key``, one active job per key, keys hashed before encryption, scoped by task,
per-row coalescing in ``enqueue_many``, and concurrent producers in threads and processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import pytest

from taskito import EncryptedSerializer, EventType, JsonSerializer, Queue
from taskito.job import JobStatus
from taskito.queue.idempotency import auto_key
from tests.api.backends.support import Backend
from tests.helpers import wait_until


def _pending(queue: Queue) -> int:
    return queue.stats()["pending"]


def test_an_idempotent_task_stores_one_job_per_call(queue: Queue) -> None:
    @queue.task(idempotent=True)
    def charge(order: int, amount: int) -> None: ...

    first, again, other = charge.delay(1, 10), charge.delay(1, 10), charge.delay(2, 10)
    assert first.id == again.id != other.id
    assert _pending(queue) == 2
    record = queue._storage.get_job(first.id)
    assert record is not None and record.unique_key is not None
    assert record.unique_key.startswith("auto:") and len(record.unique_key) == 5 + 32


def test_the_auto_key_follows_the_spec_formula(queue: Queue) -> None:
    import hashlib

    serializer = JsonSerializer()
    encoded = serializer.dumps(((1, "a"), {}))
    expected = "auto:" + hashlib.sha256(b"t\0" + encoded).hexdigest()[:32]
    assert auto_key(serializer, "t", (1, "a"), {}) == expected


def test_a_call_may_force_or_suppress_the_task_default(queue: Queue) -> None:
    @queue.task()
    def plain(n: int) -> None: ...

    @queue.task(idempotent=True)
    def keyed(n: int) -> None: ...

    assert (
        plain.apply_async((1,), idempotent=True).id == plain.apply_async((1,), idempotent=True).id
    )
    assert keyed.apply_async((1,), idempotent=False).id != keyed.apply_async((1,)).id
    assert plain.delay(1).id != plain.delay(1).id


def test_an_explicit_key_wins_over_the_auto_key_and_unique_key_over_both(queue: Queue) -> None:
    @queue.task(idempotent=True)
    def send(n: int) -> None: ...

    by_key = send.apply_async((1,), idempotency_key="order-7")
    assert send.apply_async((2,), idempotency_key="order-7").id == by_key.id
    unique = send.apply_async((3,), unique_key="u", idempotency_key="order-7")
    assert unique.id != by_key.id
    stored = queue._storage.get_job(unique.id)
    assert stored is not None and stored.unique_key == "u"


def test_auto_keys_are_scoped_by_task(queue: Queue) -> None:
    @queue.task(idempotent=True)
    def one(n: int) -> None: ...

    @queue.task(idempotent=True)
    def two(n: int) -> None: ...

    assert one.delay(5).id != two.delay(5).id


def test_a_finished_job_frees_its_key(backend: Backend) -> None:
    queue = backend.queue()

    @queue.task(idempotent=True)
    def once(n: int) -> int:
        return n

    first = once.delay(4)
    queue.cancel_job(first.id)
    assert once.delay(4).id != first.id


def test_encryption_does_not_change_the_key(backend: Backend) -> None:
    serializer = EncryptedSerializer(JsonSerializer(), b"k" * 32)
    queue = backend.queue(serializer=serializer)

    @queue.task(idempotent=True)
    def secret(n: int) -> None: ...

    first = secret.delay(1)
    assert secret.delay(1).id == first.id
    stored = queue._storage.get_job(first.id)
    assert stored is not None
    assert stored.unique_key == auto_key(JsonSerializer(), secret.name, (1,), {})


def test_a_coalesced_call_is_not_announced(queue: Queue) -> None:
    announced: list[str] = []
    queue.on_event(
        EventType.JOB_ENQUEUED, lambda _type, payload: announced.append(payload["job_id"])
    )

    @queue.task(idempotent=True)
    def ping(n: int) -> None: ...

    first = ping.delay(1)
    ping.delay(1)
    wait_until(lambda: announced, message="the first enqueue announced")
    ping.delay(2)
    wait_until(lambda: len(announced) >= 2, message="the second insert announced")
    assert announced.count(first.id) == 1 and len(announced) == 2


def test_enqueue_many_coalesces_per_row(queue: Queue) -> None:
    @queue.task(idempotent=True)
    def charge(order: int) -> None: ...

    held = charge.delay(1)
    jobs = queue.enqueue_many(charge.name, [(1,), (2,), (2,), (3,)])
    assert jobs[0].id == held.id
    assert jobs[1].id == jobs[2].id != jobs[3].id
    assert _pending(queue) == 3


def test_enqueue_many_with_explicit_keys(queue: Queue) -> None:
    @queue.task()
    def charge(order: int) -> None: ...

    first = charge.apply_async((0,), idempotency_key="a")
    jobs = queue.enqueue_many(charge.name, [(1,), (2,), (3,)], idempotency_keys=["a", None, "b"])
    assert jobs[0].id == first.id
    assert len({job.id for job in jobs}) == 3
    assert _pending(queue) == 3


def test_bad_idempotency_inputs_are_refused_and_store_nothing(queue: Queue) -> None:
    @queue.task()
    def charge(order: int) -> None: ...

    with pytest.raises(TypeError, match="idempotent must be True, False or None"):
        charge.apply_async((1,), idempotent="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="idempotency_key"):
        charge.apply_async((1,), idempotency_key="")
    with pytest.raises(TypeError, match="idempotency_key"):
        charge.apply_async((1,), idempotency_key=7)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"idempotency_keys\[1\]"):
        queue.enqueue_many(charge.name, [(1,), (2,)], idempotency_keys=["a", ""])
    with pytest.raises(Exception, match="idempotency_keys has 1 entries"):
        queue.enqueue_many(charge.name, [(1,), (2,)], idempotency_keys=["a"])
    with pytest.raises(TypeError, match="idempotent must be True or False"):
        queue.task(idempotent=1)  # type: ignore[arg-type]
    assert _pending(queue) == 0


def test_concurrent_producers_in_threads_store_one_job(backend: Backend) -> None:
    queues = [backend.queue(), backend.queue()]
    for each in queues:
        each.task(name="charge", idempotent=True)(lambda order: None)
    producers = 8
    barrier = threading.Barrier(producers)
    ids: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def produce(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            job = queues[index % 2].enqueue("charge", (42,), idempotent=True)
            with lock:
                ids.append(job.id)
        except BaseException as exc:
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=produce, args=(n,)) for n in range(producers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors and len(ids) == producers and len(set(ids)) == 1
    assert _pending(queues[0]) == 1


_PRODUCE = """
import json, sys
from taskito import Queue
queue = Queue(**json.loads(sys.argv[1]))
print("ready", flush=True)
sys.stdin.readline()
print(queue.enqueue("charge", (42,), idempotent=True).id, flush=True)
queue.close()
"""


def test_concurrent_producers_in_two_processes_store_one_job(backend: Backend) -> None:
    code = textwrap.dedent(_PRODUCE)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code, backend.target.as_json()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs: list[str] = []
    try:
        for process in processes:
            assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        for process in processes:
            out, err = process.communicate(timeout=60)
            assert process.returncode == 0, err
            outputs.append(out.strip())
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert len(set(outputs)) == 1
    queue = backend.queue()
    record = queue._storage.get_job(outputs[0])
    assert record is not None and record.status is JobStatus.PENDING
    assert _pending(queue) == 1
