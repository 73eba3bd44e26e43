"""Contract: progress, task logs, job errors, dead letters (list, retry, purge)."""

from __future__ import annotations

import pytest

from taskito.ids import new_job_id
from taskito.job import JobRecord, JobStatus, now_ms
from taskito.storage.base import Storage
from tests.storage.factories import claim_job, finish, make_job, start_job, status_of


def _get(storage: Storage, job_id: str) -> JobRecord:
    record = storage.get_job(job_id)
    assert record is not None
    return record


def test_update_progress(storage: Storage) -> None:
    job = storage.enqueue(make_job())
    assert _get(storage, job.id).progress is None
    assert storage.update_progress(job.id, 0) is True
    assert _get(storage, job.id).progress == 0
    assert storage.update_progress(job.id, 100) is True
    assert _get(storage, job.id).progress == 100


def test_update_progress_of_an_unknown_job_is_false(storage: Storage) -> None:
    assert storage.update_progress("no-such-job", 50) is False


@pytest.mark.parametrize("progress", [-1, 101, 50.5, "50", True, None])
def test_update_progress_rejects_values_outside_0_to_100(
    storage: Storage, progress: object
) -> None:
    job = storage.enqueue(make_job())
    assert storage.update_progress(job.id, 40)
    with pytest.raises(ValueError, match="progress"):
        storage.update_progress(job.id, progress)  # type: ignore[arg-type]
    assert _get(storage, job.id).progress == 40


def test_task_logs_oldest_first(storage: Storage) -> None:
    job = storage.enqueue(make_job())
    other = storage.enqueue(make_job())
    base = now_ms()
    storage.add_log(job.id, "t", "info", "second", None, base + 10)
    storage.add_log(job.id, "t", "error", "first", '{"k": 1}', base)
    storage.add_log(other.id, "t", "info", "elsewhere", None, base)
    storage.add_log(job.id, "t", "info", "third", None, base + 10)
    logs = storage.task_logs(job.id)
    assert [entry.message for entry in logs] == ["first", "second", "third"]
    first = logs[0]
    assert (first.job_id, first.task_name, first.level, first.extra, first.logged_at) == (
        job.id,
        "t",
        "error",
        '{"k": 1}',
        base,
    )
    assert len({entry.id for entry in logs}) == 3
    assert storage.task_logs("no-such-job") == []


def test_query_logs_filters_and_is_newest_first(storage: Storage) -> None:
    base = now_ms()
    storage.add_log("j1", "alpha", "info", "a-old", None, base - 5_000)
    storage.add_log("j1", "alpha", "info", "a-info", None, base)
    storage.add_log("j2", "alpha", "error", "a-error", None, base + 1)
    storage.add_log("j3", "beta", "info", "b-info", None, base + 2)

    def messages(task_name: str | None, level: str | None, since: int, limit: int = 100) -> list:
        return [e.message for e in storage.query_logs(task_name, level, since, limit)]

    assert messages(None, None, base) == ["b-info", "a-error", "a-info"]
    assert messages(None, None, base - 5_000) == ["b-info", "a-error", "a-info", "a-old"]
    assert messages("alpha", None, base) == ["a-error", "a-info"]
    assert messages(None, "info", base) == ["b-info", "a-info"]
    assert messages("alpha", "error", 0) == ["a-error"]
    assert messages(None, None, base, limit=2) == ["b-info", "a-error"]
    assert messages("gamma", None, 0) == []
    with pytest.raises(ValueError, match="limit"):
        storage.query_logs(None, None, 0, -1)


def test_job_errors_are_ordered_by_attempt(storage: Storage) -> None:
    job = start_job(storage, max_retries=5)
    for text in ("one", "two", "three"):
        assert finish(storage, job, JobStatus.PENDING, error=text, retry_at=now_ms())
        job = claim_job(storage, job.id)
    errors = storage.job_errors(job.id)
    assert [(e.attempt, e.error) for e in errors] == [(0, "one"), (1, "two"), (2, "three")]
    assert all(e.job_id == job.id for e in errors)
    assert storage.job_errors("no-such-job") == []


def _dead_job(storage: Storage, error: str = "fatal", **overrides: object) -> JobRecord:
    job = start_job(storage, **overrides)
    assert finish(storage, job, JobStatus.DEAD, error=error)
    return job


def test_dead_letters_newest_first_with_paging(storage: Storage) -> None:
    jobs = [_dead_job(storage, error=f"e{i}") for i in range(5)]
    letters = storage.dead_letters(10, 0)
    assert [d.original_job_id for d in letters] == [j.id for j in reversed(jobs)]
    assert [d.error for d in letters] == ["e4", "e3", "e2", "e1", "e0"]
    assert len({d.id for d in letters}) == 5
    assert [d.original_job_id for d in storage.dead_letters(2, 1)] == [jobs[3].id, jobs[2].id]
    assert storage.dead_letters(10, 5) == []
    with pytest.raises(ValueError):
        storage.dead_letters(-1, 0)
    with pytest.raises(ValueError):
        storage.dead_letters(1, -1)


def test_retry_dead_enqueues_a_fresh_copy_and_drops_the_letter(storage: Storage) -> None:
    job = _dead_job(
        storage,
        priority=3,
        max_retries=4,
        timeout_ms=700,
        metadata='{"a": 1}',
        result_ttl_ms=9_000,
        namespace="ns",
    )
    (letter,) = storage.dead_letters(10, 0)
    new_id = new_job_id()
    now = now_ms()
    record = storage.retry_dead(letter.id, new_id, now)
    assert record is not None
    assert record == storage.get_job(new_id)
    assert (record.id, record.status, record.retry_count) == (new_id, JobStatus.PENDING, 0)
    assert (record.queue, record.task_name, record.payload) == (
        job.queue,
        job.task_name,
        job.payload,
    )
    assert (record.priority, record.max_retries, record.timeout_ms) == (3, 4, 700)
    assert (record.metadata, record.result_ttl_ms, record.namespace) == ('{"a": 1}', 9_000, "ns")
    assert (record.created_at, record.scheduled_at) == (now, now)
    assert storage.dead_letters(10, 0) == []
    assert status_of(storage, job.id) is JobStatus.DEAD
    assert [j.id for j in storage.claim("w", [job.queue], "ns", 10, now, 1_000)] == [new_id]


def test_dead_letter_reads_one_letter_by_id(storage: Storage) -> None:
    job = _dead_job(storage, error="boom", namespace="ns")
    (letter,) = storage.dead_letters(10, 0)
    assert storage.dead_letter(letter.id) == letter
    assert (letter.original_job_id, letter.payload, letter.error) == (job.id, job.payload, "boom")
    assert storage.dead_letter("no-such-letter") is None
    with pytest.raises(TypeError):
        storage.dead_letter(None)  # type: ignore[arg-type]


def test_retry_dead_with_a_payload_stores_it_in_place_of_the_letters(storage: Storage) -> None:
    job = _dead_job(storage)
    (letter,) = storage.dead_letters(10, 0)
    new_id = new_job_id()
    record = storage.retry_dead(letter.id, new_id, now_ms(), b"re-signed\x00\xff")
    assert record is not None and record.payload == b"re-signed\x00\xff"
    assert _get(storage, new_id).payload == b"re-signed\x00\xff"
    assert _get(storage, job.id).payload == job.payload  # the dead original is untouched
    assert storage.dead_letters(10, 0) == []


def test_retry_dead_payload_must_be_bytes(storage: Storage) -> None:
    _dead_job(storage)
    (letter,) = storage.dead_letters(10, 0)
    with pytest.raises(TypeError):
        storage.retry_dead(letter.id, new_job_id(), now_ms(), "text")  # type: ignore[arg-type]
    assert storage.dead_letters(10, 0) == [letter]
    record = storage.retry_dead(letter.id, new_job_id(), now_ms(), bytearray(b"copy"))
    assert record is not None and record.payload == b"copy"


def test_retry_dead_of_an_unknown_letter_is_none(storage: Storage) -> None:
    assert storage.retry_dead("no-such-letter", new_job_id(), now_ms()) is None
    assert sum(storage.count_jobs().values()) == 0


def test_retry_dead_twice_gives_none_the_second_time(storage: Storage) -> None:
    _dead_job(storage)
    (letter,) = storage.dead_letters(10, 0)
    assert storage.retry_dead(letter.id, new_job_id(), now_ms()) is not None
    assert storage.retry_dead(letter.id, new_job_id(), now_ms()) is None


def test_retry_dead_with_a_taken_job_id_keeps_the_letter(storage: Storage) -> None:
    job = _dead_job(storage)
    (letter,) = storage.dead_letters(10, 0)
    with pytest.raises(RuntimeError):
        storage.retry_dead(letter.id, job.id, now_ms())
    assert [d.id for d in storage.dead_letters(10, 0)] == [letter.id]


def test_purge_dead_deletes_letters_failed_before_the_cutoff(storage: Storage) -> None:
    _dead_job(storage)
    (letter,) = storage.dead_letters(10, 0)
    assert storage.purge_dead(letter.failed_at) == 0
    assert storage.purge_dead(letter.failed_at + 1) == 1
    assert storage.dead_letters(10, 0) == []
    assert storage.purge_dead(now_ms() + 1) == 0
