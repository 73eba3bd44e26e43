"""Operations on every backend (issue 6 point 9): archive/list_archived, replay/replay_history,
and the settings key/value store shared by every Queue on a database."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from taskito import EventType, Queue
from taskito.job import JobStatus, now_ms
from tests.api.backends.support import (
    Backend,
    record_of,
    worker_thread,
)
from tests.api.driving import drive
from tests.helpers import wait_until


def wait_past(timestamp_ms: int) -> None:
    """Let the clock pass ``timestamp_ms`` so that ``older_than=0`` covers it."""
    wait_until(lambda: now_ms() > timestamp_ms, message=f"the clock passed {timestamp_ms}")


# --- archive --------------------------------------------------------------------------------


def test_archive_moves_finished_jobs_out_of_the_jobs_table(queue: Queue) -> None:
    finished = {}
    for status in (JobStatus.COMPLETE, JobStatus.DEAD, JobStatus.CANCELLED):
        job = queue.enqueue("t", queue=f"q-{status.value}", metadata='{"k": 1}')
        drive(queue, job.id, status, result=None, error=None if status == "complete" else "x")
        finished[status.value] = job.id
    pending = queue.enqueue("t", queue="waiting")
    assert queue.archive() == 0  # nothing finished a day ago
    wait_past(max(record_of(queue, i).completed_at for i in finished.values()))

    assert queue.archive(older_than=0) == 3
    for job_id in finished.values():
        assert queue.get_job(job_id) is None
    assert queue.get_job(pending.id) is not None
    archived = queue.list_archived()
    assert {job.id for job in archived} == set(finished.values())
    by_id = {job.id: job for job in archived}
    for status_name, job_id in finished.items():
        view = by_id[job_id].to_dict()  # a handle on the archived row: no refresh needed
        assert (view["status"], view["metadata"], view["task_name"]) == (
            status_name,
            '{"k": 1}',
            "t",
        )
    completed_at = [job.to_dict()["completed_at"] for job in archived]
    assert completed_at == sorted(completed_at, reverse=True)
    assert queue.archive(older_than=0) == 0


def test_list_archived_pages(queue: Queue) -> None:
    ids = []
    for _ in range(3):
        job = queue.enqueue("t")
        drive(queue, job.id, JobStatus.COMPLETE)
        ids.append(job.id)
    wait_past(record_of(queue, ids[-1]).completed_at)
    assert queue.archive(older_than=0) == 3
    everything = [job.id for job in queue.list_archived()]
    assert [job.id for job in queue.list_archived(limit=2)] == everything[:2]
    assert [job.id for job in queue.list_archived(limit=2, offset=2)] == everything[2:]
    assert queue.list_archived(limit=0) == []


def test_archive_and_list_archived_check_their_arguments(queue: Queue) -> None:
    with pytest.raises(ValueError, match="older_than"):
        queue.archive(older_than=-1)
    with pytest.raises(TypeError, match="older_than"):
        queue.archive(older_than="1d")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="limit"):
        queue.list_archived(limit=-1)
    with pytest.raises(ValueError, match="offset"):
        queue.list_archived(offset=-5)


# --- replay ---------------------------------------------------------------------------------


def test_replay_enqueues_a_copy_under_a_new_id_and_records_it(queue: Queue) -> None:
    original = queue.enqueue(
        "add",
        args=(2, 3),
        queue="maths",
        priority=7,
        max_retries=5,
        timeout=12,
        metadata='{"source": "api"}',
    )
    drive(queue, original.id, JobStatus.DEAD, error="boom")

    replayed = queue.replay(original.id)
    assert replayed.id != original.id
    assert replayed.status == "pending"
    copy, source = record_of(queue, replayed.id), record_of(queue, original.id)
    for field in ("task_name", "payload", "queue", "priority", "max_retries", "timeout_ms"):
        assert getattr(copy, field) == getattr(source, field), field
    assert json.loads(copy.metadata) == {"source": "api", "replayed_from": original.id}
    assert source.status == JobStatus.DEAD  # the original is untouched

    [entry] = queue.replay_history(original.id)
    assert entry["original_job_id"] == original.id
    assert entry["replay_job_id"] == replayed.id
    assert entry["original_error"] == "boom"
    assert entry["replay_error"] is None
    assert abs(entry["replayed_at"] - now_ms()) < 60_000
    assert set(entry) == {
        "id",
        "original_job_id",
        "replay_job_id",
        "replayed_at",
        "original_error",
        "replay_error",
    }

    drive(queue, replayed.id, JobStatus.DEAD, error="boom again")
    assert queue.replay_history(original.id)[0]["replay_error"] == "boom again"
    assert queue.replay_history(replayed.id) == []


def test_replays_are_listed_oldest_first(queue: Queue) -> None:
    original = queue.enqueue("t")
    drive(queue, original.id, JobStatus.COMPLETE)
    first, second = queue.replay(original.id), queue.replay(original.id)
    history = queue.replay_history(original.id)
    assert [entry["replay_job_id"] for entry in history] == [first.id, second.id]


def test_replay_keeps_namespace_and_opaque_metadata(backend: Backend) -> None:
    queue = backend.queue(namespace="tenant")
    original = queue.enqueue("t", metadata="plain text", unique_key="only-one")
    replayed = queue.replay(original.id)  # the original still holds its unique key
    copy = record_of(queue, replayed.id)
    assert copy.namespace == "tenant"
    assert copy.unique_key is None
    assert json.loads(copy.metadata) == {
        "original_metadata": "plain text",
        "replayed_from": original.id,
    }


def test_a_replayed_job_runs_with_the_original_arguments(backend: Backend) -> None:
    queue = backend.queue(workers=2)
    enqueued: list[dict[str, Any]] = []
    queue.on_event(EventType.JOB_ENQUEUED, lambda kind, payload: enqueued.append(payload))

    @queue.task()
    def add(a: int, b: int) -> int:
        return a + b

    with worker_thread(queue):
        original = add.delay(20, 22)
        assert original.result(timeout=20) == 42
        assert queue.replay(original.id).result(timeout=20) == 42
    assert queue._event_bus.flush(5)
    assert len(enqueued) == 2


def test_replay_of_an_unknown_job_raises(queue: Queue) -> None:
    with pytest.raises(ValueError, match="Job not found: nope"):
        queue.replay("nope")
    assert queue.replay_history("nope") == []
    with pytest.raises(ValueError, match="job_id"):
        queue.replay("")


# --- settings -------------------------------------------------------------------------------


def test_settings_crud(queue: Queue) -> None:
    assert queue.get_setting("theme") is None
    assert queue.list_settings() == {}
    queue.set_setting("theme", "dark")
    queue.set_setting("limits", json.dumps({"max": 3}))
    assert queue.get_setting("theme") == "dark"
    queue.set_setting("theme", "light")
    assert queue.list_settings() == {"theme": "light", "limits": '{"max": 3}'}
    assert queue.delete_setting("theme") is True
    assert queue.delete_setting("theme") is False
    assert queue.get_setting("theme") is None
    queue.set_setting("empty", "")
    assert queue.get_setting("empty") == ""


def test_settings_are_shared_by_every_queue_on_the_database(backend: Backend) -> None:
    first, second = backend.queue(), backend.queue()
    first.set_setting("mode", "maintenance")
    assert second.get_setting("mode") == "maintenance"
    assert second.list_settings() == {"mode": "maintenance"}
    assert second.delete_setting("mode") is True
    assert first.get_setting("mode") is None


@pytest.mark.parametrize("value", [1, None, b"bytes", {"a": 1}])
def test_setting_values_must_be_strings(queue: Queue, value: object) -> None:
    with pytest.raises(TypeError, match="setting value must be a str"):
        queue.set_setting("key", value)  # type: ignore[arg-type]
    assert queue.get_setting("key") is None


def test_setting_keys_are_checked(queue: Queue) -> None:
    with pytest.raises(ValueError, match="key"):
        queue.set_setting("", "v")
    with pytest.raises(TypeError, match="key"):
        queue.get_setting(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="key"):
        queue.delete_setting("")


# --- async mirrors --------------------------------------------------------------------------


def test_async_mirrors_of_archive_and_replay(queue: Queue) -> None:
    job = queue.enqueue("t")
    drive(queue, job.id, JobStatus.COMPLETE)
    wait_past(record_of(queue, job.id).completed_at)

    async def scenario() -> tuple[str, list[dict[str, Any]], int, list[str]]:
        replayed = await queue.areplay(job.id)
        history = await queue.areplay_history(job.id)
        moved = await queue.aarchive(older_than=0)
        archived = [j.id for j in await queue.alist_archived()]
        return replayed.id, history, moved, archived

    replay_id, history, moved, archived = asyncio.run(scenario())
    assert [entry["replay_job_id"] for entry in history] == [replay_id]
    assert (moved, archived) == (1, [job.id])
