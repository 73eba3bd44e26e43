"""Every REST route against a real uvicorn server on SQLite (authentication off, a loopback
client): shapes, integer-ms timestamps, paging by offset and by cursor, and each route's
400 and 404; jobs run by a real worker where their status matters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from taskito import Queue
from taskito.dashboard import create_app
from taskito.dashboard.api.routes import ROUTES
from taskito.job import JobStatus
from tests.api.backends.support import worker_thread
from tests.api.driving import drive
from tests.dashboard.harness import Client, serve
from tests.dashboard.tasks import register
from tests.helpers import wait_until

JOB_KEYS = {
    "id", "queue", "task_name", "status", "priority", "progress", "retry_count", "max_retries",
    "created_at", "scheduled_at", "started_at", "completed_at", "error", "timeout_ms",
    "unique_key", "metadata", "namespace",
}  # fmt: skip
STATS_KEYS = {"pending", "running", "completed", "failed", "dead", "cancelled"}


def ok(reply: Any) -> Any:
    assert reply.status == 200, (reply.status, reply.body)
    return reply.json()


def is_ms(value: object) -> bool:
    """An integer millisecond timestamp of this decade."""
    return isinstance(value, int) and 1_600_000_000_000 < value < 2_600_000_000_000


def test_health_answers_ok(client: Client) -> None:
    assert ok(client.get("/health")) == {"status": "ok"}


def test_stats_and_queue_stats(queue: Queue, client: Client) -> None:
    tasks = register(queue)
    tasks["add"].delay(1, 2)  # type: ignore[attr-defined]
    queue.enqueue("add", args=(1, 1), queue="emails")
    stats = ok(client.get("/api/stats"))
    assert set(stats) == STATS_KEYS and stats["pending"] == 2
    by_queue = ok(client.get("/api/stats/queues"))
    assert set(by_queue) == {"default", "emails"}
    assert by_queue["emails"]["pending"] == 1
    assert ok(client.get("/api/stats/queues?queue=emails"))["pending"] == 1
    assert ok(client.get("/api/stats/queues?queue=nothing"))["pending"] == 0


def test_queues_pause_and_resume(queue: Queue, client: Client) -> None:
    queue.enqueue("add", args=(1, 1), queue="emails")
    assert ok(client.post("/api/queues/emails/pause")) == {"paused": "emails"}
    assert ok(client.get("/api/queues/paused")) == ["emails"]
    assert queue.paused_queues() == ["emails"]
    assert ok(client.post("/api/queues/reports/pause")) == {"paused": "reports"}
    listed = {row["name"]: row for row in ok(client.get("/api/queues"))}
    assert listed["emails"]["paused"] is True and listed["emails"]["pending"] == 1
    # Queue depths leave completed jobs out (counting them per queue visits every one).
    assert listed["reports"] == {
        "name": "reports",
        **dict.fromkeys(STATS_KEYS - {"completed"}, 0),
        "paused": True,
    }
    assert ok(client.post("/api/queues/emails/resume")) == {"resumed": "emails"}
    assert queue.paused_queues() == ["reports"]


def test_job_list_detail_and_filters(queue: Queue, client: Client) -> None:
    register(queue)
    first = queue.enqueue("add", args=(1, 2), metadata='{"tenant": "acme"}')
    second = queue.enqueue("add", args=(3, 4), queue="emails")
    listed = ok(client.get("/api/jobs"))
    assert [job["id"] for job in listed] == [second.id, first.id]  # newest first
    assert set(listed[0]) == JOB_KEYS
    assert is_ms(listed[0]["created_at"]) and is_ms(listed[0]["scheduled_at"])
    detail = ok(client.get(f"/api/jobs/{first.id}"))
    assert detail["id"] == first.id and detail["status"] == "pending"
    assert [j["id"] for j in ok(client.get("/api/jobs?queue=emails"))] == [second.id]
    assert [j["id"] for j in ok(client.get("/api/jobs?task=add&status=pending"))] == [
        second.id,
        first.id,
    ]
    assert [j["id"] for j in ok(client.get("/api/jobs?metadata=acme"))] == [first.id]
    assert ok(client.get("/api/jobs?status=completed")) == []
    created = detail["created_at"]
    window = ok(client.get(f"/api/jobs?created_after={created}&created_before={created}"))
    assert first.id in [job["id"] for job in window]
    assert ok(client.get(f"/api/jobs?created_before={created - 1}")) == []


def test_jobs_page_by_offset_and_by_cursor(queue: Queue, client: Client) -> None:
    # Many jobs in few milliseconds: the cursor must step over rows of the same time.
    ids = [r.id for r in queue.enqueue_many("add", args_list=[(i, i) for i in range(150)])]
    newest_first = list(reversed(ids))
    assert [j["id"] for j in ok(client.get("/api/jobs?limit=7&offset=3"))] == newest_first[3:10]
    seen: list[str] = []
    after = ""
    while True:
        page = ok(client.get(f"/api/jobs?limit=40{after}"))
        if not page:
            break
        seen += [job["id"] for job in page]
        last = page[-1]
        after = f"&after={last['created_at']},{last['id']}"
    assert seen == newest_first
    # A bare id works as a cursor too; rows added at the top do not shift the next page.
    queue.enqueue("add", args=(0, 0))
    page = ok(client.get(f"/api/jobs?limit=5&after={newest_first[9]}"))
    assert [job["id"] for job in page] == newest_first[10:15]
    assert ok(client.get("/api/jobs?limit=0")) == []


@pytest.mark.parametrize(
    ("query", "complaint"),
    [
        ("limit=abc", "limit must be an integer"),
        ("limit=-1", "limit must be at least 0"),
        ("limit=1001", "limit must be at most 1000"),
        ("offset=-5", "offset must be at least 0"),
        ("status=sleeping", "status must be one of"),
        ("created_after=yesterday", "created_after must be an integer"),
        ("after=1,x&offset=2", "after and offset cannot be combined"),
        ("after=abc,def", "after must be"),
        ("after=no-such-job", "no such job"),
        ("task=a%00b", "control characters"),
        ("queue=" + "q" * 300, "at most 256 characters"),
    ],
)
def test_bad_job_queries_are_400_naming_the_parameter(
    client: Client, query: str, complaint: str
) -> None:
    reply = client.get(f"/api/jobs?{query}")
    assert reply.status == 400
    assert complaint in reply.json()["error"]


@pytest.mark.parametrize("suffix", ["", "/errors", "/logs", "/replay-history", "/dag", "/result"])
def test_unknown_job_is_404(client: Client, suffix: str) -> None:
    reply = client.get(f"/api/jobs/01900000-0000-7000-8000-000000000000{suffix}")
    assert reply.status == 404
    assert reply.json() == {"error": "Job not found"}


def test_unknown_job_arguments_and_actions_are_404(client: Client) -> None:
    missing = "01900000-0000-7000-8000-000000000000"
    assert client.get(f"/api/jobs/{missing}/arguments").status == 404
    assert client.post(f"/api/jobs/{missing}/replay").status == 404
    reply = client.post(f"/api/jobs/{missing}/cancel")
    assert reply.status == 404
    assert reply.json() == {"error": "Job not found", "outcome": "not_found"}


def test_a_finished_job_shows_result_arguments_logs_progress_and_dag(
    queue: Queue, client: Client
) -> None:
    tasks = register(queue)
    parent = tasks["add"].delay(2, 3)  # type: ignore[attr-defined]
    child = queue.enqueue("chatty", depends_on=parent.id)
    with worker_thread(queue):
        wait_until(lambda: ok(client.get(f"/api/jobs/{child.id}"))["status"] == "complete")
    assert ok(client.get(f"/api/jobs/{parent.id}/result")) == {
        "id": parent.id,
        "status": "complete",
        "result": 5,
        "error": None,
        "result_error": None,
    }
    arguments = ok(client.get(f"/api/jobs/{parent.id}/arguments"))
    assert arguments == {"id": parent.id, "args": [2, 3], "kwargs": {}, "error": None}
    detail = ok(client.get(f"/api/jobs/{child.id}"))
    assert detail["progress"] == 50
    assert is_ms(detail["started_at"]) and is_ms(detail["completed_at"])
    logs = ok(client.get(f"/api/jobs/{child.id}/logs"))
    assert [(line["level"], line["message"]) for line in logs] == [
        ("info", "started"),
        ("warning", "warned"),
    ]
    assert is_ms(logs[0]["logged_at"])
    dag = ok(client.get(f"/api/jobs/{child.id}/dag"))
    assert {node["id"] for node in dag["nodes"]} == {parent.id, child.id}
    assert dag["edges"] == [{"from": parent.id, "to": child.id}]
    assert ok(client.get(f"/api/jobs/{child.id}/replay-history")) == []
    # Logs across jobs: filters, the window and the live-tail cursor.
    across = ok(client.get("/api/logs?task=chatty&since=60"))
    assert [line["message"] for line in across] == ["warned", "started"]
    assert [line["message"] for line in ok(client.get("/api/logs?level=warning"))] == ["warned"]
    tail = ok(client.get(f"/api/logs?after={across[1]['id']}"))
    assert [line["message"] for line in tail] == ["warned"]
    assert client.get("/api/logs?since=0").status == 400
    assert client.get("/api/logs?since=abc").status == 400


def test_a_pending_job_has_no_result_yet(queue: Queue, client: Client) -> None:
    job = queue.enqueue("add", args=(1, 1))
    answer = ok(client.get(f"/api/jobs/{job.id}/result"))
    assert answer["status"] == "pending" and answer["result"] is None


def test_failed_job_errors_and_replay(queue: Queue, client: Client) -> None:
    tasks = register(queue)
    job = tasks["boom"].delay("kaput")  # type: ignore[attr-defined]
    with worker_thread(queue):
        wait_until(lambda: ok(client.get(f"/api/jobs/{job.id}"))["status"] == "dead")
        errors = ok(client.get(f"/api/jobs/{job.id}/errors"))
        assert len(errors) == 1 and "ValueError: kaput" in errors[0]["error"]
        assert is_ms(errors[0]["failed_at"])
        replay = ok(client.post(f"/api/jobs/{job.id}/replay"))
        new_id = replay["replay_job_id"]
        wait_until(lambda: ok(client.get(f"/api/jobs/{new_id}"))["status"] == "dead")
    history = ok(client.get(f"/api/jobs/{job.id}/replay-history"))
    assert [entry["replay_job_id"] for entry in history] == [new_id]
    assert is_ms(history[0]["replayed_at"])


def test_cancel_a_pending_job_then_a_finished_one(queue: Queue, client: Client) -> None:
    job = queue.enqueue("add", args=(1, 1))
    assert ok(client.post(f"/api/jobs/{job.id}/cancel")) == {
        "cancelled": True,
        "outcome": "cancelled",
    }
    assert queue.get_job(job.id).status == "cancelled"  # type: ignore[union-attr]
    assert ok(client.post(f"/api/jobs/{job.id}/cancel")) == {
        "cancelled": False,
        "outcome": "finished",
    }


@pytest.mark.parametrize("force", [False, True])
def test_cancel_reaches_a_running_job(queue: Queue, client: Client, force: bool) -> None:
    tasks = register(queue)
    job = tasks["wait_for_cancel"].delay()  # type: ignore[attr-defined]
    with worker_thread(queue):
        wait_until(lambda: queue.get_job(job.id).status == "running")  # type: ignore[union-attr]
        answer = ok(client.post(f"/api/jobs/{job.id}/cancel", {"force": force}))
        assert answer == {"cancelled": True, "outcome": "requested"}
        wait_until(
            lambda: ok(client.get(f"/api/jobs/{job.id}"))["status"] == "cancelled", timeout_s=10
        )


def test_cancel_refuses_a_bad_force(queue: Queue, client: Client) -> None:
    job = queue.enqueue("add", args=(1, 1))
    reply = client.post(f"/api/jobs/{job.id}/cancel", {"force": "yes"})
    assert reply.status == 400 and "force must be true or false" in reply.json()["error"]
    reply = client.post(f"/api/jobs/{job.id}/cancel", [1, 2])
    assert reply.status == 400 and "JSON object" in reply.json()["error"]
    reply = client.request("POST", f"/api/jobs/{job.id}/cancel", body=b"{not json")
    assert reply.status == 400 and reply.json() == {"error": "the request body is not valid JSON"}


def make_dead_letters(queue: Queue, client: Client) -> dict[str, list[str]]:
    """Two ``boom`` letters with ValueError, one ``other_boom`` with KeyError."""
    tasks = register(queue)
    jobs = [
        tasks["boom"].delay("one"),  # type: ignore[attr-defined]
        tasks["boom"].delay("two"),  # type: ignore[attr-defined]
        tasks["other_boom"].delay(),  # type: ignore[attr-defined]
    ]
    with worker_thread(queue):
        wait_until(lambda: ok(client.get("/api/stats"))["dead"] == 3)
    letters = ok(client.get("/api/dead-letters"))
    by_task: dict[str, list[str]] = {}
    for letter in letters:
        by_task.setdefault(letter["task_name"], []).append(letter["id"])
    assert {letter["original_job_id"] for letter in letters} == {job.id for job in jobs}
    return by_task


def test_dead_letters_list_groups_and_retry(queue: Queue, client: Client) -> None:
    by_task = make_dead_letters(queue, client)
    letters = ok(client.get("/api/dead-letters"))
    assert {letter["exception"] for letter in letters} == {"ValueError", "KeyError"}
    assert all(is_ms(letter["failed_at"]) for letter in letters)
    groups = ok(client.get("/api/dead-letters/groups"))
    assert [(g["task_name"], g["exception"], g["count"]) for g in groups] == [
        ("boom", "ValueError", 2),
        ("other_boom", "KeyError", 1),
    ]
    # Paging by offset and by cursor.
    assert ok(client.get("/api/dead-letters?limit=1&offset=1")) == letters[1:2]
    last = letters[0]
    after = ok(client.get(f"/api/dead-letters?after={last['failed_at']},{last['id']}"))
    assert after == letters[1:]
    assert ok(client.get(f"/api/dead-letters?limit=1&after={letters[1]['id']}")) == letters[2:]
    assert client.get("/api/dead-letters?after=nope").status == 400
    # Retry one letter, then a group.
    retried = ok(client.post(f"/api/dead-letters/{by_task['other_boom'][0]}/retry"))
    assert queue.get_job(retried["new_job_id"]).status == "pending"  # type: ignore[union-attr]
    group = ok(
        client.post(
            "/api/dead-letters/retry-group", {"task_name": "boom", "exception": "ValueError"}
        )
    )
    assert group["retried"] == 2 and len(group["new_job_ids"]) == 2
    assert ok(client.get("/api/dead-letters")) == []
    missing = client.post(f"/api/dead-letters/{by_task['boom'][0]}/retry")
    assert missing.status == 404 and missing.json() == {"error": "Dead letter not found"}
    bad = client.post("/api/dead-letters/retry-group", {"task_name": "boom"})
    assert bad.status == 400 and "exception must be a non-empty string" in bad.json()["error"]


def test_dead_letters_purge(queue: Queue, client: Client) -> None:
    make_dead_letters(queue, client)
    assert ok(client.post("/api/dead-letters/purge", {"older_than": 3600})) == {"purged": 0}
    assert ok(client.post("/api/dead-letters/purge")) == {"purged": 3}
    assert client.post("/api/dead-letters/purge", {"older_than": -1}).status == 400
    assert client.post("/api/dead-letters/purge", {"older_than": "old"}).status == 400


def test_workers_breakers_and_the_resource_views(queue: Queue, client: Client) -> None:
    register(queue)
    assert ok(client.get("/api/workers")) == []
    with worker_thread(queue):
        workers = wait_until(lambda: ok(client.get("/api/workers")))
        assert is_ms(workers[0]["last_heartbeat"]) and is_ms(workers[0]["started_at"])
        assert workers[0]["status"] == "active"
    assert ok(client.get("/api/circuit-breakers")) == []
    assert ok(client.get("/api/resources")) == []
    assert ok(client.get("/api/proxy-stats")) == []
    assert ok(client.get("/api/interception-stats")) == {}


def test_circuit_breakers_show_once_a_task_with_one_ran(queue: Queue, client: Client) -> None:
    @queue.task(name="guarded", circuit_breaker={"threshold": 3, "window": 60, "cooldown": 30})
    def guarded() -> int:
        return 1

    job = guarded.delay()
    with worker_thread(queue):
        job.result(timeout=10)
    breakers = ok(client.get("/api/circuit-breakers"))
    assert [(b["task_name"], b["state"], b["threshold"]) for b in breakers] == [
        ("guarded", "closed", 3)
    ]


def test_settings_round_trip_and_validation(queue: Queue, client: Client) -> None:
    assert ok(client.put("/api/settings/dashboard.title", {"value": "Ops"})) == {
        "key": "dashboard.title",
        "value": "Ops",
    }
    stored = ok(client.put("/api/settings/dashboard.links", {"value": [{"a": 1}, None]}))
    assert stored["value"] == '[{"a":1},null]'  # compact JSON
    assert ok(client.get("/api/settings/dashboard.title")) == {
        "key": "dashboard.title",
        "value": "Ops",
    }
    assert ok(client.get("/api/settings")) == {
        "dashboard.title": "Ops",
        "dashboard.links": '[{"a":1},null]',
    }
    assert ok(client.put("/api/settings/a/b", {"value": 1}))["key"] == "a/b"  # keys may hold /
    assert ok(client.delete("/api/settings/dashboard.title")) == {"deleted": True}
    assert ok(client.delete("/api/settings/dashboard.title")) == {"deleted": False}
    assert client.get("/api/settings/dashboard.title").status == 404
    for key, body, complaint in [
        ("k" * 257, {"value": "x"}, "at most 256 characters"),
        ("bad%01key", {"value": "x"}, "control characters"),
        ("ok", {"value": "x" * (64 * 1024 + 1)}, "at most 65536 bytes"),
        ("ok", {"nothing": 1}, '"value"'),
        ("ok", {"value": "a\x00b"}, "NUL"),
    ]:
        reply = client.put(f"/api/settings/{key}", body)
        assert reply.status == 400, (key, reply.body)
        assert complaint in reply.json()["error"]
    assert ok(client.put("/api/settings/ok", {"value": "x" * (64 * 1024)}))["key"] == "ok"


def test_auth_settings_are_hidden_and_refused(queue: Queue, client: Client) -> None:
    queue.set_setting("auth:user:mallory", "{}")
    assert "auth:user:mallory" not in ok(client.get("/api/settings"))
    for reply in (
        client.get("/api/settings/auth:user:mallory"),
        client.put("/api/settings/auth:user:mallory", {"value": "{}"}),
        client.delete("/api/settings/auth:user:mallory"),
    ):
        assert reply.status == 403
        assert "reserved" in reply.json()["error"]
    assert queue.get_setting("auth:user:mallory") == "{}"


def test_unknown_routes_and_methods(client: Client) -> None:
    assert client.get("/api/nothing-here").status == 404
    assert client.get("/api/nothing-here").json() == {"error": "Not found"}
    reply = client.delete("/api/stats")
    assert reply.status == 405 and reply.json() == {"error": "Method not allowed"}


def test_a_storage_failure_is_a_500_without_details(queue: Queue, client: Client) -> None:
    queue.close()  # every storage call now fails inside the server
    reply = client.get("/api/stats")
    assert reply.status == 500
    assert reply.json() == {"error": "Internal server error"}


def test_every_route_of_the_table_is_served(client: Client) -> None:
    """No route of the table is shadowed: each answers something other than 404/405 for
    its own method (a made-up id may give 404 with its own message)."""
    for route in ROUTES:
        path = (
            route.path.replace("{job_id}", "01900000-0000-7000-8000-000000000000")
            .replace("{dead_id}", "none")
            .replace("{name}", "default")
            .replace("{key:path}", "some.key")
        )
        body = {"value": 1, "task_name": "t", "exception": "E"}
        reply = client.request(route.method, path, json_body=body)
        assert reply.status != 405, route
        if reply.status == 404:
            assert reply.json()["error"] != "Not found", route


def test_a_signed_queue_never_shows_unverified_arguments_or_results(tmp_path: Path) -> None:
    db = str(tmp_path / "signed.db")
    with Queue(db_path=db, signing_key="k" * 32) as signed, Queue(db_path=db) as unsigned:
        forged = unsigned.enqueue("add", args=("forged",))
        drive(unsigned, forged.id, JobStatus.COMPLETE, result="forged result")
        with serve(create_app(signed)) as port:
            client = Client(port)
            arguments = ok(client.get(f"/api/jobs/{forged.id}/arguments"))
            result = ok(client.get(f"/api/jobs/{forged.id}/result"))
    assert arguments["args"] is None and "unsigned payload" in arguments["error"]
    assert result["result"] is None and "signature check failed" in result["result_error"]
