"""Contract: archive (archive_jobs, list_archived), replay (enqueue_replay, replay_history) and
result expiry (purge_expired_results)."""

from __future__ import annotations

from typing import Any

import pytest

from taskito.exceptions import DependencyError
from taskito.job import JobRecord, JobStatus, now_ms
from taskito.storage.base import Storage
from taskito.storage.control import ReplayEntry
from tests.storage.factories import (
    claim_all,
    finish_at,
    make_job,
    start_at,
    start_job,
    status_of,
)


def _get(storage: Storage, job_id: str) -> JobRecord:
    record = storage.get_job(job_id)
    assert record is not None
    return record


def _finished(storage: Storage, status: JobStatus, at: int, **overrides: Any) -> JobRecord:
    """A job that ran from ``at - 100`` and finished with ``status`` at ``at``."""
    job = start_at(storage, at - 100, **overrides)
    fields: dict[str, object] = {"result": b"r"} if status is JobStatus.COMPLETE else {}
    if status is not JobStatus.COMPLETE:
        fields["error"] = f"{status.value} error"
    finish_at(storage, job, status, at, **fields)
    return _get(storage, job.id)


# --- archive_jobs, list_archived ---------------------------------------------------------


def test_archive_moves_finished_jobs_older_than_the_cutoff(storage: Storage) -> None:
    t = now_ms() - 60_000
    old = [_finished(storage, status, t) for status in (JobStatus.COMPLETE, JobStatus.DEAD)]
    old.append(_finished(storage, JobStatus.FAILED, t + 1))
    old.append(_finished(storage, JobStatus.CANCELLED, t + 2))
    recent = _finished(storage, JobStatus.COMPLETE, t + 3)
    pending = storage.enqueue(make_job(queue="waiting"))
    running = start_job(storage)
    assert storage.archive_jobs(t + 3) == 4
    for record in old:
        assert storage.get_job(record.id) is None
    assert _get(storage, recent.id) == recent
    assert _get(storage, pending.id) == pending
    assert _get(storage, running.id) == running
    archived = storage.list_archived(10, 0)
    assert sorted(job.id for job in archived) == sorted(job.id for job in old)
    assert {job.id: job for job in archived} == {job.id: job for job in old}
    assert storage.count_jobs()[JobStatus.DEAD] == 0
    assert storage.archive_jobs(t + 3) == 0


def test_archive_of_nothing_is_zero(storage: Storage) -> None:
    storage.enqueue(make_job())
    assert storage.archive_jobs(now_ms() + 60_000) == 0
    assert storage.list_archived(10, 0) == []


def test_list_archived_is_newest_first_with_paging(storage: Storage) -> None:
    t = now_ms() - 60_000
    first = _finished(storage, JobStatus.COMPLETE, t)
    tie_a = _finished(storage, JobStatus.COMPLETE, t + 10)
    tie_b = _finished(storage, JobStatus.DEAD, t + 10)
    last = _finished(storage, JobStatus.CANCELLED, t + 20)
    assert storage.archive_jobs(t + 21) == 4
    ties = sorted([tie_a, tie_b], key=lambda job: job.id, reverse=True)
    expected = [last.id, *(job.id for job in ties), first.id]
    assert [job.id for job in storage.list_archived(10, 0)] == expected
    assert [job.id for job in storage.list_archived(2, 1)] == expected[1:3]
    assert storage.list_archived(10, 4) == []
    assert storage.list_archived(0, 0) == []


@pytest.mark.parametrize(("limit", "offset"), [(-1, 0), (1, -1)])
def test_list_archived_rejects_a_bad_page(storage: Storage, limit: int, offset: int) -> None:
    with pytest.raises(ValueError):
        storage.list_archived(limit, offset)


def test_archived_errors_and_logs_go_like_a_purge(storage: Storage) -> None:
    t = now_ms() - 60_000
    job = start_at(storage, t, max_retries=0)
    storage.add_log(job.id, job.task_name, "info", "working", None, t + 1)
    finish_at(storage, job, JobStatus.DEAD, t + 2, error="boom")
    assert storage.archive_jobs(t + 3) == 1
    assert storage.job_errors(job.id) == []
    assert storage.task_logs(job.id) == []


def test_a_pending_job_of_an_archived_parent_can_still_run(storage: Storage) -> None:
    t = now_ms() - 60_000
    parent = start_at(storage, t, queue="family")
    child = storage.enqueue(make_job(queue="family", depends_on=(parent.id,)))
    finish_at(storage, parent, JobStatus.COMPLETE, t + 1)
    assert storage.archive_jobs(t + 2) == 1
    assert storage.get_job(parent.id) is None
    assert [job.id for job in claim_all(storage)] == [child.id]


# --- enqueue_replay, replay_history ------------------------------------------------------


def test_replay_enqueues_a_copy_and_records_the_original_error(storage: Storage) -> None:
    t = now_ms() - 60_000
    original = _finished(storage, JobStatus.DEAD, t)
    copy = make_job(queue=original.queue, task_name=original.task_name, payload=original.payload)
    record = storage.enqueue_replay(copy, original.id, t + 5)
    assert record.id == copy.id and record.status is JobStatus.PENDING
    assert storage.get_job(copy.id) == record
    (entry,) = storage.replay_history(original.id)
    assert entry == ReplayEntry(
        id=entry.id,
        original_job_id=original.id,
        replay_job_id=copy.id,
        replayed_at=t + 5,
        original_error="dead error",
        replay_error=None,
    )
    assert storage.replay_history(copy.id) == []
    assert status_of(storage, original.id) is JobStatus.DEAD


def test_replay_history_is_oldest_first_with_the_replay_errors(storage: Storage) -> None:
    t = now_ms() - 60_000
    original = _finished(storage, JobStatus.COMPLETE, t)
    first = storage.enqueue_replay(make_job(queue="replays"), original.id, t + 10)
    second = storage.enqueue_replay(make_job(queue="other-replays"), original.id, t + 20)
    (running,) = storage.claim("w", ["replays"], None, 1, now_ms(), 30_000)
    finish_at(storage, running, JobStatus.DEAD, now_ms(), error="failed again")
    history = storage.replay_history(original.id)
    assert [entry.replay_job_id for entry in history] == [first.id, second.id]
    assert [entry.replayed_at for entry in history] == [t + 10, t + 20]
    assert [entry.original_error for entry in history] == [None, None]
    assert [entry.replay_error for entry in history] == ["failed again", None]
    assert history[0].id != history[1].id


def test_replay_history_of_an_unknown_job_is_empty(storage: Storage) -> None:
    assert storage.replay_history("no-such-job") == []


def test_a_failed_replay_enqueue_records_no_history(storage: Storage) -> None:
    original = _finished(storage, JobStatus.DEAD, now_ms() - 1_000)
    orphan = make_job(depends_on=("no-such-parent",))
    with pytest.raises(DependencyError):
        storage.enqueue_replay(orphan, original.id, now_ms())
    assert storage.get_job(orphan.id) is None
    assert storage.replay_history(original.id) == []


def test_enqueue_replay_rejects_what_is_not_a_new_job(storage: Storage) -> None:
    original = _finished(storage, JobStatus.DEAD, now_ms() - 1_000)
    with pytest.raises(TypeError):
        storage.enqueue_replay({"id": "x"}, original.id, now_ms())  # type: ignore[arg-type]
    assert storage.replay_history(original.id) == []


# --- purge_expired_results ---------------------------------------------------------------


def test_purge_expired_results_respects_the_result_ttl(storage: Storage) -> None:
    t = now_ms() - 60_000
    short = _finished(storage, JobStatus.COMPLETE, t, result_ttl_ms=1_000)
    storage.add_log(short.id, short.task_name, "info", "kept until purged", None, t)
    long = _finished(storage, JobStatus.COMPLETE, t, result_ttl_ms=5_000)
    forever = _finished(storage, JobStatus.COMPLETE, t)
    dead = _finished(storage, JobStatus.DEAD, t, result_ttl_ms=1_000)
    pending = storage.enqueue(make_job(queue="waiting", result_ttl_ms=1))
    running = start_at(storage, t, result_ttl_ms=1)
    assert storage.purge_expired_results(t + 999) == 0
    assert storage.purge_expired_results(t + 1_000) == 2
    assert storage.get_job(short.id) is None and storage.get_job(dead.id) is None
    assert storage.task_logs(short.id) == [] and storage.job_errors(dead.id) == []
    assert _get(storage, long.id) == long
    assert _get(storage, forever.id) == forever
    assert _get(storage, pending.id) == pending
    assert _get(storage, running.id) == running
    assert storage.purge_expired_results(t + 5_000) == 1
    assert storage.get_job(long.id) is None
    assert storage.purge_expired_results(t + 10**9) == 0
    assert storage.get_job(forever.id) is not None


def test_a_pending_child_of_a_purged_result_can_still_run(storage: Storage) -> None:
    t = now_ms() - 60_000
    parent = start_at(storage, t, queue="family", result_ttl_ms=1_000)
    child = storage.enqueue(make_job(queue="family", depends_on=(parent.id,)))
    finish_at(storage, parent, JobStatus.COMPLETE, t + 1)
    assert storage.purge_expired_results(t + 1_001) == 1
    assert [job.id for job in claim_all(storage)] == [child.id]
