"""The operator's routes over a real server: delete one dead letter, purge a task's, requeue a
running job, the retention windows and the purge preview, with their bad inputs."""

from __future__ import annotations

from taskito import Queue
from taskito.job import now_ms
from tests.dashboard.harness import Client
from tests.dashboard.test_api_routes import make_dead_letters, ok


def test_delete_one_dead_letter_and_purge_a_task(queue: Queue, client: Client) -> None:
    by_task = make_dead_letters(queue, client)
    doomed = by_task["other_boom"][0]
    assert ok(client.delete(f"/api/dead-letters/{doomed}")) == {"deleted": True}
    again = client.delete(f"/api/dead-letters/{doomed}")
    assert again.status == 404 and again.json() == {"error": "Dead letter not found"}
    assert ok(client.post("/api/dead-letters/purge-task", {"task_name": "boom"})) == {"purged": 2}
    assert ok(client.get("/api/dead-letters")) == []
    bad = client.post("/api/dead-letters/purge-task", {})
    assert bad.status == 400 and "task_name must be a non-empty string" in bad.json()["error"]


def test_requeue_a_running_job(queue: Queue, client: Client) -> None:
    job = queue.enqueue("add", args=(1, 1))
    pending = client.post(f"/api/jobs/{job.id}/requeue")
    assert pending.status == 409 and "not running" in pending.json()["error"]
    queue._storage.claim("hung", None, None, 10, now_ms(), 60_000)
    assert ok(client.post(f"/api/jobs/{job.id}/requeue")) == {"requeued": True}
    assert queue.get_job(job.id).status == "pending"  # type: ignore[union-attr]
    assert client.post("/api/jobs/no-such-job/requeue").status == 404


def test_retention_windows_and_preview(queue: Queue, client: Client) -> None:
    assert ok(client.get("/api/retention")) == {"enabled": False, "windows": {}, "reported": None}
    preview = ok(client.get("/api/retention/dry-run?recommended=true"))
    assert preview["enabled"] is True and preview["total"] == 0
    assert set(preview["counts"]) == {
        "completed_jobs", "dead_letters", "job_errors", "task_logs", "task_metrics"
    }  # fmt: skip
    assert client.get("/api/retention/dry-run?recommended=maybe").status == 400
    # The workers' reports are settings the settings routes hide and refuse.
    queue.apply_retention()
    refused = client.get("/api/settings/retention:effective:")
    assert refused.status == 403 and "'retention:'" in refused.json()["error"]
