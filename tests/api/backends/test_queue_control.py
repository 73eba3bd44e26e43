"""Queue control on every backend (issue 6 point 5): pause/resume/paused_queues (persisted,
shared, with events), purge, revoke_task, and namespace isolation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from taskito import EventType, Queue
from tests.api.backends.support import Backend, worker_thread
from tests.api.driving import claim


def job_of(queue: Queue, job_id: str) -> dict[str, Any]:
    job = queue.get_job(job_id)
    assert job is not None, f"no job {job_id}"
    return job.to_dict()


# --- pause and resume -----------------------------------------------------------------------


def test_pause_is_persisted_and_seen_by_another_queue(backend: Backend) -> None:
    first, second = backend.queue(), backend.queue()
    assert first.paused_queues() == []
    first.pause("emails")
    first.pause()  # "default"
    assert second.paused_queues() == ["default", "emails"]
    second.resume("emails")
    assert first.paused_queues() == ["default"]
    first.resume()
    assert second.paused_queues() == []


def test_pause_and_resume_emit_events_when_the_state_changes(backend: Backend) -> None:
    queue = backend.queue()
    seen: list[tuple[EventType, dict[str, Any]]] = []
    queue.on_event(EventType.QUEUE_PAUSED, lambda kind, payload: seen.append((kind, payload)))
    queue.on_event(EventType.QUEUE_RESUMED, lambda kind, payload: seen.append((kind, payload)))
    queue.pause("reports")
    queue.pause("reports")  # already paused: no second event
    queue.resume("reports")
    queue.resume("reports")
    queue.resume("never-paused")
    assert queue._event_bus.flush(5)
    assert seen == [
        (EventType.QUEUE_PAUSED, {"queue": "reports"}),
        (EventType.QUEUE_RESUMED, {"queue": "reports"}),
    ]


def test_a_worker_runs_no_job_of_a_paused_queue_until_it_is_resumed(backend: Backend) -> None:
    worker_queue, admin = backend.queue(workers=2), backend.queue()
    ran: list[str] = []

    @worker_queue.task(queue="default")
    def record(label: str) -> str:
        ran.append(label)
        return label

    admin.pause("default")
    held = record.delay("held")
    other = worker_queue.enqueue(record.name, args=("other",), queue="other")
    with worker_thread(worker_queue):
        assert other.result(timeout=20) == "other"
        # The worker claims every due job it has room for: had "held" been claimable, it
        # would have been claimed with (or before, being older) "other".
        assert job_of(admin, held.id)["status"] == "pending"
        assert ran == ["other"]
        admin.resume("default")
        assert held.result(timeout=20) == "held"
    assert ran == ["other", "held"]


def test_pause_checks_the_queue_name(backend: Backend) -> None:
    queue = backend.queue()
    with pytest.raises(ValueError, match="queue_name"):
        queue.pause("")
    with pytest.raises(TypeError, match="queue_name"):
        queue.resume(None)  # type: ignore[arg-type]


def test_async_pause_mirrors(backend: Backend) -> None:
    queue = backend.queue()

    async def scenario() -> list[str]:
        await queue.apause("a")
        await queue.apause("b")
        await queue.aresume("a")
        return await queue.apaused_queues()

    assert asyncio.run(scenario()) == ["b"]


# --- purge and revoke_task ------------------------------------------------------------------


def test_purge_cancels_the_pending_jobs_of_one_queue(backend: Backend) -> None:
    queue = backend.queue()
    running = queue.enqueue("t", queue="bulk")
    claim(queue, running.id)
    doomed = [queue.enqueue("t", queue="bulk", delay=d) for d in (0, 0, 3600)]
    kept = queue.enqueue("t", queue="keep")
    assert queue.purge("bulk") == 3
    for job in doomed:
        assert (job_of(queue, job.id)["status"], job_of(queue, job.id)["error"]) == (
            "cancelled",
            "purged",
        )
    assert job_of(queue, running.id)["status"] == "running"
    assert job_of(queue, kept.id)["status"] == "pending"
    assert queue.purge("bulk") == 0
    with pytest.raises(ValueError, match="queue_name"):
        queue.purge("")


def test_revoke_task_cancels_the_pending_jobs_of_one_task(backend: Backend) -> None:
    queue = backend.queue()
    running = queue.enqueue("send", queue="q1")
    claim(queue, running.id)
    doomed = [queue.enqueue("send", queue=name) for name in ("q1", "q2")]
    kept = queue.enqueue("report", queue="q1")
    assert queue.revoke_task("send") == 2
    for job in doomed:
        assert job_of(queue, job.id)["status"] == "cancelled"
        assert job_of(queue, job.id)["error"] == "revoked"
    assert job_of(queue, running.id)["status"] == "running"
    assert job_of(queue, kept.id)["status"] == "pending"
    with pytest.raises(TypeError, match="task_name"):
        queue.revoke_task(None)  # type: ignore[arg-type]


# --- namespaces -----------------------------------------------------------------------------


def _namespaced_queues(backend: Backend) -> dict[str | None, Queue]:
    queues: dict[str | None, Queue] = {}
    for namespace in ("tenant-a", "tenant-b", None):
        queue = backend.queue(namespace=namespace, workers=2)
        queue.task(name="work")(lambda: "done")
        queues[namespace] = queue
    return queues


@pytest.mark.parametrize("runner", ["tenant-a", None])
def test_a_worker_runs_only_the_jobs_of_its_own_namespace(
    backend: Backend, runner: str | None
) -> None:
    queues = _namespaced_queues(backend)
    jobs = {namespace: queue.enqueue("work") for namespace, queue in queues.items()}
    with worker_thread(queues[runner]):
        assert jobs[runner].result(timeout=20) == "done"
    for namespace, job in jobs.items():
        record = job_of(queues[runner], job.id)
        assert record["namespace"] == namespace
        assert record["status"] == ("complete" if namespace == runner else "pending")


def test_list_jobs_defaults_to_the_queues_namespace(backend: Backend) -> None:
    queues = _namespaced_queues(backend)
    jobs = {namespace: queue.enqueue("work") for namespace, queue in queues.items()}
    tenant_a, plain = queues["tenant-a"], queues[None]
    assert [j.id for j in tenant_a.list_jobs()] == [jobs["tenant-a"].id]
    assert [j.id for j in plain.list_jobs()] == [jobs[None].id]
    assert [j.id for j in plain.list_jobs(namespace="tenant-b")] == [jobs["tenant-b"].id]
    everything = {j.id for j in tenant_a.list_jobs(namespace=None)}
    assert everything == {job.id for job in jobs.values()}
    assert tenant_a.stats()["pending"] == 3  # stats are global
