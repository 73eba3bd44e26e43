"""Contract: the operator's storage methods (requeue, dead-letter management, keyset pages,
retention counts and purges), on every backend."""

from __future__ import annotations

import pytest

from taskito.ids import new_job_id
from taskito.job import JobRecord, JobStatus, now_ms
from taskito.storage.base import JobFilter, Storage
from taskito.storage.operations import HistoryKind
from tests.storage.factories import finish, finish_at, make_job, start_at, start_job, status_of


def _get(storage: Storage, job_id: str) -> JobRecord:
    record = storage.get_job(job_id)
    assert record is not None
    return record


def _dead(storage: Storage, at: int, **overrides: object) -> str:
    """A job dead-lettered at ``at``; returns its dead letter's id."""
    job = start_at(storage, at, **overrides)
    finish_at(storage, job, JobStatus.DEAD, at, error="boom")
    (letter,) = [d for d in storage.dead_letters(1000, 0) if d.original_job_id == job.id]
    return letter.id


# --- requeue ----------------------------------------------------------------------------


def test_requeue_fences_the_old_attempt(storage: Storage) -> None:
    job = start_job(storage, "hung-worker", max_retries=3)
    assert storage.requeue_job(job.id, None, now_ms()) is True
    requeued = _get(storage, job.id)
    assert requeued.status is JobStatus.PENDING
    assert (requeued.worker_id, requeued.started_at, requeued.error) == (None, None, None)
    assert (requeued.retry_count, requeued.rescue_count) == (job.retry_count, 0)
    errors = storage.job_errors(job.id)
    assert [e.error for e in errors] == ["requeued by an operator (worker hung-worker)"]
    # The old attempt's late outcome is refused, now and after another worker claims it.
    assert finish(storage, job, JobStatus.COMPLETE, result=b"late") is False
    (again,) = [j for j in storage.claim("w2", [job.queue], None, 10, now_ms(), 30_000)]
    assert again.attempt == job.attempt + 1
    assert finish(storage, job, JobStatus.COMPLETE, result=b"late") is False
    assert finish(storage, again, JobStatus.COMPLETE, result=b"second") is True
    assert _get(storage, job.id).result == b"second"


def test_requeue_is_false_for_unknown_pending_or_another_namespace(storage: Storage) -> None:
    pending = storage.enqueue(make_job())
    other = start_job(storage, namespace="tenant-a")
    assert storage.requeue_job("no-such-job", None, now_ms()) is False
    assert storage.requeue_job(pending.id, None, now_ms()) is False
    assert storage.requeue_job(other.id, "tenant-b", now_ms()) is False
    assert storage.requeue_job(other.id, None, now_ms()) is False
    assert status_of(storage, other.id) is JobStatus.RUNNING
    assert storage.requeue_job(other.id, "tenant-a", now_ms()) is True


@pytest.mark.parametrize(("job_id", "error"), [("", ValueError), (7, TypeError)])
def test_requeue_refuses_a_bad_id(storage: Storage, job_id: object, error: type) -> None:
    with pytest.raises(error, match="job_id"):
        storage.requeue_job(job_id, None, now_ms())  # type: ignore[arg-type]


# --- dead letters -----------------------------------------------------------------------


def test_delete_dead_is_scoped_by_namespace(storage: Storage) -> None:
    base = now_ms()
    mine = _dead(storage, base, namespace="a")
    assert storage.delete_dead(mine, "b") is False
    assert storage.delete_dead(mine, None) is False
    assert storage.delete_dead("no-such-letter", "a") is False
    assert storage.delete_dead(mine, "a") is True
    assert storage.dead_letter(mine) is None
    assert storage.delete_dead(mine, "a") is False


def test_dead_letter_pages_walk_every_row_once_by_failed_at_then_id(storage: Storage) -> None:
    base = now_ms()
    ids = [_dead(storage, base + (i // 3), task_name="t" if i % 2 else "u") for i in range(8)]
    _dead(storage, base, namespace="elsewhere")
    expected = sorted(
        ((d.failed_at, d.id) for d in map(storage.dead_letter, ids) if d is not None),
        reverse=True,
    )
    seen: list[tuple[int, str]] = []
    after = None
    while True:
        page = storage.dead_letters_after(3, after, None, None)
        seen += [(d.failed_at, d.id) for d in page]
        if len(page) < 3:
            break
        after = (page[-1].failed_at, page[-1].id)
    assert seen == expected
    only_t = storage.dead_letters_after(100, None, "t", None)
    assert {d.task_name for d in only_t} == {"t"} and len(only_t) == 4
    assert storage.dead_letters_after(0, None, None, None) == []


def test_purge_dead_by_task_keeps_other_tasks_and_namespaces(storage: Storage) -> None:
    base = now_ms()
    for _ in range(3):
        _dead(storage, base, task_name="poison")
    keep = [
        _dead(storage, base, task_name="fine"),
        _dead(storage, base, task_name="poison", namespace="n"),
    ]
    assert storage.purge_dead_by_task("poison", None) == 3
    assert storage.purge_dead_by_task("poison", None) == 0
    assert all(storage.dead_letter(dead_id) is not None for dead_id in keep)


def test_auto_retry_counts_in_its_own_field_and_carries_to_the_next_letter(
    storage: Storage,
) -> None:
    base = now_ms() - 10_000
    dead_id = _dead(storage, base, metadata='{"user": 1}', queue="dq")
    (due,) = storage.dead_letters_due(None, ["dq"], base + 1, 2, 50)
    assert (due.id, due.dlq_retry_count) == (dead_id, 0)
    assert storage.dead_letters_due(None, ["other"], base + 1, 2, 50) == []
    assert storage.dead_letters_due(None, None, base, 2, 50) == []  # not old enough
    assert storage.dead_letters_due("ns", None, base + 1, 2, 50) == []
    job = storage.retry_dead(dead_id, new_job_id(), base + 5, automatic=True)
    assert job is not None and job.metadata == '{"user": 1}'
    running = _claim(storage, job.id)
    finish_at(storage, running, JobStatus.DEAD, base + 6, error="again")
    (letter,) = [d for d in storage.dead_letters(10, 0) if d.original_job_id == job.id]
    assert (letter.dlq_retry_count, letter.metadata) == (1, '{"user": 1}')
    assert storage.dead_letters_due(None, None, base + 7, 1, 50) == []
    # A manual retry keeps the count: it does not spend the automatic allowance.
    manual = storage.retry_dead(letter.id, new_job_id(), base + 8)
    assert manual is not None
    finish_at(storage, _claim(storage, manual.id), JobStatus.DEAD, base + 9, error="x")
    (last,) = [d for d in storage.dead_letters(10, 0) if d.original_job_id == manual.id]
    assert last.dlq_retry_count == 1


def _claim(storage: Storage, job_id: str) -> JobRecord:
    job = _get(storage, job_id)
    claimed = storage.claim("w", [job.queue], job.namespace, 10, now_ms(), 30_000)
    (mine,) = [c for c in claimed if c.id == job_id]
    return mine


@pytest.mark.parametrize("after", [(1, ""), ("1", "x"), (1.5, "x"), [1, "x"], (True, "x"), "1:x"])
def test_a_bad_cursor_is_refused(storage: Storage, after: object) -> None:
    with pytest.raises(ValueError, match="invalid cursor"):
        storage.dead_letters_after(10, after, None, None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="invalid cursor"):
        storage.list_jobs_after(JobFilter(), 10, after)  # type: ignore[arg-type]


# --- keyset pages over jobs and logs ----------------------------------------------------


def test_job_pages_walk_ties_by_id_and_stay_stable_under_inserts(storage: Storage) -> None:
    base = now_ms()
    for i in range(7):
        storage.enqueue(make_job(created_at=base + i // 3, task_name="k"))
    expected = [(j.created_at, j.id) for j in storage.list_jobs(JobFilter(), 100, 0)]
    first = storage.list_jobs_after(JobFilter(task_name="k"), 3, None)
    storage.enqueue(make_job(created_at=base + 10, task_name="k"))  # newer: not in later pages
    seen = [(j.created_at, j.id) for j in first]
    after = seen[-1]
    while page := storage.list_jobs_after(JobFilter(task_name="k"), 3, after):
        seen += [(j.created_at, j.id) for j in page]
        after = seen[-1]
    assert seen == expected


def test_log_pages_newest_first(storage: Storage) -> None:
    job = storage.enqueue(make_job())
    base = now_ms()
    for i in range(5):
        storage.add_log(job.id, "lt", "info", f"m{i}", None, base + i // 2)
    storage.add_log(job.id, "other", "info", "x", None, base)
    seen: list[str] = []
    after = None
    while page := storage.query_logs_after("lt", None, 2, after):
        seen += [entry.message for entry in page]
        after = (page[-1].logged_at, str(page[-1].id))
    assert seen == ["m4", "m3", "m2", "m1", "m0"]
    with pytest.raises(ValueError, match="invalid cursor"):
        storage.query_logs_after(None, None, 2, (base, "abc"))


# --- retention --------------------------------------------------------------------------


def test_history_counts_and_purges_each_kind_on_its_own(storage: Storage) -> None:
    base = now_ms() - 100_000
    done = start_at(storage, base)
    finish_at(storage, done, JobStatus.COMPLETE, base + 1)
    recent = start_at(storage, base)
    finish_at(storage, recent, JobStatus.COMPLETE, base + 50)
    storage.add_log(done.id, "t", "info", "old", None, base + 1)
    _dead(storage, base + 2)
    cutoff = base + 10
    counts = {kind: storage.count_history(kind, cutoff) for kind in HistoryKind}
    assert counts[HistoryKind.COMPLETED_JOBS] == 1
    assert counts[HistoryKind.TASK_LOGS] == 1
    assert counts[HistoryKind.DEAD_LETTERS] == 1
    assert counts[HistoryKind.JOB_ERRORS] >= 1
    assert storage.purge_history(HistoryKind.COMPLETED_JOBS, cutoff, 10) == 1
    assert storage.get_job(done.id) is None and storage.get_job(recent.id) is not None
    # The purged job's log line ages on its own window.
    assert storage.count_history(HistoryKind.TASK_LOGS, cutoff) == 1
    for kind in HistoryKind:
        while storage.purge_history(kind, cutoff, 1):
            pass
        assert storage.count_history(kind, cutoff) == 0


def test_history_refuses_an_unknown_kind_or_a_bad_limit(storage: Storage) -> None:
    with pytest.raises(ValueError, match="unknown kind of history"):
        storage.count_history("jobs", 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="limit"):
        storage.purge_history(HistoryKind.TASK_LOGS, 1, 0)


def test_archived_pages_walk_ties_by_id(storage: Storage) -> None:
    base = now_ms() - 10_000
    for i in range(5):
        job = start_at(storage, base)
        finish_at(storage, job, JobStatus.COMPLETE, base + i // 2)
    assert storage.archive_jobs(base + 100) == 5
    expected = [(j.completed_at, j.id) for j in storage.list_archived(100, 0)]
    seen: list[tuple[int, str]] = []
    after = None
    while page := storage.list_archived_after(2, after):
        seen += [(j.completed_at or 0, j.id) for j in page]
        after = seen[-1]
    assert seen == expected and len(seen) == 5
    assert storage.list_archived_after(0, None) == []
    with pytest.raises(ValueError, match="invalid cursor"):
        storage.list_archived_after(2, (1, ""))
