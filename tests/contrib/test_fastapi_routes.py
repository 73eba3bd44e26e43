"""Every route of ``TaskitoRouter`` through FastAPI's real TestClient, on a real SQLite file,
with jobs run by a real worker where their outcome matters: answers, errors and limits."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from taskito import Queue
from taskito.dashboard.api.progress import ProgressWatch
from tests.api.backends.support import worker_thread
from tests.contrib.fastapi_support import PREFIX, make_app, register
from tests.helpers import wait_until

JOB_KEYS = {
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
UNKNOWN_ID = "01900000-0000-7000-8000-000000000000"


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[Queue]:
    opened = Queue(db_path=str(tmp_path / "taskito.db"))
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def tasks(queue: Queue) -> dict[str, Any]:
    return register(queue)


@pytest.fixture
def client(queue: Queue) -> Iterator[TestClient]:
    with TestClient(make_app(queue)) as opened:
        yield opened


def events_of(client: TestClient, path: str) -> list[dict[str, Any]]:
    """The ``data`` of every event of a server-sent event stream, until it ends."""
    with client.stream("GET", PREFIX + path) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return [
            json.loads(line[len("data: ") :])
            for line in response.iter_lines()
            if line.startswith("data: ")
        ]


def finish(queue: Queue, *job_ids: str) -> None:
    """Run a worker until every one of ``job_ids`` has finished."""
    finished = {"complete", "dead", "cancelled", "failed"}
    with worker_thread(queue):
        for job_id in job_ids:
            wait_until(lambda j=job_id: _status(queue, j) in finished, timeout_s=15)


def _status(queue: Queue, job_id: str) -> str:
    job = queue.get_job(job_id)
    assert job is not None
    return job.status


def test_stats_and_queue_stats(queue: Queue, client: TestClient, tasks: dict[str, Any]) -> None:
    tasks["add"].delay(1, 2)
    tasks["add"].delay(3, 4)
    queue.enqueue("add", args=(5, 6), queue="emails")
    stats = client.get(f"{PREFIX}/stats").json()
    assert stats == {
        "pending": 3,
        "running": 0,
        "completed": 0,
        "failed": 0,
        "dead": 0,
        "cancelled": 0,
    }
    per_queue = client.get(f"{PREFIX}/stats/queues").json()
    assert {name: counts["pending"] for name, counts in per_queue.items()} == {
        "default": 2,
        "emails": 1,
    }
    assert client.get(f"{PREFIX}/stats/queues?queue=emails").json()["pending"] == 1
    bad = client.get(f"{PREFIX}/stats/queues", params={"queue": "a\x01b"})
    assert (bad.status_code, bad.json()) == (
        400,
        {"detail": "queue must not contain control characters"},
    )


def test_a_job_and_its_errors(queue: Queue, client: TestClient, tasks: dict[str, Any]) -> None:
    job = tasks["add"].delay(1, 2)
    answer = client.get(f"{PREFIX}/jobs/{job.id}")
    assert answer.status_code == 200
    assert set(answer.json()) == JOB_KEYS
    assert answer.json()["status"] == "pending"
    assert client.get(f"{PREFIX}/jobs/{job.id}/errors").json() == []

    doomed = tasks["boom"].delay("out of paper")
    finish(queue, doomed.id)
    [error] = client.get(f"{PREFIX}/jobs/{doomed.id}/errors").json()
    assert error["attempt"] == 0
    assert "ValueError: out of paper" in error["error"]


@pytest.mark.parametrize("suffix", ["", "/errors", "/result", "/progress"])
def test_unknown_and_malformed_job_ids(client: TestClient, suffix: str) -> None:
    missing = client.get(f"{PREFIX}/jobs/{UNKNOWN_ID}{suffix}")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Job not found"})
    control = client.get(f"{PREFIX}/jobs/a%01b{suffix}")
    assert (control.status_code, control.json()) == (
        400,
        {"detail": "job id must not contain control characters"},
    )
    too_long = client.get(f"{PREFIX}/jobs/{'x' * 300}{suffix}")
    assert (too_long.status_code, too_long.json()) == (
        400,
        {"detail": "job id must be at most 256 characters"},
    )


def test_results_of_finished_jobs(queue: Queue, client: TestClient, tasks: dict[str, Any]) -> None:
    added, doomed, opaque = (
        tasks["add"].delay(2, 3),
        tasks["boom"].delay("no"),
        tasks["opaque"].delay(),
    )
    finish(queue, added.id, doomed.id, opaque.id)
    assert client.get(f"{PREFIX}/jobs/{added.id}/result").json() == {
        "id": added.id,
        "status": "complete",
        "result": 5,
        "error": None,
        "result_error": None,
    }
    dead = client.get(f"{PREFIX}/jobs/{doomed.id}/result").json()
    assert (dead["status"], dead["result"]) == ("dead", None)
    assert "ValueError: no" in dead["error"]
    # No JSON form: the default result_serializer shows the repr.
    assert client.get(f"{PREFIX}/jobs/{opaque.id}/result").json()["result"] == "<Opaque result>"


def test_a_custom_result_serializer(queue: Queue, tasks: dict[str, Any]) -> None:
    job = tasks["opaque"].delay()
    finish(queue, job.id)
    app = make_app(queue, result_serializer=lambda value: {"type": type(value).__name__})
    with TestClient(app) as client:
        answer = client.get(f"{PREFIX}/jobs/{job.id}/result").json()
    assert answer["result"] == {"type": "Opaque"}


def test_the_result_wait_is_bounded(client: TestClient, tasks: dict[str, Any]) -> None:
    job = tasks["add"].delay(1, 1)  # no worker: it stays pending
    started = time.monotonic()
    answer = client.get(f"{PREFIX}/jobs/{job.id}/result", params={"timeout": 0.5})
    waited = time.monotonic() - started
    assert answer.json()["status"] == "pending"
    assert 0.5 <= waited < 5


def test_the_result_wait_ends_when_the_job_does(
    queue: Queue, client: TestClient, tasks: dict[str, Any]
) -> None:
    job = tasks["add"].apply_async(args=(4, 5), delay=0.3)
    with worker_thread(queue):
        started = time.monotonic()
        answer = client.get(f"{PREFIX}/jobs/{job.id}/result", params={"timeout": 60}).json()
        waited = time.monotonic() - started
    assert (answer["status"], answer["result"]) == ("complete", 9)
    assert waited < 30


@pytest.mark.parametrize("timeout", ["-1", "300.5", "abc", "nan", "inf"])
def test_a_result_timeout_out_of_range_is_refused(
    client: TestClient, tasks: dict[str, Any], timeout: str
) -> None:
    job = tasks["add"].delay(1, 1)
    answer = client.get(f"{PREFIX}/jobs/{job.id}/result", params={"timeout": timeout})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["query", "timeout"]


def test_progress_of_a_finished_job(
    queue: Queue, client: TestClient, tasks: dict[str, Any]
) -> None:
    added, published = tasks["add"].delay(1, 2), tasks["publisher"].delay()
    finish(queue, added.id, published.id)
    progress = client.get(f"{PREFIX}/jobs/{added.id}").json()["progress"]
    assert events_of(client, f"/jobs/{added.id}/progress") == [
        {"status": "complete", "progress": progress}
    ]
    assert events_of(client, f"/jobs/{published.id}/progress?include_results=true") == [
        {"status": "complete", "progress": 50, "partial_result": {"step": 1}},
        {"status": "complete", "progress": 50, "partial_result": "plain text"},
        {"status": "complete", "progress": 50},
    ]


def test_a_watched_job_that_disappears_ends_the_watch(queue: Queue, tasks: dict[str, Any]) -> None:
    job = tasks["add"].delay(1, 2)
    finish(queue, job.id)
    watch = ProgressWatch(queue, job.id, include_results=False)
    [first] = watch.poll()
    assert first["status"] == "complete"
    wait_until(lambda: queue.purge_completed(older_than=0) == 1)
    assert watch.poll() == [{"status": "not_found", "progress": None}]
    assert watch.finished


def test_cancel_a_pending_then_a_running_job(
    queue: Queue, client: TestClient, tasks: dict[str, Any]
) -> None:
    pending = tasks["add"].delay(1, 2)
    first = client.post(f"{PREFIX}/jobs/{pending.id}/cancel")
    assert first.json() == {"cancelled": True, "outcome": "cancelled"}
    again = client.post(f"{PREFIX}/jobs/{pending.id}/cancel")
    assert again.json() == {"cancelled": False, "outcome": "finished"}
    missing = client.post(f"{PREFIX}/jobs/{UNKNOWN_ID}/cancel")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Job not found"})

    running = tasks["wait_for_cancel"].delay()
    with worker_thread(queue):
        wait_until(lambda: _status(queue, running.id) == "running", timeout_s=15)
        answer = client.post(f"{PREFIX}/jobs/{running.id}/cancel")
        assert answer.json() == {"cancelled": True, "outcome": "requested"}
        wait_until(lambda: _status(queue, running.id) == "cancelled", timeout_s=15)


def test_dead_letters_are_paged_and_retried(queue: Queue, tasks: dict[str, Any]) -> None:
    doomed = [tasks["boom"].delay(str(n)) for n in range(4)]
    finish(queue, *(job.id for job in doomed))
    with TestClient(make_app(queue, default_page_size=2, max_page_size=3)) as client:
        first = client.get(f"{PREFIX}/dead-letters").json()
        assert len(first) == 2
        assert {letter["exception"] for letter in first} == {"ValueError"}
        assert len(client.get(f"{PREFIX}/dead-letters?limit=3").json()) == 3
        rest = client.get(f"{PREFIX}/dead-letters?limit=3&offset=2").json()
        assert [letter["id"] for letter in rest] == [
            letter["id"] for letter in queue.dead_letters(limit=10)[2:]
        ]
        for bad in ("limit=4", "limit=0", "offset=-1", "limit=many"):
            refused = client.get(f"{PREFIX}/dead-letters?{bad}")
            assert refused.status_code == 422, bad
        retried = client.post(f"{PREFIX}/dead-letters/{first[0]['id']}/retry")
        assert retried.status_code == 200
        new_job = queue.get_job(retried.json()["new_job_id"])
        assert new_job is not None and new_job.status == "pending"
        assert len(client.get(f"{PREFIX}/dead-letters").json()) == 2
        assert len(client.get(f"{PREFIX}/dead-letters?limit=3").json()) == 3
        again = client.post(f"{PREFIX}/dead-letters/{first[0]['id']}/retry")
        assert (again.status_code, again.json()) == (404, {"detail": "Dead letter not found"})


def test_health_readiness_and_resources(client: TestClient) -> None:
    assert client.get(f"{PREFIX}/health").json() == {"status": "ok"}
    ready = client.get(f"{PREFIX}/readiness")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert set(ready.json()["checks"]) == {"storage", "workers", "resources"}
    assert client.get(f"{PREFIX}/resources").json() == []


def test_readiness_is_503_when_storage_does_not_answer(tmp_path: Path) -> None:
    closed = Queue(db_path=str(tmp_path / "closed.db"))
    with TestClient(make_app(closed)) as client:
        closed.close()
        answer = client.get(f"{PREFIX}/readiness")
        assert answer.status_code == 503
        assert answer.json()["status"] == "not_ready"
        assert client.get(f"{PREFIX}/health").status_code == 200


def test_answers_are_never_stored_by_caches(client: TestClient, tasks: dict[str, Any]) -> None:
    job = tasks["add"].delay(1, 2)
    for path in ("/stats", f"/jobs/{job.id}", f"/jobs/{job.id}/result", "/readiness"):
        assert client.get(PREFIX + path).headers["cache-control"] == "no-store", path
    client.post(f"{PREFIX}/jobs/{job.id}/cancel")
    with client.stream("GET", f"{PREFIX}/jobs/{job.id}/progress") as stream:
        assert stream.headers["cache-control"] == "no-store"
        assert stream.headers["x-accel-buffering"] == "no"
