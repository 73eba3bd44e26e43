"""The operator's tools on every backend: requeue of a job stuck on a hung worker (a real
worker, a real blocked task), dead-letter management, keyset pages and retention."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from taskito import Queue, current_job
from taskito.job import JobStatus
from taskito.retention import Retention
from tests.api.backends.support import Backend, record_of, worker_thread
from tests.api.driving import drive
from tests.helpers import wait_until


def test_requeue_rescues_a_job_from_a_hung_worker(backend: Backend) -> None:
    hung, release = threading.Event(), threading.Event()
    first = backend.queue(workers=1)
    second = backend.queue(workers=1)

    @first.task(name="stuck")
    def stuck_first() -> str:
        hung.set()
        release.wait(20)
        return "first"

    @second.task(name="stuck")
    def stuck_second() -> str:
        return "second"

    try:
        with worker_thread(first):
            job = first.enqueue("stuck")
            assert hung.wait(10)
            assert first.requeue_job(job.id) is True
            assert first.requeue_job(job.id) is False  # pending now: nothing to requeue
            with worker_thread(second):
                wait_until(lambda: record_of(first, job.id).status is JobStatus.COMPLETE)
            # The hung attempt ends now; leaving the block drains its worker, which tries to
            # write the late "first": the fence refuses it.
            release.set()
    finally:
        release.set()
    assert job.result(timeout=5) == "second"
    errors = first._storage.job_errors(job.id)
    assert [e.error.startswith("requeued by an operator") for e in errors] == [True]


def test_the_same_worker_runs_the_new_attempt_after_stopping_the_old(backend: Backend) -> None:
    queue = backend.queue(workers=2)
    started = threading.Event()
    attempts: list[int] = []

    @queue.task(name="loop")
    def loop() -> int:
        attempts.append(current_job.retry_count)
        started.set()
        while len(attempts) == 1:
            current_job.check_cancelled()  # the old attempt is asked to stop
            time.sleep(0.005)
        return len(attempts)

    with worker_thread(queue):
        job = queue.enqueue("loop")
        assert started.wait(10)
        assert queue.requeue_job(job.id) is True
        assert job.result(timeout=20) == 2
    record = record_of(queue, job.id)
    assert (record.status, record.retry_count) == (JobStatus.COMPLETE, 0)


def test_requeue_is_scoped_by_namespace(backend: Backend) -> None:
    mine = backend.queue(namespace="a")
    other = backend.queue(namespace="b")
    job = mine.enqueue("t")
    mine._storage.claim("w", None, "a", 10, record_of(mine, job.id).scheduled_at, 60_000)
    assert other.requeue_job(job.id) is False
    assert record_of(mine, job.id).status is JobStatus.RUNNING
    assert mine.requeue_job(job.id) is True
    with pytest.raises(ValueError, match="job_id"):
        mine.requeue_job("")


def _dead(queue: Queue, task_name: str) -> str:
    job = queue.enqueue(task_name, (1,))
    drive(queue, job.id, JobStatus.DEAD, error=f"{task_name} failed")
    return job.id


def test_dead_letter_management(backend: Backend) -> None:
    queue = backend.queue(namespace="ops")
    for name in ("poison", "poison", "poison", "fine"):
        _dead(queue, name)
    pages, after = [], None
    while True:
        page = queue.dead_letters_after(limit=2, after=after)
        pages.append([d["task_name"] for d in page])
        if page.next_cursor is None:
            break
        after = page.next_cursor
    assert sum(len(p) for p in pages) == 4
    by_task = queue.dead_letters_by_task("poison", limit=10)
    assert len(by_task) == 3 and by_task.next_cursor is None
    assert {d["dlq_retry_count"] for d in by_task} == {0}
    fine = queue.dead_letters_by_task("fine")
    assert queue.delete_dead(fine.items[0]["id"]) is True
    assert queue.delete_dead(fine.items[0]["id"]) is False
    assert queue.purge_dead_by_task("poison") == 3
    assert len(queue.dead_letters_after()) == 0
    with pytest.raises(ValueError, match="invalid cursor"):
        queue.dead_letters_after(after="not-a-cursor")


def test_auto_retry_keeps_the_count_out_of_metadata(backend: Backend) -> None:
    queue = backend.queue(dlq_auto_retry_delay=0, dlq_auto_retry_max=1)
    job = queue.enqueue("t", metadata='{"owner": "me"}')
    drive(queue, job.id, JobStatus.DEAD, error="boom")
    wait_until(lambda: queue.dead_letters_after().items[0]["failed_at"] < _now())
    (new_id,) = queue.retry_dead_due()
    assert record_of(queue, new_id).metadata == '{"owner": "me"}'
    drive(queue, new_id, JobStatus.DEAD, error="boom again")
    (letter,) = queue.dead_letters_after().items
    assert letter["dlq_retry_count"] == 1 and letter["metadata"] == '{"owner": "me"}'
    assert queue.retry_dead_due() == []  # the allowance is spent


def _now() -> int:
    from taskito.job import now_ms

    return now_ms()


def test_retention_dry_run_counts_and_deletes_nothing(backend: Backend) -> None:
    queue = backend.queue(retention=Retention(dead_letters=0))
    _dead(queue, "t")
    wait_until(lambda: queue.dead_letters_after().items[0]["failed_at"] < _now())
    preview = queue.dry_run_retention()
    assert preview.counts == {"dead_letters": 1} and preview.total == 1
    assert len(queue.dead_letters_after()) == 1
    assert queue.dry_run_retention(Retention()).total == 0
    assert queue.apply_retention() == {"dead_letters": 1}
    assert len(queue.dead_letters_after()) == 0


@pytest.mark.parametrize("window", [-1, float("nan"), "7d"])
def test_a_bad_window_is_refused(window: object) -> None:
    with pytest.raises((ValueError, TypeError), match="task_logs"):
        Retention(task_logs=window)  # type: ignore[arg-type]


def test_a_running_worker_sweeps_and_reports_its_windows(backend: Backend) -> None:
    queue = backend.queue(retention=Retention(dead_letters=0, task_logs=3600))
    _dead(queue, "t")
    wait_until(lambda: queue.dead_letters_after().items[0]["failed_at"] < _now())
    assert queue.effective_retention() is None  # no sweep yet
    with worker_thread(queue):
        wait_until(lambda: len(queue.dead_letters_after()) == 0)
        wait_until(lambda: queue.effective_retention() is not None)
    report = queue.effective_retention()
    assert report is not None
    assert report["windows"] == {"dead_letters": 0, "task_logs": 3_600_000}
    assert (report["enabled"], report["namespace"]) == (True, None)


def test_a_running_worker_retries_dead_letters_once_each(backend: Backend) -> None:
    queue = backend.queue(
        dlq_auto_retry_delay=0, dlq_auto_retry_max=1, scheduler_cleanup_interval=1
    )
    runs: list[int] = []

    @queue.task(name="flaky", max_retries=0)
    def flaky() -> None:
        runs.append(1)
        raise RuntimeError("still down")

    job = flaky.delay()
    with worker_thread(queue):
        wait_until(lambda: len(runs) == 2 and _letters_with_count(queue, 1) == 1, timeout_s=15)
    assert len(runs) == 2  # the allowance of one automatic retry is spent
    (letter,) = queue.dead_letters_after().items
    assert letter["original_job_id"] != job.id and letter["dlq_retry_count"] == 1


def _letters_with_count(queue: Queue, count: int) -> int:
    return sum(1 for d in queue.dead_letters_after(limit=100) if d["dlq_retry_count"] == count)


def test_retention_off_is_announced_once(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    from taskito.worker import retention as retention_rules

    retention_rules._notice_given = False  # another test of this process may have logged it
    queue = backend.queue()
    with caplog.at_level("INFO", logger="taskito.retention"):
        assert queue.apply_retention() == {}
        assert queue.apply_retention() == {}
    notices = [r.getMessage() for r in caplog.records if "retention is off" in r.getMessage()]
    assert len(notices) == 1 and "Retention.recommended()" in notices[0]


def test_every_listing_pages_by_key(backend: Backend) -> None:
    queue = backend.queue()
    for i in range(3):
        job = queue.enqueue("t", (i,))
        drive(queue, job.id, JobStatus.COMPLETE)
    first = queue.list_jobs_after(limit=2)
    assert len(first) == 2 and first.next_cursor is not None
    rest = queue.list_jobs_after(limit=2, after=first.next_cursor)
    assert len(rest) == 1 and rest.next_cursor is None
    assert {j["id"] for j in [*first, *rest]} == {j.id for j in queue.list_jobs(limit=10)}
    # Archive takes jobs that finished strictly before now: the last may share this millisecond.
    moved: list[int] = []
    wait_until(lambda: moved.append(queue.archive(older_than=0)) or sum(moved) == 3, 5)
    archived = queue.list_archived_after(limit=5)
    assert len(archived) == 3 and archived.next_cursor is None
    assert len(queue.logs_after(limit=5)) == 0
    for bad in ("x", "1:", ":id", "1.5:id"):
        with pytest.raises(ValueError, match="invalid cursor"):
            queue.list_jobs_after(after=bad)


def test_filtered_listings_page_by_key_and_have_async_mirrors(backend: Backend) -> None:
    queue = backend.queue()
    tagged = [queue.enqueue("t", (i,), metadata=f'{{"tag": "blue-{i}"}}') for i in range(3)]
    queue.enqueue("t", (9,), metadata='{"tag": "red"}')
    queue.enqueue("other", (1,), metadata='{"tag": "blue-x"}')
    first = queue.list_jobs_filtered_after(task_name="t", metadata_like="blue", limit=2)
    assert [j["id"] for j in first] == [tagged[2].id, tagged[1].id]
    rest = queue.list_jobs_filtered_after(
        task_name="t", metadata_like="blue", limit=2, after=first.next_cursor
    )
    assert [j["id"] for j in rest] == [tagged[0].id] and rest.next_cursor is None
    everything = queue.list_jobs_filtered_after(status="pending", limit=10)
    assert len(everything) == 5

    async def mirrors() -> tuple[int, int, int, int]:
        return (
            len(await queue.alist_jobs_after(task_name="other")),
            len(await queue.alist_jobs_filtered_after(metadata_like="red")),
            len(await queue.alist_archived_after()),
            len(await queue.alogs_after()),
        )

    assert asyncio.run(mirrors()) == (1, 1, 0, 0)
    with pytest.raises(ValueError, match="invalid cursor"):
        queue.list_jobs_filtered_after(after="nope")
    with pytest.raises(ValueError, match="status"):
        queue.list_jobs_filtered_after(status="sleeping")
    with pytest.raises(TypeError, match="metadata_like"):
        queue.list_jobs_filtered_after(metadata_like=3)  # type: ignore[arg-type]
