"""Forged, replayed and unsigned payloads and results meet a Queue with a signing key, on every
backend, with a real worker: nothing forged is ever deserialised (a pickle that would create a
marker file never does), and every such job ends dead with a reason that says why.

The forgeries are written through the storage API, as anyone with write access to the database
could write them: the worker and the producer must not trust the row.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taskito import (
    EncryptedSerializer,
    JsonSerializer,
    Queue,
    SignatureError,
    TaskWrapper,
    chain,
)
from taskito.ids import new_job_id
from taskito.job import JobRecord, JobStatus, NewJob, now_ms
from taskito.signing import Signer, payload_context, result_context
from taskito.storage.base import JobFilter
from tests.api.backends.support import worker_thread
from tests.backends import QueueTarget
from tests.helpers import wait_until
from tests.storage.factories import claim_job, finish
from tests.worker.pool_app import MakeApp, pool_apps

KEY = b"current-signing-key-0123456789ab"
OLD_KEY = b"previous-signing-key-0123456789a"
STRANGER_KEY = b"someone-elses-key-0123456789abcd"
AES_KEY = bytes(range(32))


class _Marker:
    """Unpickling this creates the marker file: proof that a forged payload was loaded."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


def evil_pickle(marker: Path) -> bytes:
    return pickle.dumps(((_Marker(marker),), {}))


@pytest.fixture
def queues(target: QueueTarget) -> Iterator[list[Queue]]:
    """Queues opened by the test on ``target`` (closed at the end)."""
    opened: list[Queue] = []
    yield opened
    for queue in opened:
        queue.close()


def open_queue(target: QueueTarget, queues: list[Queue], **options: Any) -> Queue:
    queue = Queue(**target.kwargs, **options)
    queues.append(queue)
    return queue


def add_task(queue: Queue) -> str:
    return add_wrapper(queue).name


def add_wrapper(queue: Queue) -> TaskWrapper:
    @queue.task(name="tests.add", max_retries=3)
    def add(a: int, b: int) -> int:
        return a + b

    return add


def forge(queue: Queue, task_name: str, payload: bytes, job_id: str | None = None) -> str:
    """A job row written straight into the store, as an attacker with write access would."""
    now = now_ms()
    job = NewJob(job_id or new_job_id(), "default", task_name, payload, 0, now, now, 3, None)
    return queue._storage.enqueue(job).id


def record(queue: Queue, job_id: str) -> JobRecord:
    found = queue._storage.get_job(job_id)
    assert found is not None, f"no job {job_id}"
    return found


def wait_terminal(queue: Queue, *job_ids: str, timeout_s: float = 15.0) -> None:
    wait_until(
        lambda: all(record(queue, job_id).status.is_terminal for job_id in job_ids),
        timeout_s,
        message="jobs to finish",
    )


def assert_dead(queue: Queue, job_id: str, reason: str) -> None:
    job = record(queue, job_id)
    assert job.status is JobStatus.DEAD, f"{job_id} is {job.status}: {job.error}"
    assert job.error == f"payload signature check failed: {reason}"
    assert job.retry_count == 0  # never retried: it can never pass
    assert job.result is None


# --- forged payloads ------------------------------------------------------------------------


def test_forged_payloads_are_dead_lettered_and_never_unpickled(
    target: QueueTarget, queues: list[Queue], tmp_path: Path
) -> None:
    queue = open_queue(target, queues, signing_key=KEY)
    task = add_task(queue)
    unsigned_marker, stranger_marker = tmp_path / "unsigned-ran", tmp_path / "stranger-ran"
    unsigned = forge(queue, task, evil_pickle(unsigned_marker))
    stranger_id = new_job_id()
    stranger = forge(
        queue,
        task,
        Signer([STRANGER_KEY]).sign(
            payload_context(stranger_id, task), evil_pickle(stranger_marker)
        ),
        job_id=stranger_id,
    )
    innocent = queue.enqueue(task, (2, 3))

    with worker_thread(queue):
        wait_terminal(queue, unsigned, stranger, innocent.id)

    assert not unsigned_marker.exists() and not stranger_marker.exists()
    assert_dead(queue, unsigned, "unsigned payload")
    assert_dead(queue, stranger, "not signed by a known key")
    assert innocent.result(timeout=5) == 5
    assert {letter["original_job_id"] for letter in queue.dead_letters()} == {unsigned, stranger}
    # A forged dead letter cannot be laundered through retry_dead either.
    letters = {letter["original_job_id"]: letter["id"] for letter in queue.dead_letters()}
    with pytest.raises(SignatureError, match="unsigned payload"):
        queue.retry_dead(letters[unsigned])
    assert len(queue.dead_letters()) == 2
    assert not unsigned_marker.exists()


def test_a_signed_payload_copied_to_another_job_or_task_is_refused(
    target: QueueTarget, queues: list[Queue]
) -> None:
    queue = open_queue(target, queues, signing_key=KEY)
    task = add_task(queue)

    @queue.task(name="tests.sub", max_retries=3)
    def sub(a: int, b: int) -> int:
        return a - b

    original = queue.enqueue(task, (40, 2), delay=3600)  # stays pending: its payload is copied
    payload = record(queue, original.id).payload
    other_id = forge(queue, task, payload)
    other_task = forge(queue, sub.name, payload)
    same_id_other_task = forge(queue, sub.name, payload, job_id=original.id + "x")

    with worker_thread(queue):
        wait_terminal(queue, other_id, other_task, same_id_other_task)

    for job_id in (other_id, other_task, same_id_other_task):
        assert_dead(queue, job_id, "not signed by a known key")
    assert record(queue, original.id).status is JobStatus.PENDING
    assert record(queue, original.id).started_at is None


def test_a_job_enqueued_before_the_key_was_set_is_dead_lettered(
    target: QueueTarget, queues: list[Queue]
) -> None:
    before = open_queue(target, queues)
    add_task(before)
    old_job = before.enqueue("tests.add", (1, 1))
    queue = open_queue(target, queues, signing_key=KEY)
    add_task(queue)

    with worker_thread(queue):
        wait_terminal(queue, old_job.id)

    assert_dead(queue, old_job.id, "unsigned payload")


# --- rotation -------------------------------------------------------------------------------


def test_a_rotated_key_still_verifies_and_the_new_key_signs(
    target: QueueTarget, queues: list[Queue]
) -> None:
    old_producer = open_queue(target, queues, signing_key=OLD_KEY)
    add_task(old_producer)
    signed_with_old = old_producer.enqueue("tests.add", (1, 2))
    rotated = open_queue(target, queues, signing_key=[KEY, OLD_KEY])
    add_task(rotated)
    signed_with_new = rotated.enqueue("tests.add", (3, 4))
    new_payload = record(rotated, signed_with_new.id).payload
    Signer([KEY]).verify(payload_context(signed_with_new.id, "tests.add"), new_payload)
    with pytest.raises(SignatureError):
        Signer([OLD_KEY]).verify(payload_context(signed_with_new.id, "tests.add"), new_payload)

    with worker_thread(rotated):
        wait_terminal(rotated, signed_with_old.id, signed_with_new.id)

    assert rotated.get_job(signed_with_old.id).result(timeout=5) == 3  # type: ignore[union-attr]
    assert rotated.get_job(signed_with_new.id).result(timeout=5) == 7  # type: ignore[union-attr]
    stored = record(rotated, signed_with_new.id).result
    assert stored is not None
    Signer([KEY]).verify(result_context(signed_with_new.id, "tests.add"), stored)
    # A producer that only knows the old key cannot trust a result signed with the new one.
    with pytest.raises(SignatureError, match="not signed by a known key"):
        old_producer.get_job(signed_with_new.id).result(timeout=5)  # type: ignore[union-attr]


def test_a_worker_without_the_old_key_refuses_what_it_signed(
    target: QueueTarget, queues: list[Queue]
) -> None:
    old_producer = open_queue(target, queues, signing_key=OLD_KEY)
    add_task(old_producer)
    job = old_producer.enqueue("tests.add", (1, 2))
    queue = open_queue(target, queues, signing_key=KEY)
    add_task(queue)

    with worker_thread(queue):
        wait_terminal(queue, job.id)

    assert_dead(queue, job.id, "not signed by a known key")


# --- forged results -------------------------------------------------------------------------


def test_a_forged_result_raises_in_the_producer_and_is_never_unpickled(
    target: QueueTarget, queues: list[Queue], tmp_path: Path
) -> None:
    queue = open_queue(target, queues, signing_key=KEY)
    task = add_task(queue)
    marker = tmp_path / "result-ran"
    forged = queue.enqueue(task, (1, 1), queue="forged-results")
    claimed = claim_job(queue._storage, forged.id)
    assert finish(queue._storage, claimed, JobStatus.COMPLETE, result=pickle.dumps(_Marker(marker)))

    with pytest.raises(
        SignatureError, match=r"^result of job .*: signature check failed: unsigned result$"
    ):
        forged.result(timeout=5)
    assert not marker.exists()

    # A genuine result copied from another job is refused too.
    genuine = queue.enqueue(task, (2, 2))
    with worker_thread(queue):
        assert genuine.result(timeout=10) == 4
    copied = queue.enqueue(task, (9, 9), queue="copied-results")
    claimed = claim_job(queue._storage, copied.id)
    assert finish(
        queue._storage, claimed, JobStatus.COMPLETE, result=record(queue, genuine.id).result
    )
    with pytest.raises(SignatureError, match="not signed by a known key"):
        copied.result(timeout=5)
    assert record(queue, copied.id).status is JobStatus.COMPLETE
    assert record(queue, forged.id).status is JobStatus.COMPLETE


# --- encryption -----------------------------------------------------------------------------


def test_an_encrypted_payload_moved_to_another_job_does_not_decrypt(
    target: QueueTarget, queues: list[Queue]
) -> None:
    queue = open_queue(target, queues, serializer=EncryptedSerializer(JsonSerializer(), AES_KEY))
    task = add_task(queue)
    original = queue.enqueue(task, (20, 22), delay=3600)
    payload = record(queue, original.id).payload
    assert b"20" not in payload
    moved = forge(queue, task, payload)
    ran = queue.enqueue(task, (1, 2))

    with worker_thread(queue):
        wait_terminal(queue, moved, ran.id)

    job = record(queue, moved)
    assert job.status is JobStatus.DEAD
    assert (
        job.error == f"payload of job {moved} could not be decoded: ValueError: Decryption failed"
    )
    assert ran.result(timeout=5) == 3
    assert record(queue, original.id).status is JobStatus.PENDING


# --- jobs made on every path are signed for their own id ------------------------------------


def test_every_enqueue_path_signs_for_the_final_job_id(
    target: QueueTarget, queues: list[Queue], tmp_path: Path
) -> None:
    queue = open_queue(target, queues, signing_key=KEY)
    add = add_wrapper(queue)
    task = add.name
    flag = tmp_path / "second-attempt"

    @queue.task(name="tests.flaky", max_retries=0)
    def flaky() -> str:
        if not flag.exists():
            flag.write_text("x")
            raise RuntimeError("first run fails")
        return "second run"

    @queue.periodic(cron="* * * * * *", name="tests.tick")
    def tick() -> str:
        return "tick"

    mapped = queue.enqueue_many(task, [(1, 1), (2, 2)])
    failing = flaky.delay()
    with worker_thread(queue):
        assert [job.result(timeout=10) for job in mapped] == [2, 4]
        chained = chain(add.s(1, 2), add.s(3)).apply(queue)
        assert chained.result(timeout=10) == 6
        wait_terminal(queue, failing.id)
        assert record(queue, failing.id).status is JobStatus.DEAD
        (letter,) = queue.dead_letters()
        retried = queue.retry_dead(letter["id"])
        assert queue.get_job(retried).result(timeout=10) == "second run"  # type: ignore[union-attr]
        replayed = queue.replay(mapped[0].id)
        assert replayed.result(timeout=10) == 2
        wait_until(
            lambda: any(j.status == "complete" for j in queue.list_jobs(task_name=tick.name)),
            10,
            message="a periodic slot to run",
        )
    for job_id in (retried, replayed.id, chained.id, *(job.id for job in mapped)):
        stored = record(queue, job_id)
        Signer([KEY]).verify(payload_context(job_id, stored.task_name), stored.payload)


# --- the prefork pool -----------------------------------------------------------------------


@pytest.fixture
def make_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: QueueTarget
) -> Iterator[MakeApp]:
    yield from pool_apps(tmp_path, monkeypatch, target)


def test_prefork_children_verify_payloads_and_sign_results_with_the_environment_key(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The key reaches the children through the environment and the app module's Queue.
    monkeypatch.setenv("TASKITO_SIGNING_KEY", f"{KEY.decode()},{OLD_KEY.decode()}")
    app = make_app()
    pid_task = app.task("pid")
    marker = tmp_path / "prefork-ran"
    forged = forge(app.queue, pid_task.name, evil_pickle(marker))
    old_id = new_job_id()
    stranger = forge(
        app.queue,
        pid_task.name,
        Signer([STRANGER_KEY]).sign(payload_context(old_id, pid_task.name), evil_pickle(marker)),
        job_id=old_id,
    )
    genuine = pid_task.delay()

    with app.running("prefork"):
        child_pid = genuine.result(timeout=20)
        assert child_pid != os.getpid()
        command_line = Path(f"/proc/{child_pid}/cmdline").read_bytes()
        assert KEY not in command_line and OLD_KEY not in command_line
        wait_terminal(app.queue, forged, stranger, timeout_s=20)

    assert not marker.exists()
    assert_dead(app.queue, forged, "unsigned payload")
    assert_dead(app.queue, stranger, "not signed by a known key")
    stored = record(app.queue, genuine.id).result
    assert stored is not None
    Signer([KEY]).verify(result_context(genuine.id, pid_task.name), stored)


# --- configuration --------------------------------------------------------------------------


def test_bad_keys_fail_at_construction_without_echoing_them(
    target: QueueTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValueError, match=r"^signing_key is 9 bytes long") as info:
        Queue(**target.kwargs, signing_key="short-key")
    assert "short-key" not in str(info.value)
    with pytest.raises(TypeError, match=r"^signing_key must be bytes, a str or a list"):
        Queue(**target.kwargs, signing_key=1234)  # type: ignore[arg-type]
    monkeypatch.setenv("TASKITO_SIGNING_KEY", "")
    with pytest.raises(ValueError, match=r"^TASKITO_SIGNING_KEY is set but empty"):
        Queue(**target.kwargs)


def test_the_worker_warns_once_at_start_when_no_key_is_set(
    target: QueueTarget, queues: list[Queue], caplog: pytest.LogCaptureFixture
) -> None:
    unsigned = open_queue(target, queues)
    signed = open_queue(target, queues, signing_key=KEY)
    caplog.set_level(logging.WARNING, logger="taskito")

    with worker_thread(signed):
        pass
    assert not [r for r in caplog.records if "signing_key" in r.getMessage()]
    with worker_thread(unsigned):
        pass

    warnings = [r for r in caplog.records if "signing_key" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert "can run code in this worker" in warnings[0].getMessage()
    assert "\n" not in warnings[0].getMessage()


def test_producers_can_sign_before_workers_verify(target: QueueTarget, queues: list[Queue]) -> None:
    """The migration path of docs/security.md: a keyless worker runs signed jobs (it trusts
    its store anyway), so producers get the key first and workers after the backlog drains."""
    producer = open_queue(target, queues, signing_key=KEY)
    add_task(producer)
    job = producer.enqueue("tests.add", (5, 6))
    keyless_worker = open_queue(target, queues)
    add_task(keyless_worker)

    with worker_thread(keyless_worker):
        wait_terminal(keyless_worker, job.id)

    assert record(keyless_worker, job.id).status is JobStatus.COMPLETE
    assert keyless_worker.get_job(job.id).result(timeout=5) == 11  # type: ignore[union-attr]
    # The keyless worker's result is unsigned: a producer with the key refuses it.
    with pytest.raises(SignatureError, match="unsigned result"):
        job.result(timeout=5)


def test_a_rewritten_schedule_row_never_reaches_a_worker(
    target: QueueTarget, queues: list[Queue], tmp_path: Path
) -> None:
    """Periodic jobs are built and signed by the firing worker from its own declaration: a
    schedule row rewritten in the store (another task, a pickle) changes nothing."""
    queue = open_queue(target, queues, signing_key=KEY)
    marker = tmp_path / "schedule-ran"
    add_task(queue)

    @queue.periodic(cron="* * * * * *", name="tests.tick", args=(7,))
    def tick(value: int) -> int:
        return value * 6

    with worker_thread(queue):
        wait_until(lambda: queue._storage.periodic_schedules(), 10, message="the schedule row")
        (stored,) = queue._storage.periodic_schedules()
        queue._storage.register_periodic(
            dataclasses.replace(stored, task_name="tests.add", payload=evil_pickle(marker))
        )
        rewritten_at = now_ms()
        wait_until(
            lambda: [
                job
                for job in queue._storage.list_jobs(JobFilter(status=JobStatus.COMPLETE), 50, 0)
                if job.created_at > rewritten_at
            ],
            10,
            message="a slot fired after the rewrite",
        )

    fired = queue._storage.list_jobs(JobFilter(), 50, 0)
    assert fired and not marker.exists()
    for job in fired:
        assert job.task_name == tick.name
        Signer([KEY]).verify(payload_context(job.id, tick.name), job.payload)
        assert job.status in (JobStatus.COMPLETE, JobStatus.PENDING, JobStatus.RUNNING)
    completed = [job for job in fired if job.status is JobStatus.COMPLETE]
    assert {queue.get_job(job.id).result(timeout=5) for job in completed} == {42}  # type: ignore[union-attr]


def test_signed_and_encrypted_json_jobs_run_and_a_moved_one_fails_its_signature_first(
    target: QueueTarget, queues: list[Queue]
) -> None:
    queue = open_queue(
        target,
        queues,
        signing_key=KEY,
        serializer=EncryptedSerializer(JsonSerializer(), [AES_KEY, bytes(32)]),
    )
    task = add_task(queue)
    kept = queue.enqueue(task, (1, 2), delay=3600)
    moved = forge(queue, task, record(queue, kept.id).payload)
    ran = queue.enqueue(task, (20, 22))

    with worker_thread(queue):
        assert ran.result(timeout=10) == 42
        wait_terminal(queue, moved)

    assert_dead(queue, moved, "not signed by a known key")
    stored = record(queue, ran.id).result
    assert stored is not None and b"42" not in stored
    inner = Signer([KEY]).verify(result_context(ran.id, task), stored, "result")
    assert (
        EncryptedSerializer(JsonSerializer(), AES_KEY).loads(
            inner, context=result_context(ran.id, task)
        )
        == 42
    )
