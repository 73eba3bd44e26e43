"""Contract: ``enqueue_coalescing`` (keyed batches: each job coalesces on its unique key, an
earlier job of the batch included), atomic under concurrent producers and processes."""

from __future__ import annotations

import json
import subprocess
import threading

import pytest

from taskito.job import JobStatus
from taskito.storage.base import JobFilter, Storage
from tests.storage.factories import Backend, claim_job, finish, make_job


def test_new_keys_are_all_inserted(storage: Storage) -> None:
    jobs = [make_job(unique_key=f"k{n}") for n in range(3)]
    outcomes = storage.enqueue_coalescing(jobs)
    assert [(record.id, inserted) for record, inserted in outcomes] == [
        (job.id, True) for job in jobs
    ]
    assert storage.count_jobs()[JobStatus.PENDING] == 3


def test_a_held_key_gives_its_holder_and_the_other_rows_are_inserted(storage: Storage) -> None:
    holder = storage.enqueue(make_job(unique_key="held"))
    fresh, duplicate, keyless = (
        make_job(unique_key="new"),
        make_job(unique_key="held"),
        make_job(),
    )
    outcomes = storage.enqueue_coalescing([fresh, duplicate, keyless])
    assert [(record.id, inserted) for record, inserted in outcomes] == [
        (fresh.id, True),
        (holder.id, False),
        (keyless.id, True),
    ]
    assert storage.get_job(duplicate.id) is None
    assert storage.count_jobs()[JobStatus.PENDING] == 3


def test_a_key_repeated_in_the_batch_coalesces_onto_its_first_row(storage: Storage) -> None:
    first, again = make_job(unique_key="twice"), make_job(unique_key="twice")
    outcomes = storage.enqueue_coalescing([first, again])
    assert [(record.id, inserted) for record, inserted in outcomes] == [
        (first.id, True),
        (first.id, False),
    ]
    assert storage.get_job(again.id) is None


def test_a_running_holder_still_holds_its_key(storage: Storage) -> None:
    holder = storage.enqueue(make_job(unique_key="busy"))
    claim_job(storage, holder.id)
    ((record, inserted),) = storage.enqueue_coalescing([make_job(unique_key="busy")])
    assert (record.id, record.status, inserted) == (holder.id, JobStatus.RUNNING, False)


def test_a_finished_holder_frees_its_key(storage: Storage) -> None:
    done = storage.enqueue(make_job(unique_key="done"))
    assert finish(storage, claim_job(storage, done.id), JobStatus.COMPLETE, result=b"r")
    again = make_job(unique_key="done")
    ((record, inserted),) = storage.enqueue_coalescing([again])
    assert (record.id, inserted) == (again.id, True)


def test_bad_batches_are_refused_and_store_nothing(storage: Storage) -> None:
    assert storage.enqueue_coalescing([]) == []
    parent = storage.enqueue(make_job())
    with pytest.raises(ValueError, match="no dependencies"):
        storage.enqueue_coalescing([make_job(unique_key="a"), make_job(depends_on=(parent.id,))])
    with pytest.raises(TypeError, match="NewJob"):
        storage.enqueue_coalescing([{"id": "x"}])  # type: ignore[list-item]
    assert [job.id for job in storage.list_jobs(JobFilter(), 10, 0)] == [parent.id]


def test_concurrent_producers_store_one_job_per_key(storage: Storage) -> None:
    producers, keys = 8, ["a", "b", "c"]
    barrier = threading.Barrier(producers)
    answers: list[list[str]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def produce() -> None:
        try:
            barrier.wait(timeout=10)
            outcomes = storage.enqueue_coalescing([make_job(unique_key=key) for key in keys])
            with lock:
                answers.append([record.id for record, _ in outcomes])
        except BaseException as exc:
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=produce) for _ in range(producers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert len(answers) == producers and all(answer == answers[0] for answer in answers)
    assert storage.count_jobs()[JobStatus.PENDING] == len(keys)


_COALESCE_KEYS = """
import json, sys
from taskito.ids import new_job_id
from taskito.job import NewJob, now_ms
print("ready", flush=True)
sys.stdin.readline()
now = now_ms()
jobs = [
    NewJob(id=new_job_id(), queue="default", task_name="t", payload=b"p", priority=0,
           created_at=now, scheduled_at=now, max_retries=0, timeout_ms=None, unique_key=key)
    for key in ("x", "y")
]
outcomes = storage.enqueue_coalescing(jobs)
print(json.dumps([record.id for record, _ in outcomes]))
"""


def test_producers_in_two_processes_store_one_job_per_key(backend: Backend) -> None:
    storage = backend.first()
    processes = [backend.start_process(_COALESCE_KEYS) for _ in range(2)]
    outputs = _released_together(processes)
    assert json.loads(outputs[0]) == json.loads(outputs[1])
    assert storage.count_jobs()[JobStatus.PENDING] == 2


def _released_together(processes: list[subprocess.Popen[str]]) -> list[str]:
    for process in processes:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        outputs.append(out.strip())
    return outputs
