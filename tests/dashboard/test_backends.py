"""The JSON layer on SQLite, Postgres and Redis (jobs run by a real worker where statuses
matter), the served app on each, and the event loop answering while storage is blocked."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from taskito import Queue
from taskito.dashboard import Users, create_app
from taskito.dashboard.api import dead_letters, jobs, queues, settings, system
from taskito.dashboard.api.errors import ApiError
from taskito.dashboard.api.params import Cursor, Page
from taskito.dashboard.auth import Sessions
from tests.api.backends.support import BACKEND_NAMES, Backend, open_backend, worker_thread
from tests.dashboard.harness import ADMIN, TEST_PASSWORD_COST, Client, Forwarder, serve
from tests.dashboard.tasks import register
from tests.helpers import require_redis, wait_until


@pytest.fixture(params=BACKEND_NAMES)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with open_backend(request.param, tmp_path) as opened:
        yield opened


@pytest.fixture
def queue(backend: Backend) -> Queue:
    return backend.queue()


def test_counts_queues_and_job_pages(queue: Queue) -> None:
    ids = [r.id for r in queue.enqueue_many("add", args_list=[(i, i) for i in range(120)])]
    other = queue.enqueue("add", args=(0, 0), queue="emails")
    newest = [other.id, *reversed(ids)]
    assert queues.stats(queue)["pending"] == 121
    assert queues.queue_stats(queue, "emails")["pending"] == 1
    assert queues.queue_stats(queue, None)["default"]["pending"] == 120
    assert [row["name"] for row in queues.list_queues(queue)] == ["default", "emails"]
    assert queues.list_queues(queue)[1] == {
        "name": "emails",
        **dict.fromkeys(queues.QUEUE_COUNTS, 0),
        "pending": 1,
        "paused": False,
    }
    query = jobs.JobQuery()
    assert [j["id"] for j in jobs.list_jobs(queue, query, Page(10, offset=5))] == newest[5:15]
    seen: list[str] = []
    cursor = None
    while True:
        page = jobs.list_jobs(queue, query, Page(25, cursor=cursor))
        if not page:
            break
        seen += [row["id"] for row in page]
        cursor = Cursor(page[-1]["created_at"], page[-1]["id"])
    assert seen == newest
    by_id = jobs.list_jobs(queue, jobs.JobQuery(queue="default"), Page(3, after_id=ids[-1]))
    assert [row["id"] for row in by_id] == newest[2:5]
    assert jobs.get_job(queue, other.id)["queue"] == "emails"
    with pytest.raises(ApiError) as missing:
        jobs.get_job(queue, "01900000-0000-7000-8000-000000000000")
    assert missing.value.status == 404


def test_cancel_pause_and_dead_letters_with_a_real_worker(queue: Queue) -> None:
    tasks = register(queue)
    waiting = tasks["wait_for_cancel"].delay()  # type: ignore[attr-defined]
    doomed = [tasks["boom"].delay(str(i)) for i in range(3)]  # type: ignore[attr-defined]
    with worker_thread(queue):
        wait_until(lambda: jobs.get_job(queue, waiting.id)["status"] == "running", timeout_s=10)
        assert jobs.cancel_job(queue, waiting.id, force=False)["outcome"] == "requested"
        wait_until(lambda: jobs.get_job(queue, waiting.id)["status"] == "cancelled", timeout_s=10)
        wait_until(lambda: queues.stats(queue)["dead"] == 3, timeout_s=10)
        assert queues.pause_queue(queue, "default") == {"paused": "default"}
        assert queues.paused_queues(queue) == ["default"]
        assert len(system.workers(queue)) == 1
    assert jobs.cancel_job(queue, waiting.id, force=True)["outcome"] == "finished"
    groups = dead_letters.dead_letter_groups(queue)
    assert [(g["task_name"], g["exception"], g["count"]) for g in groups] == [
        ("boom", "ValueError", 3)
    ]
    letters = dead_letters.list_dead_letters(queue, Page(10))
    assert {letter["original_job_id"] for letter in letters} == {job.id for job in doomed}
    assert jobs.job_errors(queue, doomed[0].id)[0]["error"].endswith("ValueError: 0")
    retried = dead_letters.retry_dead_group(queue, "boom", "ValueError")
    assert retried["retried"] == 3
    assert dead_letters.list_dead_letters(queue, Page(10)) == []
    queues.resume_queue(queue, "default")
    with worker_thread(queue):
        wait_until(lambda: queues.stats(queue)["dead"] == 6, timeout_s=10)
    assert dead_letters.purge_dead_letters(queue, 0) == {"purged": 3}


def test_results_arguments_and_logs(queue: Queue) -> None:
    tasks = register(queue)
    added = tasks["add"].delay(20, 22)  # type: ignore[attr-defined]
    chatty = tasks["chatty"].delay()  # type: ignore[attr-defined]
    with worker_thread(queue):
        chatty.result(timeout=10)
        added.result(timeout=10)
    assert jobs.job_result(queue, added.id)["result"] == 42
    assert jobs.job_arguments(queue, added.id)["args"] == [20, 22]
    assert [line["message"] for line in jobs.job_logs(queue, chatty.id)] == ["started", "warned"]
    tail = system.logs(queue, task="chatty", level=None, since_s=60, limit=10, after_id=None)
    assert [line["message"] for line in tail] == ["warned", "started"]
    replay = jobs.replay_job(queue, added.id)
    assert jobs.job_replay_history(queue, added.id)[0]["replay_job_id"] == replay["replay_job_id"]


def test_settings_users_and_sessions(queue: Queue) -> None:
    assert settings.put_setting(queue, "dashboard.title", {"value": {"a": 1}})["value"] == '{"a":1}'
    users = Users(queue, password_cost=TEST_PASSWORD_COST)
    users.create(*ADMIN, role="admin")
    token, session = Sessions(queue).create(ADMIN[0])
    assert Sessions(queue).get(token) == session
    assert set(settings.list_settings(queue)) == {"dashboard.title"}
    assert users.authenticate(*ADMIN) is not None
    users.delete(ADMIN[0])
    assert Sessions(queue).get(token) is None
    assert settings.delete_setting(queue, "dashboard.title") == {"deleted": True}


def test_served_over_http(queue: Queue) -> None:
    job = queue.enqueue("add", args=(1, 1))
    with serve(create_app(queue)) as port:
        client = Client(port)
        client.prime()
        assert client.get("/api/stats").json()["pending"] == 1
        assert client.get(f"/api/jobs/{job.id}").json()["id"] == job.id
        assert client.post(f"/api/jobs/{job.id}/cancel").json()["outcome"] == "cancelled"


def test_the_event_loop_answers_while_storage_is_blocked(tmp_path: Path) -> None:
    """A storage call stuck on a lock (a Postgres table lock taken by another session)
    holds one worker thread, never the event loop."""
    with open_backend("postgres", tmp_path) as postgres:
        queue = postgres.queue()
        url, schema = postgres.target.kwargs["db_url"], postgres.target.kwargs["schema"]
        answers = _stats_while_locked(queue, url, schema)
    assert answers == [200]


def _stats_while_locked(queue: Queue, url: str, schema: str) -> list[int]:
    import psycopg
    from psycopg import sql

    with serve(create_app(queue)) as port, psycopg.connect(url) as locker:
        locker.execute(
            sql.SQL("LOCK TABLE {}.jobs IN ACCESS EXCLUSIVE MODE").format(sql.Identifier(schema))
        )
        answers: list[int] = []
        blocked = threading.Thread(
            target=lambda: answers.append(Client(port).get("/api/stats").status)
        )
        blocked.start()
        try:
            for _ in range(5):
                assert Client(port).get("/health").status == 200
                assert Client(port).get("/static/app.js").status == 200
            assert answers == []  # still waiting on the lock
        finally:
            locker.rollback()
            blocked.join(30)
    return answers


def test_unreachable_storage_is_503(tmp_path: Path) -> None:
    """Redis behind a forwarder that is then cut: the API answers 503, /health still 200."""
    import redis

    real_url = require_redis()
    url = urlsplit(real_url)
    prefix = f"t{uuid.uuid4().hex[:16]}"
    forwarder = Forwarder((url.hostname or "127.0.0.1", url.port or 6379))
    try:
        queue = Queue(
            backend="redis", db_url=f"redis://127.0.0.1:{forwarder.port}{url.path}", schema=prefix
        )
        with queue, serve(create_app(queue)) as port:
            client = Client(port)
            assert client.get("/api/stats").status == 200
            forwarder.cut()
            reply = client.get("/api/stats")
            assert reply.status == 503
            assert reply.json() == {"error": "Storage unavailable"}
            assert client.get("/health").status == 200
    finally:
        forwarder.cut()
        cleaner = redis.Redis.from_url(real_url)
        keys = list(cleaner.scan_iter(match=f"{prefix}:*"))
        if keys:
            cleaner.unlink(*keys)
        cleaner.close()
