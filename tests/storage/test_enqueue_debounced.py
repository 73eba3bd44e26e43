"""Contract: ``enqueue_debounced`` (trailing-edge debounce): insert, slide, the max_wait
ceiling, payload replacement, claimed jobs left alone, scoping by task and namespace, bad
arguments refused, and one job per key under concurrent producers (threads, processes)."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from taskito.exceptions import QueueFullError
from taskito.job import JobStatus, NewJob
from taskito.storage.base import JobFilter, Storage
from tests.storage.factories import Backend, claim_job, finish, make_job
from tests.storage.test_enqueue_coalescing import _released_together

T0 = 1_700_000_000_000
WINDOW, MAX_WAIT = 1_000, 5_000


def _job(at: int = T0, **fields: Any) -> NewJob:
    """A debounced job made at ``at``, scheduled at the end of its window."""
    fields.setdefault("queue", "deb")
    return make_job(created_at=at, scheduled_at=at + WINDOW, **fields)


def _debounce(
    storage: Storage, job: NewJob, key: str = "k", *, replace: bool = False, **options: Any
) -> tuple[Any, bool]:
    return storage.enqueue_debounced(job, key, WINDOW, MAX_WAIT, replace, job.created_at, **options)


def test_no_open_window_inserts_the_job(storage: Storage) -> None:
    job = _job()
    record, slid = _debounce(storage, job)
    assert (record.id, slid, record.scheduled_at) == (job.id, False, T0 + WINDOW)
    stored = storage.get_job(job.id)
    assert stored is not None and stored.status is JobStatus.PENDING
    assert stored.scheduled_at == T0 + WINDOW and stored.unique_key is None


def test_a_second_call_slides_the_pending_job(storage: Storage) -> None:
    first = _job(payload=b"one")
    _debounce(storage, first)
    later = _job(T0 + 400, payload=b"two")
    record, slid = _debounce(storage, later)
    assert (record.id, slid, record.scheduled_at) == (first.id, True, T0 + 400 + WINDOW)
    assert storage.get_job(later.id) is None
    stored = storage.get_job(first.id)
    assert stored is not None
    assert (stored.scheduled_at, stored.payload, stored.created_at) == (T0 + 1400, b"one", T0)
    assert storage.count_jobs()[JobStatus.PENDING] == 1


def test_max_wait_caps_the_slide(storage: Storage) -> None:
    first = _job()
    _debounce(storage, first)
    for at in (T0 + 3_000, T0 + 4_500, T0 + 9_000):
        record, slid = _debounce(storage, _job(at))
        assert slid and record.id == first.id
    stored = storage.get_job(first.id)
    assert stored is not None and stored.scheduled_at == T0 + MAX_WAIT


def test_replace_payload_stores_the_latest_arguments(storage: Storage) -> None:
    first = _job(payload=b"old", priority=7)
    _debounce(storage, first)
    record, slid = _debounce(storage, _job(T0 + 10, payload=b"new", priority=1), replace=True)
    assert slid and record.payload == b"new"
    stored = storage.get_job(first.id)
    assert stored is not None and (stored.payload, stored.priority) == (b"new", 7)


def test_a_claimed_job_is_never_moved(storage: Storage) -> None:
    first = storage.enqueue_debounced(
        make_job(queue="deb-claim"), "k", WINDOW, MAX_WAIT, False, T0 - WINDOW
    )[0]
    running = claim_job(storage, first.id)
    record, slid = _debounce(storage, _job(queue="deb-claim"))
    assert not slid and record.id != first.id
    assert storage.get_job(first.id).scheduled_at == running.scheduled_at  # type: ignore[union-attr]
    # Sent back to pending by a retry, the claimed job still does not slide.
    assert finish(storage, running, JobStatus.PENDING, error="boom", retry_at=T0 + 99_000)
    again, slid = _debounce(storage, _job(T0 + 100, queue="deb-claim"))
    assert slid and again.id == record.id
    assert storage.get_job(first.id).scheduled_at == T0 + 99_000  # type: ignore[union-attr]


def test_a_finished_or_cancelled_job_frees_its_key(storage: Storage) -> None:
    first = _job()
    _debounce(storage, first)
    assert storage.cancel_pending(first.id, T0 + 1)
    second, slid = _debounce(storage, _job(T0 + 2))
    assert not slid and second.id != first.id


def test_keys_are_scoped_by_task_and_namespace(storage: Storage) -> None:
    base = _debounce(storage, _job())[0]
    other_task = _debounce(storage, _job(task_name="tests.other"))[0]
    other_ns = _debounce(storage, _job(namespace="tenant-a"))[0]
    other_key = _debounce(storage, _job(), "k2")[0]
    assert len({base.id, other_task.id, other_ns.id, other_key.id}) == 4
    again, slid = _debounce(storage, _job(T0 + 1, namespace="tenant-a"))
    assert slid and again.id == other_ns.id


def test_an_insert_is_checked_against_max_pending_and_a_slide_is_not(storage: Storage) -> None:
    storage.enqueue(make_job(queue="deb"))
    first = _job()
    _debounce(storage, first, max_pending=2)
    with pytest.raises(QueueFullError):
        _debounce(storage, _job(), "other", max_pending=2)
    record, slid = _debounce(storage, _job(T0 + 5), max_pending=2)
    assert slid and record.id == first.id
    assert storage.count_jobs()[JobStatus.PENDING] == 2


def test_retry_dead_makes_a_job_without_the_key(storage: Storage) -> None:
    first = storage.enqueue_debounced(
        make_job(queue="deb-dead", max_retries=0), "k", WINDOW, MAX_WAIT, False, T0 - WINDOW
    )[0]
    assert finish(storage, claim_job(storage, first.id), JobStatus.DEAD, error="boom")
    (letter,) = storage.dead_letters(10, 0)
    revived = storage.retry_dead(letter.id, "revived-job", T0)
    assert revived is not None
    record, slid = _debounce(storage, _job(queue="deb-dead"))
    assert not slid and record.id not in (first.id, "revived-job")


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"key": ""}, ValueError, "debounce key"),
        ({"key": None}, ValueError, "debounce key"),
        ({"window_ms": 0}, ValueError, "window_ms"),
        ({"window_ms": 1.5}, ValueError, "window_ms"),
        ({"max_wait_ms": WINDOW - 1}, ValueError, "max_wait_ms"),
        ({"replace_payload": 1}, TypeError, "replace_payload"),
        ({"now": "now"}, TypeError, "now"),
        ({"max_pending": -1}, ValueError, "max_pending"),
        ({"job": {"id": "x"}}, TypeError, "NewJob"),
        ({"unique_key": "u"}, ValueError, "unique key"),
    ],
)
def test_bad_arguments_are_refused_and_store_nothing(
    storage: Storage, change: dict[str, Any], error: type[Exception], match: str
) -> None:
    change = dict(change)  # the parameter is shared by every backend's run
    job = _job(unique_key=change.pop("unique_key", None))
    arguments: dict[str, Any] = {
        "job": job,
        "key": "k",
        "window_ms": WINDOW,
        "max_wait_ms": MAX_WAIT,
        "replace_payload": False,
        "now": T0,
    }
    arguments.update(change)
    with pytest.raises(error, match=match):
        storage.enqueue_debounced(**arguments)
    assert storage.list_jobs(JobFilter(), 10, 0) == []


def test_concurrent_producers_keep_one_pending_job_per_key(storage: Storage) -> None:
    producers, rounds, keys = 6, 5, ["a", "b"]
    barrier = threading.Barrier(producers)
    errors: list[BaseException] = []

    def produce(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            for step in range(rounds):
                for key in keys:
                    _debounce(storage, _job(T0 + n * 10 + step), key, replace=True)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=produce, args=(n,)) for n in range(producers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert storage.count_jobs()[JobStatus.PENDING] == len(keys)


_DEBOUNCE_KEYS = """
import json, sys
from taskito.ids import new_job_id
from taskito.job import NewJob
print("ready", flush=True)
sys.stdin.readline()
ids = []
for step in range(20):
    for key in ("x", "y"):
        at = 1_700_000_000_000 + step
        job = NewJob(id=new_job_id(), queue="deb", task_name="t", payload=b"p", priority=0,
                     created_at=at, scheduled_at=at + 1000, max_retries=0, timeout_ms=None)
        record, _ = storage.enqueue_debounced(job, key, 1000, 5000, False, at)
        ids.append(record.id)
print(json.dumps(sorted(set(ids))))
"""


def test_producers_in_two_processes_keep_one_pending_job_per_key(backend: Backend) -> None:
    storage = backend.first()
    processes = [backend.start_process(_DEBOUNCE_KEYS) for _ in range(2)]
    outputs = _released_together(processes)
    assert json.loads(outputs[0]) == json.loads(outputs[1])
    assert storage.count_jobs()[JobStatus.PENDING] == 2
