"""Inspection: ``get_job``, ``list_jobs`` (filters, paging, namespaces), ``stats*``, errors,
progress, logs, workers, bulk cancels, and the async mirrors."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from taskito import Queue, QueueError, StorageError
from taskito.job import JobStatus, now_ms
from taskito.storage.base import WorkerInfo
from tests.api.driving import MakeQueue, claim, drive
from tests.helpers import wait_until

STATS_KEYS = {"pending", "running", "completed", "failed", "dead", "cancelled"}


def test_get_job_of_an_unknown_id_is_none(queue: Queue) -> None:
    assert queue.get_job("01900000-0000-7000-8000-000000000000") is None


def test_list_jobs_is_newest_first_and_pages(queue: Queue) -> None:
    ids = [queue.enqueue("t").id for _ in range(5)]
    assert [job.id for job in queue.list_jobs()] == ids[::-1]
    assert [job.id for job in queue.list_jobs(limit=2, offset=1)] == ids[::-1][1:3]
    assert queue.list_jobs(limit=0) == []


def test_list_jobs_filters_by_status_queue_and_task(queue: Queue) -> None:
    a = queue.enqueue("task.a", queue="q1")
    b = queue.enqueue("task.b", queue="q2")
    c = queue.enqueue("task.a", queue="q2")
    drive(queue, a.id, JobStatus.COMPLETE)
    assert [j.id for j in queue.list_jobs(status="complete")] == [a.id]
    assert [j.id for j in queue.list_jobs(status="completed")] == [a.id]
    assert [j.id for j in queue.list_jobs(status="pending")] == [c.id, b.id]
    assert [j.id for j in queue.list_jobs(queue="q2", task_name="task.a")] == [c.id]


def test_an_unknown_status_filter_is_refused(queue: Queue) -> None:
    with pytest.raises(ValueError, match="Invalid status: 'finished'"):
        queue.list_jobs(status="finished")


@pytest.mark.parametrize(("limit", "offset"), [(-1, 0), (10, -1)])
def test_negative_limit_or_offset_is_refused(queue: Queue, limit: int, offset: int) -> None:
    with pytest.raises(ValueError, match=r"limit|offset"):
        queue.list_jobs(limit=limit, offset=offset)


def test_list_jobs_defaults_to_the_queue_namespace(make_queue: MakeQueue) -> None:
    tenant, plain = make_queue(namespace="tenant"), make_queue()
    mine = tenant.enqueue("t")
    theirs = plain.enqueue("t")
    assert [j.id for j in tenant.list_jobs()] == [mine.id]
    assert [j.id for j in plain.list_jobs()] == [theirs.id]
    assert {j.id for j in tenant.list_jobs(namespace=None)} == {mine.id, theirs.id}
    assert [j.id for j in plain.list_jobs(namespace="tenant")] == [mine.id]
    # Stats are not scoped by namespace.
    assert tenant.stats()["pending"] == plain.stats()["pending"] == 2


def test_list_jobs_filtered_matches_metadata_error_and_creation_time(queue: Queue) -> None:
    tagged = queue.enqueue("t", metadata='{"customer": "acme"}')
    failed = queue.enqueue("t")
    drive(queue, failed.id, JobStatus.DEAD, error="ConnectionError: refused")
    assert [j.id for j in queue.list_jobs_filtered(metadata_like="acme")] == [tagged.id]
    assert [j.id for j in queue.list_jobs_filtered(error_like="refused")] == [failed.id]
    created = tagged.to_dict()["created_at"]
    later = queue.list_jobs_filtered(created_after=created + 10_000)
    assert later == []
    assert len(queue.list_jobs_filtered(created_before=created + 10_000)) == 2
    with pytest.raises(TypeError, match="created_after"):
        queue.list_jobs_filtered(created_after="yesterday")  # type: ignore[arg-type]


def test_stats_counts_every_status_with_the_reference_keys(queue: Queue) -> None:
    assert queue.stats() == dict.fromkeys(STATS_KEYS, 0)
    done, dead, running = queue.enqueue("t"), queue.enqueue("t"), queue.enqueue("t")
    cancelled = queue.enqueue("t", delay=3600)
    queue.enqueue("t", queue="other", delay=3600)
    drive(queue, done.id, JobStatus.COMPLETE)
    drive(queue, dead.id, JobStatus.DEAD, error="x")
    claim(queue, running.id)
    queue.cancel_job(cancelled.id)
    assert queue.stats() == {
        "pending": 1,
        "running": 1,
        "completed": 1,
        "failed": 0,
        "dead": 1,
        "cancelled": 1,
    }
    assert queue.stats_by_queue("other") == {**dict.fromkeys(STATS_KEYS, 0), "pending": 1}
    by_queue = queue.stats_all_queues()
    assert set(by_queue) == {"default", "other"}
    assert by_queue["default"]["completed"] == 1
    assert set(by_queue["default"]) == STATS_KEYS


def test_update_progress_checks_its_range_and_the_job(queue: Queue) -> None:
    job = queue.enqueue("t")
    queue.update_progress(job.id, 100)
    assert queue.get_job(job.id).progress == 100  # type: ignore[union-attr]
    for bad in (-1, 101):
        with pytest.raises(ValueError, match="progress"):
            queue.update_progress(job.id, bad)
    with pytest.raises(TypeError, match="progress"):
        queue.update_progress(job.id, 50.5)  # type: ignore[arg-type]
    with pytest.raises(StorageError, match="job not found") as caught:
        queue.update_progress("01900000-0000-7000-8000-000000000000", 5)
    assert isinstance(caught.value, RuntimeError)


def test_job_errors_as_dicts(queue: Queue) -> None:
    job = queue.enqueue("t")
    drive(queue, job.id, JobStatus.DEAD, error="boom")
    assert [(e["attempt"], e["error"]) for e in queue.job_errors(job.id)] == [(0, "boom")]


def test_task_logs_and_query_logs(queue: Queue) -> None:
    job = queue.enqueue("t")
    storage = queue._storage
    storage.add_log(job.id, "mail.send", "info", "started", None, now_ms())
    storage.add_log(job.id, "mail.send", "error", "failed", json.dumps({"code": 5}), now_ms())
    storage.add_log(job.id, "other", "info", "elsewhere", None, now_ms() - 7_200_000)
    logs = queue.task_logs(job.id)
    assert [entry["message"] for entry in logs] == ["elsewhere", "started", "failed"]
    assert set(logs[0]) == {"id", "job_id", "task_name", "level", "message", "extra", "logged_at"}
    assert [e["message"] for e in queue.query_logs(task_name="mail.send", level="error")] == [
        "failed"
    ]
    assert {e["message"] for e in queue.query_logs()} == {"started", "failed"}  # last hour
    assert len(queue.query_logs(since=3 * 3600)) == 3
    assert len(queue.query_logs(limit=1)) == 1
    with pytest.raises(ValueError, match="since"):
        queue.query_logs(since=-1)


def test_workers_reports_registered_workers_with_the_reference_keys(queue: Queue) -> None:
    now = now_ms()
    queue._storage.register_worker(
        WorkerInfo("w-1", "host-a", 123, ("a", "b"), "thread", 4, "active", now, now, ("gpu",))
    )
    queue._storage.register_worker(
        WorkerInfo("w-2", "host-b", 456, None, "prefork", 2, "draining", now, now)
    )
    by_id = {w["worker_id"]: w for w in queue.workers()}
    assert set(by_id["w-1"]) == {
        "worker_id",
        "last_heartbeat",
        "queues",
        "status",
        "tags",
        "resources",
        "resource_health",
        "threads",
        "started_at",
        "hostname",
        "pid",
        "pool_type",
    }
    assert by_id["w-1"]["queues"] == "a,b"
    assert by_id["w-1"]["tags"] == "gpu"
    assert by_id["w-1"]["pool_type"] is None  # the thread pool, as the reference reports it
    assert (by_id["w-1"]["threads"], by_id["w-1"]["pid"]) == (4, 123)
    assert by_id["w-2"]["pool_type"] == "prefork"
    assert by_id["w-2"]["queues"] == "*"
    assert by_id["w-2"]["status"] == "draining"


def test_purge_and_revoke_cancel_pending_jobs_only(queue: Queue) -> None:
    mail = [queue.enqueue("mail.send", queue="mail") for _ in range(2)]
    running = queue.enqueue("report.build", queue="reports")
    claim(queue, running.id)
    other = queue.enqueue("report.build", queue="reports")
    assert queue.purge("mail") == 2
    assert queue.revoke_task("report.build") == 1
    assert {queue.get_job(j.id).error for j in mail} == {"purged"}  # type: ignore[union-attr]
    assert queue.get_job(other.id).error == "revoked"  # type: ignore[union-attr]
    assert queue.get_job(running.id).status == "running"  # type: ignore[union-attr]


def test_purge_completed_deletes_old_complete_jobs(queue: Queue) -> None:
    done = queue.enqueue("t")
    drive(queue, done.id, JobStatus.COMPLETE)
    assert queue.purge_completed() == 0  # younger than a day
    wait_until(lambda: queue.purge_completed(older_than=0) == 1)
    assert queue.get_job(done.id) is None
    with pytest.raises(ValueError, match="older_than"):
        queue.purge_completed(older_than=-1)


def test_async_mirrors_return_what_the_sync_methods_do(queue: Queue) -> None:
    job = queue.enqueue("t")

    async def gather() -> tuple[Any, ...]:
        return (
            await queue.astats(),
            await queue.alist_jobs(status="pending"),
            await queue.aget_job(job.id),
            await queue.astats_by_queue("default"),
            await queue.ajob_errors(job.id),
            await queue.aworkers(),
            await queue.acancel(job.id),
            await queue.aenqueue_many("t", args_list=[(1,), (2,)]),
        )

    stats, listed, fetched, by_queue, errors, workers, cancelled, batch = asyncio.run(gather())
    assert [j.status for j in batch] == ["pending", "pending"]
    assert stats["pending"] == 1 and by_queue["pending"] == 1
    assert [j.id for j in listed] == [job.id]
    assert fetched.id == job.id
    assert (errors, workers, cancelled) == ([], [], True)


def test_async_mirrors_refuse_a_closed_queue(make_queue: MakeQueue) -> None:
    queue = make_queue()
    queue.close()
    with pytest.raises(QueueError, match="closed"):
        asyncio.run(queue.astats())
