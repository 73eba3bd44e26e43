"""Debounce on every backend: the decorator and per-call options, trailing-edge slides, the
max_wait ceiling, the latest arguments run with ``debounce_replace_payload``, claimed jobs
left alone, keys scoped by task and namespace, every bad input refused with nothing stored,
and one pending job per key under concurrent producers in threads and processes."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
import threading
from typing import Any

import pytest

from taskito import EventType, Queue
from taskito.exceptions import QueueFullError
from taskito.job import JobStatus, now_ms
from tests.api.backends.support import Backend, record_of, status_of, worker_thread
from tests.helpers import wait_until


def _pending(queue: Queue) -> int:
    return queue.stats()["pending"]


def test_calls_within_the_window_make_one_job_run_at_its_end(queue: Queue) -> None:
    @queue.task(debounce="10s", debounce_key="user:{user_id}", debounce_max_wait="1m")
    def sync(user_id: int, note: str = "") -> None: ...

    before = now_ms()
    first, again, other = sync.delay(1, "a"), sync.delay(1, "b"), sync.delay(2)
    assert first.id == again.id != other.id
    assert _pending(queue) == 2
    record = record_of(queue, first.id)
    assert record.scheduled_at >= before + 10_000 and record.created_at >= before


def test_max_wait_caps_how_far_the_job_slides(queue: Queue) -> None:
    @queue.task(debounce="10s", debounce_key="all", debounce_max_wait="10s")
    def flush() -> None: ...

    first = flush.delay()
    assert flush.delay().id == first.id
    record = record_of(queue, first.id)
    assert record.scheduled_at == record.created_at + 10_000


@pytest.mark.parametrize(("replace", "expected"), [(True, "last"), (False, "first")])
def test_the_job_runs_once_with_the_first_or_the_latest_arguments(
    backend: Backend, replace: bool, expected: str
) -> None:
    queue = backend.queue()
    ran: list[str] = []

    @queue.task(
        debounce="150ms",
        debounce_key="doc:{doc}",
        debounce_max_wait="10s",
        debounce_replace_payload=replace,
    )
    def render(doc: int, version: str) -> str:
        ran.append(version)
        return version

    handles = [render.delay(7, "first"), render.delay(7, "middle"), render.delay(7, "last")]
    assert len({handle.id for handle in handles}) == 1
    with worker_thread(queue):
        wait_until(lambda: status_of(queue, handles[0].id) == "complete", 15, message="the job ran")
    assert ran == [expected]


def test_a_claimed_job_is_not_moved_and_a_new_one_opens(queue: Queue) -> None:
    @queue.task(debounce="20ms", debounce_key="k", debounce_max_wait="20ms")
    def work() -> None: ...

    first = work.delay()
    record = record_of(queue, first.id)

    def claimed() -> bool:
        jobs = queue._storage.claim("w", None, None, 10, now_ms(), 30_000)
        return any(job.id == first.id for job in jobs)

    wait_until(claimed, message="the debounced job became due and was claimed")
    second = work.delay()
    assert second.id != first.id
    assert record_of(queue, first.id).scheduled_at == record.scheduled_at
    assert record_of(queue, second.id).status == JobStatus.PENDING


def test_keys_are_scoped_by_task(queue: Queue) -> None:
    @queue.task(debounce="1m", debounce_key="same", debounce_max_wait="1h")
    def one() -> None: ...

    @queue.task(debounce="1m", debounce_key="same", debounce_max_wait="1h")
    def two() -> None: ...

    assert one.delay().id != two.delay().id
    assert one.delay().id == one.delay().id
    assert _pending(queue) == 2


def test_keys_are_scoped_by_namespace(backend: Backend) -> None:
    tenants = [
        backend.queue(namespace="a"),
        backend.queue(namespace="a"),
        backend.queue(namespace="b"),
    ]
    for each in tenants:
        each.task(name="sync", debounce="1m", debounce_key="k", debounce_max_wait="1h")(
            lambda: None
        )
    ids = [each.enqueue("sync").id for each in tenants]
    assert ids[0] == ids[1] != ids[2]


def test_call_options_define_the_whole_window(queue: Queue) -> None:
    @queue.task(debounce="1m", debounce_key="{n}", debounce_max_wait="1h")
    def keyed(n: int) -> None: ...

    @queue.task()
    def plain(n: int) -> None: ...

    # The task's window groups by n; this call's own window groups every call together.
    own = {"debounce": "30s", "debounce_key": "all", "debounce_max_wait": "30s"}
    assert keyed.apply_async((1,), **own).id == keyed.apply_async((2,), **own).id
    assert keyed.delay(1).id != keyed.delay(2).id
    assert plain.apply_async((1,), **own).id == plain.apply_async((2,), **own).id
    assert plain.delay(1).id != plain.delay(1).id
    job = queue.enqueue(plain.name, (3,), debounce=5, debounce_key="x", debounce_max_wait=5)
    record = record_of(queue, job.id)
    assert record.scheduled_at - record.created_at == 5_000


def test_the_key_template_sees_the_bound_arguments(queue: Queue) -> None:
    # Names work for positional arguments, defaults apply, **kwargs are flattened, and {0}
    # is the first positional argument of the call.
    @queue.task(debounce="1m", debounce_key="{a}-{b}-{extra}-{0}", debounce_max_wait="1h")
    def f(a: int, b: str = "dflt", **kwargs: Any) -> None: ...

    first = f.delay(1, extra="x")
    assert f.apply_async((1,), {"b": "dflt", "extra": "x"}).id == first.id
    assert f.delay(1, "other", extra="x").id != first.id
    assert f.delay(2, extra="x").id != first.id
    assert _pending(queue) == 3


def test_a_coalesced_call_is_not_announced(queue: Queue) -> None:
    announced: list[str] = []
    queue.on_event(EventType.JOB_ENQUEUED, lambda _t, payload: announced.append(payload["job_id"]))

    @queue.task(debounce="1m", debounce_key="{n}", debounce_max_wait="1h")
    def ping(n: int) -> None: ...

    first = ping.delay(1)
    ping.delay(1)
    second = ping.delay(2)
    wait_until(lambda: len(announced) >= 2, message="both inserts announced")
    assert sorted(announced) == sorted([first.id, second.id])


def test_max_pending_checks_inserts_and_lets_slides_through(queue: Queue) -> None:
    @queue.task(debounce="1m", debounce_key="{n}", debounce_max_wait="1h", queue="capped")
    def ping(n: int) -> None: ...

    queue.set_queue_max_pending("capped", 1)
    first = ping.delay(1)
    assert ping.delay(1).id == first.id
    with pytest.raises(QueueFullError):
        ping.delay(2)
    assert _pending(queue) == 1


def test_retry_dead_gives_a_job_outside_the_window(backend: Backend) -> None:
    queue = backend.queue()

    @queue.task(debounce="20ms", debounce_key="k", debounce_max_wait="20ms", max_retries=0)
    def fails() -> None:
        raise RuntimeError("boom")

    dead = fails.delay()
    with worker_thread(queue):
        wait_until(lambda: status_of(queue, dead.id) == "dead", 15, message="dead-lettered")
    (letter,) = queue.dead_letters()
    revived = queue.retry_dead(letter["id"])
    fresh = fails.delay()
    assert len({dead.id, revived, fresh.id}) == 3


_BAD_DECORATIONS: list[tuple[dict[str, Any], str]] = [
    ({"debounce": "5", "debounce_key": "k", "debounce_max_wait": "1m"}, "debounce must be"),
    ({"debounce": "5 parsecs", "debounce_key": "k", "debounce_max_wait": "1m"}, "unit"),
    (
        {"debounce": 0, "debounce_key": "k", "debounce_max_wait": "1m"},
        "debounce must be a positive duration",
    ),
    ({"debounce": "-1s", "debounce_key": "k", "debounce_max_wait": "1m"}, "debounce must be"),
    ({"debounce": -2.5, "debounce_key": "k", "debounce_max_wait": "1m"}, "positive"),
    ({"debounce": math.inf, "debounce_key": "k", "debounce_max_wait": "1m"}, "finite"),
    ({"debounce": math.nan, "debounce_key": "k", "debounce_max_wait": "1m"}, "positive"),
    ({"debounce": "1s", "debounce_key": "k", "debounce_max_wait": 10**400}, "max_wait must be"),
    ({"debounce": "1s", "debounce_key": "k", "debounce_max_wait": "99999999d"}, "finite"),
    ({"debounce": "1s", "debounce_max_wait": "1m"}, "needs debounce_key"),
    ({"debounce": "1s", "debounce_key": "k"}, "needs debounce_max_wait"),
    ({"debounce": "1m", "debounce_key": "k", "debounce_max_wait": "1s"}, "at least"),
    ({"debounce": "1s", "debounce_key": "", "debounce_max_wait": "1m"}, "debounce_key"),
    ({"debounce": "1s", "debounce_key": "{unclosed", "debounce_max_wait": "1m"}, "template"),
    ({"debounce_key": "k"}, "debounce_key needs debounce="),
    ({"debounce_max_wait": "1m"}, "debounce_max_wait needs debounce="),
    ({"debounce_replace_payload": True}, "debounce_replace_payload needs debounce="),
    (
        {"debounce": "1s", "debounce_key": "k", "debounce_max_wait": "1m", "idempotent": True},
        "idempotent=True cannot be combined with debounce",
    ),
]


@pytest.mark.parametrize(("options", "match"), _BAD_DECORATIONS)
def test_bad_decorator_options_raise_at_decoration(
    queue: Queue, options: dict[str, Any], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        queue.task(**options)


def test_bad_option_types_raise_type_errors(queue: Queue) -> None:
    with pytest.raises(TypeError, match="debounce must be a number of seconds"):
        queue.task(debounce=[1], debounce_key="k", debounce_max_wait="1m")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="debounce_replace_payload must be True or False"):
        queue.task(
            debounce="1s",
            debounce_key="k",
            debounce_max_wait="1m",
            debounce_replace_payload=1,  # type: ignore[arg-type]
        )


def test_bad_calls_raise_and_store_nothing(queue: Queue) -> None:
    @queue.task(debounce="1m", debounce_key="{user}", debounce_max_wait="1h")
    def sync(user: str, note: str = "") -> None: ...

    @queue.task()
    def plain(user: str) -> None: ...

    window = {"debounce": "1s", "debounce_key": "k", "debounce_max_wait": "1m"}
    calls: list[tuple[Any, type[Exception], str]] = [
        (lambda: sync.delay(""), ValueError, "is empty for this call"),
        (lambda: plain.apply_async(("u",), **{**window, "debounce_key": "{nope}"}), ValueError,
         "names 'nope'"),
        (lambda: plain.apply_async(("u",), **{**window, "debounce_key": "{3}"}), ValueError,
         "names position 3"),
        (lambda: sync.apply_async(("u",), delay=5), ValueError, "delay= cannot be combined"),
        (lambda: sync.apply_async(("u",), countdown=5), ValueError, "delay= cannot be combined"),
        (lambda: sync.apply_async(("u",), unique_key="x"), ValueError, "unique_key="),
        (lambda: sync.apply_async(("u",), idempotency_key="x"), ValueError, "idempotency_key="),
        (lambda: sync.apply_async(("u",), idempotent=True), ValueError, "idempotent="),
        (lambda: plain.apply_async(("u",), debounce_key="k"), ValueError, "needs debounce="),
        (lambda: plain.apply_async(("u",), debounce_replace_payload=False), ValueError,
         "needs debounce="),
        (lambda: plain.apply_async(("u",), **{**window, "debounce": "1"}), ValueError,
         "debounce must be"),
        (lambda: queue.enqueue_many(sync.name, [("a",), ("b",)]), ValueError,
         "enqueue_many"),
        (lambda: sync.map([("a",)]), ValueError, "is debounced"),
    ]  # fmt: skip
    for call, error, match in calls:
        with pytest.raises(error, match=match):
            call()
    assert _pending(queue) == 0


def test_concurrent_producers_in_threads_keep_one_pending_job(backend: Backend) -> None:
    queues = [backend.queue(), backend.queue()]
    for each in queues:
        each.task(name="sync", debounce="1m", debounce_key="{0}", debounce_max_wait="1h")(
            lambda user: None
        )
    producers, calls = 8, 10
    barrier = threading.Barrier(producers)
    ids: set[str] = set()
    errors: list[BaseException] = []
    lock = threading.Lock()

    def produce(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            for _ in range(calls):
                job = queues[index % 2].enqueue("sync", (42,))
                with lock:
                    ids.add(job.id)
        except BaseException as exc:
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=produce, args=(n,)) for n in range(producers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors and len(ids) == 1
    assert _pending(queues[0]) == 1


_PRODUCE = """
import json, sys
from taskito import Queue
queue = Queue(**json.loads(sys.argv[1]))
queue.task(name="sync", debounce="1m", debounce_key="{0}", debounce_max_wait="1h")(lambda u: u)
print("ready", flush=True)
sys.stdin.readline()
ids = {queue.enqueue("sync", (42,)).id for _ in range(20)}
print(json.dumps(sorted(ids)), flush=True)
queue.close()
"""


def test_concurrent_producers_in_two_processes_keep_one_pending_job(backend: Backend) -> None:
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
    assert outputs[0] == outputs[1] and len(outputs[0].split(",")) == 1
    queue = backend.queue()
    assert _pending(queue) == 1
