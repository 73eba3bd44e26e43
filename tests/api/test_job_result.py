"""``JobResult``: the snapshot, live reads, ``result()``/``aresult()`` on every terminal status,
the timeout contract (``_poll_once`` once more after the deadline), waking on storage changes,
``stream()``, ``to_dict()`` and ``repr``."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any
from unittest import mock

import pytest

from taskito import (
    JobResult,
    MaxRetriesExceededError,
    Queue,
    SerializationError,
    TaskCancelledError,
    TaskFailedError,
)
from taskito.job import JobStatus, now_ms
from tests.api.driving import MakeQueue, claim, drive, finish
from tests.helpers import wait_until

DICT_KEYS = {
    "id",
    "queue",
    "task_name",
    "status",
    "priority",
    "progress",
    "retry_count",
    "max_retries",
    "created_at",
    "scheduled_at",
    "started_at",
    "completed_at",
    "error",
    "timeout_ms",
    "unique_key",
    "metadata",
    "namespace",
}


def test_status_is_a_snapshot_until_refresh(queue: Queue) -> None:
    job = queue.enqueue("t")
    claim(queue, job.id)
    assert job.status == "pending"
    job.refresh()
    assert job.status == "running"


def test_refresh_keeps_the_snapshot_when_the_row_is_gone(queue: Queue) -> None:
    job = queue.enqueue("t")
    drive(queue, job.id, JobStatus.COMPLETE, result=1)
    job.refresh()
    assert job.status == "complete"
    # Completed in this very millisecond is not yet "older than 0 s".
    wait_until(lambda: queue.purge_completed(older_than=0) == 1)
    assert queue.get_job(job.id) is None
    job.refresh()
    assert job.status == "complete"


def test_progress_is_read_on_refresh(queue: Queue) -> None:
    job = queue.enqueue("t")
    queue.update_progress(job.id, 40)
    assert job.progress is None
    job.refresh()
    assert job.progress == 40


def test_result_returns_the_decoded_value(queue: Queue) -> None:
    job = queue.enqueue("t")
    drive(queue, job.id, JobStatus.COMPLETE, result={"answer": [4, 2]})
    assert job.result(timeout=1) == {"answer": [4, 2]}
    assert job.status == "complete"


def test_result_of_a_task_that_returned_none_is_none(queue: Queue) -> None:
    job = queue.enqueue("t")
    drive(queue, job.id, JobStatus.COMPLETE, result=None)
    assert job.result(timeout=1) is None


def test_result_of_a_cancelled_running_job(queue: Queue) -> None:
    job = queue.enqueue("t")
    drive(queue, job.id, JobStatus.CANCELLED, error="cancelled by request")
    with pytest.raises(TaskCancelledError, match=f"^Job {job.id} cancelled: cancelled by request$"):
        job.result(timeout=1)


def test_result_of_a_job_cancelled_while_pending(queue: Queue) -> None:
    job = queue.enqueue("t")
    assert queue.cancel_job(job.id)
    with pytest.raises(TaskCancelledError, match=f"^Job {job.id} cancelled: job was cancelled$"):
        job.result(timeout=1)


def test_result_of_a_dead_job(queue: Queue) -> None:
    job = queue.enqueue("t")
    drive(queue, job.id, JobStatus.DEAD, error="Traceback: boom")
    with pytest.raises(MaxRetriesExceededError, match=f"^Job {job.id} dead-lettered: Traceback"):
        job.result(timeout=1)


def test_result_of_a_failed_job(queue: Queue) -> None:
    job = queue.enqueue("t")
    drive(queue, job.id, JobStatus.FAILED, error="boom")
    with pytest.raises(TaskFailedError, match=f"^Job {job.id} failed: boom$") as caught:
        job.result(timeout=1)
    assert not isinstance(caught.value, MaxRetriesExceededError)


def test_an_undecodable_result_is_a_serialization_error(queue: Queue) -> None:
    job = queue.enqueue("t")
    record = claim(queue, job.id)
    finish(queue, record, JobStatus.COMPLETE, result=b"\x00 not a pickle")
    with pytest.raises(SerializationError, match=job.id):
        job.result(timeout=1)


@pytest.mark.parametrize("timeout", [0, -1, float("nan")])
def test_timeout_must_be_positive(queue: Queue, timeout: float) -> None:
    job = queue.enqueue("t")
    with pytest.raises(ValueError, match=r"^timeout must be positive$"):
        job.result(timeout=timeout)


def test_timeout_names_the_current_status(queue: Queue) -> None:
    job = queue.enqueue("t")
    with pytest.raises(TimeoutError, match=r"did not complete within 0.05s \(current status: pend"):
        job.result(timeout=0.05)


def test_poll_once_runs_once_more_after_the_deadline(queue: Queue) -> None:
    job = queue.enqueue("t")
    with (
        mock.patch.object(JobResult, "_poll_once", return_value=("pending", None)) as poll,
        pytest.raises(TimeoutError),
    ):
        job.result(timeout=0.01, poll_interval=0.05)
    assert poll.call_count == 2


def test_a_job_finishing_at_the_deadline_is_still_returned(queue: Queue) -> None:
    job = queue.enqueue("t")
    answers = iter([("pending", None), ("complete", "late")])
    with mock.patch.object(JobResult, "_poll_once", side_effect=lambda: next(answers)):
        assert job.result(timeout=0.01, poll_interval=0.05) == "late"


def _finish_later(queue: Queue, job_id: str, delay_s: float) -> threading.Thread:
    record = claim(queue, job_id)

    def complete() -> None:
        time.sleep(delay_s)  # the point of the test: the result arrives while result() waits
        finish(queue, record, JobStatus.COMPLETE, result=queue._serializer.dumps("done"))

    thread = threading.Thread(target=complete, name="finisher")
    thread.start()
    return thread


def test_result_wakes_on_a_change_instead_of_sleeping_the_interval(queue: Queue) -> None:
    job = queue.enqueue("t")
    thread = _finish_later(queue, job.id, 0.05)
    started = time.monotonic()
    try:
        assert job.result(timeout=10, poll_interval=3.0, max_poll_interval=3.0) == "done"
    finally:
        thread.join()
    assert time.monotonic() - started < 1.5


def test_result_sees_a_change_made_by_another_queue_on_the_same_file(
    make_queue: MakeQueue,
) -> None:
    producer, other = make_queue(), make_queue()
    job = producer.enqueue("t")
    thread = _finish_later(other, job.id, 0.05)
    try:
        assert job.result(timeout=10) == "done"
    finally:
        thread.join()


def test_aresult_returns_and_raises_like_result(queue: Queue) -> None:
    done, dead = queue.enqueue("t"), queue.enqueue("t")
    drive(queue, done.id, JobStatus.COMPLETE, result=7)
    drive(queue, dead.id, JobStatus.DEAD, error="boom")
    assert asyncio.run(done.aresult(timeout=1)) == 7
    with pytest.raises(MaxRetriesExceededError):
        asyncio.run(dead.aresult(timeout=1))
    pending = queue.enqueue("t")
    with pytest.raises(TimeoutError):
        asyncio.run(pending.aresult(timeout=0.05))
    with pytest.raises(ValueError, match="timeout must be positive"):
        asyncio.run(pending.aresult(timeout=0))


def test_errors_lists_each_failed_attempt(queue: Queue) -> None:
    job = queue.enqueue("t")
    finish(queue, claim(queue, job.id), JobStatus.PENDING, error="first", retry_at=now_ms())
    finish(queue, claim(queue, job.id), JobStatus.DEAD, error="second")
    errors = job.errors
    assert [set(e) for e in errors] == [{"id", "job_id", "attempt", "error", "failed_at"}] * 2
    assert [(e["job_id"], e["attempt"], e["error"]) for e in errors] == [
        (job.id, 0, "first"),
        (job.id, 1, "second"),
    ]
    assert all(isinstance(e["failed_at"], int) for e in errors)


def test_to_dict_has_exactly_the_reference_keys_and_is_json(queue: Queue) -> None:
    job = queue.enqueue("t", metadata='{"m": 1}', unique_key="u")
    claim(queue, job.id)
    data = job.to_dict()
    assert set(data) == DICT_KEYS
    assert data["status"] == "running"  # to_dict refreshes first
    assert job.status == "running"
    for key in ("created_at", "scheduled_at", "started_at"):
        assert isinstance(data[key], int)
    assert data["completed_at"] is None
    assert json.loads(json.dumps(data)) == data
    assert (data["metadata"], data["unique_key"], data["task_name"]) == ('{"m": 1}', "u", "t")


def test_repr_names_id_and_status(queue: Queue) -> None:
    job = queue.enqueue("t")
    assert repr(job) == f"<JobResult id={job.id} status=pending>"


def _publish(queue: Queue, job_id: str, value: Any) -> None:
    queue._storage.add_log(job_id, "t", "result", "", json.dumps(value), now_ms())


def test_stream_yields_published_results_until_the_job_ends(queue: Queue) -> None:
    job = queue.enqueue("t")
    record = claim(queue, job.id)
    _publish(queue, job.id, {"step": 1})
    queue._storage.add_log(job.id, "t", "info", "not a result", None, now_ms())
    _publish(queue, job.id, "two")
    stream = job.stream(timeout=10, poll_interval=0.01)
    assert next(stream) == {"step": 1}
    assert next(stream) == "two"
    _publish(queue, job.id, [3])
    finish(queue, record, JobStatus.COMPLETE)
    assert list(stream) == [[3]]


def test_stream_gives_up_after_its_timeout(queue: Queue) -> None:
    job = queue.enqueue("t")
    with pytest.raises(TimeoutError):
        list(job.stream(timeout=0.05, poll_interval=0.01))


def test_astream_yields_the_same_values(queue: Queue) -> None:
    job = queue.enqueue("t")
    record = claim(queue, job.id)
    _publish(queue, job.id, 1)
    _publish(queue, job.id, 2)
    finish(queue, record, JobStatus.COMPLETE)

    async def collect() -> list[Any]:
        return [value async for value in job.astream(timeout=5, poll_interval=0.01)]

    assert asyncio.run(collect()) == [1, 2]
