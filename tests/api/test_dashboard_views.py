"""The façade views the dashboard reads through: ``cancel_outcome`` (what a cancel did),
``job_arguments`` (decoded by the queue's rules, a signed queue verifying first) and
``JobResult.to_dict(refresh=False)``."""

from __future__ import annotations

import pytest

from taskito import JsonSerializer, Queue, SerializationError, SignatureError
from taskito.job import JobStatus
from tests.api.driving import MakeQueue, claim, drive

KEY = "k" * 32
MISSING = "01900000-0000-7000-8000-000000000000"


def test_cancel_outcome_says_what_happened(queue: Queue) -> None:
    pending = queue.enqueue("t", args=(1,))
    running = queue.enqueue("t", args=(2,), queue="other")
    claim(queue, running.id)
    assert queue.cancel_outcome(pending.id) == "cancelled"
    assert queue.cancel_outcome(running.id, force=True) == "requested"
    assert queue.cancel_outcome(pending.id) == "finished"
    assert queue.cancel_outcome(MISSING) == "not_found"
    with pytest.raises(TypeError, match="force"):
        queue.cancel_outcome(pending.id, force=1)  # type: ignore[arg-type]


def test_job_arguments_are_decoded_with_the_task_serializer(make_queue: MakeQueue) -> None:
    queue = make_queue()

    @queue.task(name="as_json", serializer=JsonSerializer())
    def as_json(a: int, b: str = "x") -> None: ...

    plain = queue.enqueue("anything", args=(1, [2]), kwargs={"k": {"v": None}})
    assert queue.job_arguments(plain.id) == ((1, [2]), {"k": {"v": None}})
    job = as_json.delay(5, b="y")
    args, kwargs = queue.job_arguments(job.id)  # type: ignore[misc]
    assert list(args) == [5] and kwargs == {"b": "y"}
    assert queue.job_arguments(MISSING) is None


def test_a_signed_queue_verifies_arguments_and_results_first(make_queue: MakeQueue) -> None:
    signed = make_queue(signing_key=KEY)
    ok = signed.enqueue("t", args=(1, 2))
    assert signed.job_arguments(ok.id) == ((1, 2), {})
    # Written by someone without the key (anyone with write access to the store).
    unsigned = make_queue()
    forged = unsigned.enqueue("t", args=("rm -rf",))
    with pytest.raises(SignatureError, match=f"arguments of job {forged.id}"):
        signed.job_arguments(forged.id)
    drive(unsigned, forged.id, JobStatus.COMPLETE, result="forged")
    with pytest.raises(SignatureError):
        signed.get_job(forged.id).result(timeout=1)  # type: ignore[union-attr]


def test_an_undecodable_payload_is_a_serialization_error(make_queue: MakeQueue) -> None:
    producer = make_queue()
    job = producer.enqueue("t", args=(1,))  # cloudpickle bytes
    reader = make_queue(serializer=JsonSerializer())
    with pytest.raises(SerializationError, match="could not be deserialized"):
        reader.job_arguments(job.id)


def test_to_dict_without_refresh_keeps_the_snapshot(queue: Queue) -> None:
    job = queue.enqueue("t", args=(1,))
    queue.cancel(job.id)
    assert job.to_dict(refresh=False)["status"] == "pending"
    assert job.to_dict()["status"] == "cancelled"
