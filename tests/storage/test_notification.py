"""Contract: wait_for_change wakes waiters on writes (this object, other threads, other
processes) and returns False once the timeout passes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from taskito.ids import new_job_id
from taskito.job import JobStatus, now_ms
from taskito.storage.base import Finish, Storage
from tests.storage.factories import Backend, make_job, start_job

#: A wake-up counts as immediate well before this; the waits themselves allow 10 s.
PROMPT_S = 1.0


class Waiter:
    """A thread blocked in ``wait_for_change``; ``ready`` is set once it is about to wait."""

    def __init__(self, storage: Storage, timeout_s: float = 10.0) -> None:
        self.ready = threading.Event()
        self.woke: bool | None = None
        self.returned_at = 0.0
        self._thread = threading.Thread(target=self._run, args=(storage, timeout_s))
        self._thread.start()
        assert self.ready.wait(10), "the waiter thread did not start"

    def _run(self, storage: Storage, timeout_s: float) -> None:
        storage.wait_for_change(0)  # the first call sets this thread's baseline
        self.ready.set()
        self.woke = storage.wait_for_change(timeout_s)
        self.returned_at = time.monotonic()

    def join(self) -> None:
        self._thread.join(timeout=30)
        assert not self._thread.is_alive()


def test_wait_returns_false_after_the_timeout(storage: Storage) -> None:
    storage.wait_for_change(0)
    started = time.monotonic()
    assert storage.wait_for_change(0.05) is False
    assert time.monotonic() - started >= 0.05


def test_wait_zero_does_not_block(storage: Storage) -> None:
    started = time.monotonic()
    storage.wait_for_change(0)
    assert storage.wait_for_change(0) is False
    assert time.monotonic() - started < PROMPT_S


@pytest.mark.parametrize("timeout", [-1, float("nan")])
def test_wait_rejects_a_bad_timeout(storage: Storage, timeout: float) -> None:
    with pytest.raises(ValueError, match="timeout_s"):
        storage.wait_for_change(timeout)


def test_wait_rejects_a_timeout_that_is_not_a_number(storage: Storage) -> None:
    with pytest.raises(TypeError, match="timeout_s"):
        storage.wait_for_change("1")  # type: ignore[arg-type]


def _enqueue_many(storage: Storage) -> Callable[[], object]:
    return lambda: storage.enqueue_many([make_job(), make_job()])


def _cancel_pending(storage: Storage) -> Callable[[], object]:
    job = storage.enqueue(make_job())
    return lambda: storage.cancel_pending(job.id, now_ms())


def _request_cancel(storage: Storage) -> Callable[[], object]:
    job = start_job(storage)
    return lambda: storage.request_cancel(job.id)


def _cancel_a_pending_job(storage: Storage) -> Callable[[], object]:
    job = storage.enqueue(make_job())
    return lambda: storage.cancel(job.id, False, now_ms())


def _cancel_a_running_job(storage: Storage) -> Callable[[], object]:
    job = start_job(storage)
    return lambda: storage.cancel(job.id, False, now_ms())


def _finish_many(storage: Storage) -> Callable[[], object]:
    job = start_job(storage)
    return lambda: storage.finish_many(
        [Finish(job.id, job.attempt, JobStatus.COMPLETE, worker_id=job.worker_id)], 1
    )


def _finish_and_claim(storage: Storage) -> Callable[[], object]:
    job = start_job(storage)
    finish = Finish(job.id, job.attempt, JobStatus.COMPLETE, worker_id=job.worker_id)
    return lambda: storage.finish_and_claim(
        [finish], "worker-1", [job.queue], None, 1, now_ms(), 30_000
    )


def _requeue_expired(storage: Storage) -> Callable[[], object]:
    job = start_job(storage)
    assert job.lease_expires_at is not None
    return lambda: storage.requeue_expired(job.lease_expires_at + 1)  # type: ignore[operator]


def _purge_queue(storage: Storage) -> Callable[[], object]:
    storage.enqueue(make_job(queue="doomed"))
    return lambda: storage.purge_queue("doomed", now_ms())


def _revoke_task(storage: Storage) -> Callable[[], object]:
    storage.enqueue(make_job(task_name="doomed"))
    return lambda: storage.revoke_task("doomed", now_ms())


def _retry_dead(storage: Storage) -> Callable[[], object]:
    job = start_job(storage)
    storage.finish_many(
        [Finish(job.id, job.attempt, JobStatus.DEAD, error="x", worker_id=job.worker_id)], now_ms()
    )
    (letter,) = storage.dead_letters(1, 0)
    return lambda: storage.retry_dead(letter.id, new_job_id(), now_ms())


WRITES: dict[str, Callable[[Storage], Callable[[], object]]] = {
    "enqueue": lambda storage: lambda: storage.enqueue(make_job()),
    "enqueue_many": _enqueue_many,
    "cancel_pending": _cancel_pending,
    "cancel (pending)": _cancel_a_pending_job,
    "cancel (running)": _cancel_a_running_job,
    "request_cancel": _request_cancel,
    "finish_many": _finish_many,
    "finish_and_claim": _finish_and_claim,
    "requeue_expired": _requeue_expired,
    "purge_queue": _purge_queue,
    "revoke_task": _revoke_task,
    "retry_dead": _retry_dead,
}


@pytest.mark.parametrize("write", sorted(WRITES))
def test_a_write_wakes_a_waiting_thread_at_once(storage: Storage, write: str) -> None:
    action = WRITES[write](storage)
    waiter = Waiter(storage)
    action()
    written_at = time.monotonic()
    waiter.join()
    assert waiter.woke is True
    assert waiter.returned_at - written_at < PROMPT_S


def test_one_write_wakes_every_waiter(storage: Storage) -> None:
    waiters = [Waiter(storage) for _ in range(4)]
    storage.enqueue(make_job())
    written_at = time.monotonic()
    for waiter in waiters:
        waiter.join()
    assert all(waiter.woke is True for waiter in waiters)
    assert max(waiter.returned_at for waiter in waiters) - written_at < PROMPT_S


def test_a_write_through_another_storage_object_wakes_a_waiter(
    backend_storage_pair: tuple[Storage, Storage],
) -> None:
    one, two = backend_storage_pair
    waiter = Waiter(one)
    two.enqueue(make_job())
    written_at = time.monotonic()
    waiter.join()
    assert waiter.woke is True
    assert waiter.returned_at - written_at < PROMPT_S


@pytest.mark.parametrize("write", ["finish_many", "finish_and_claim"])
def test_a_finish_through_another_storage_object_wakes_a_waiter(
    backend_storage_pair: tuple[Storage, Storage], write: str
) -> None:
    """A finish tells other processes after its commit (on Postgres from a thread of its
    own, not inside the durable write): a waiter elsewhere still wakes at once."""
    one, two = backend_storage_pair
    action = WRITES[write](two)
    waiter = Waiter(one)
    action()
    written_at = time.monotonic()
    waiter.join()
    assert waiter.woke is True
    assert waiter.returned_at - written_at < PROMPT_S


def test_an_enqueue_in_another_process_wakes_a_waiter(backend: Backend) -> None:
    storage = backend.first()
    job_id = new_job_id()
    child = backend.start_process(
        f"""
        import sys
        from taskito.job import NewJob, now_ms
        print("ready", flush=True)
        sys.stdin.readline()
        now = now_ms()
        storage.enqueue(NewJob(id={job_id!r}, queue="default", task_name="t", payload=b"p",
                               priority=0, created_at=now, scheduled_at=now, max_retries=0,
                               timeout_ms=None))
        """
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "ready"
        storage.wait_for_change(0)
        child.stdin.write("go\n")
        child.stdin.flush()
        started = time.monotonic()
        woke = storage.wait_for_change(20)
        waited_s = time.monotonic() - started
    finally:
        _, err = child.communicate(timeout=30)
    assert child.returncode == 0, err
    assert woke is True
    assert waited_s < 10
    assert storage.get_job(job_id) is not None
