"""The runtime-override routes against a real uvicorn server (issue 18): tasks with their
override, a task's and a queue's override (GET, PUT, DELETE), middleware switches; admin only
with CSRF; bad fields are 400s naming them and change nothing; an unknown task is a 404."""

from __future__ import annotations

from typing import Any

import pytest

from taskito import Queue, TaskMiddleware
from tests.dashboard.harness import Client


class Audit(TaskMiddleware):
    name = "audit"


@pytest.fixture
def tasks(queue: Queue) -> Queue:
    queue._global_middleware.append(Audit())

    @queue.task(name="send", rate_limit="10/m", timeout=30)
    def send() -> None: ...

    return queue


def _answer(reply: Any, status: int = 200) -> Any:
    assert reply.status == status, (reply.status, reply.body)
    return reply.json()


def test_task_overrides_through_the_routes(tasks: Queue, admin: Client) -> None:
    (row,) = _answer(admin.get("/api/tasks"))
    assert row == {
        "name": "send",
        "queue": "default",
        "defaults": {"rate_limit": "10/m", "max_concurrent": None, "timeout": 30.0},
        "override": None,
        "effective": {"rate_limit": "10/m", "max_concurrent": None, "timeout": 30.0},
        "paused": False,
        "disabled_middleware": [],
    }
    stored = _answer(admin.put("/api/tasks/send/override", {"paused": True, "timeout": 5}))
    assert stored == {"rate_limit": None, "max_concurrent": None, "timeout": 5.0, "paused": True}
    assert _answer(admin.get("/api/tasks/send/override")) == stored
    (row,) = _answer(admin.get("/api/tasks"))
    assert row["paused"] is True
    assert row["effective"] == {"rate_limit": "10/m", "max_concurrent": None, "timeout": 5.0}
    assert _answer(admin.delete("/api/tasks/send/override")) == {"cleared": True}
    assert _answer(admin.get("/api/tasks/send/override")) is None


def test_queue_overrides_through_the_routes(tasks: Queue, admin: Client) -> None:
    assert _answer(admin.get("/api/queues/mail/override")) == {"override": None, "paused": False}
    both = _answer(admin.put("/api/queues/mail/override", {"max_concurrent": 2, "paused": True}))
    assert both == {
        "override": {"rate_limit": None, "max_concurrent": 2},
        "paused": True,
    }
    assert tasks.paused_queues() == ["mail"]
    assert _answer(admin.delete("/api/queues/mail/override")) == {"cleared": True}


def test_middleware_switches_through_the_routes(tasks: Queue, admin: Client) -> None:
    assert _answer(admin.get("/api/middleware")) == [{"name": "audit", "scope": "global"}]
    off = admin.put("/api/tasks/send/middleware/audit", {"enabled": False})
    assert _answer(off) == {"disabled": ["audit"]}
    assert _answer(admin.get("/api/tasks/send/middleware")) == {"disabled": ["audit"]}
    on = admin.put("/api/tasks/send/middleware/audit", {"enabled": True})
    assert _answer(on) == {"disabled": []}
    admin.put("/api/tasks/send/middleware/audit", {"enabled": False})
    assert _answer(admin.delete("/api/tasks/send/middleware")) == {"cleared": True}


def test_bad_requests_change_nothing(tasks: Queue, admin: Client) -> None:
    def refused(reply: Any, status: int = 400) -> str:
        message: str = _answer(reply, status)["error"]
        return message

    assert "invalid rate_limit '-5/s'" in refused(
        admin.put("/api/tasks/send/override", {"rate_limit": "-5/s"})
    )
    assert "unknown override field(s) priority" in refused(
        admin.put("/api/tasks/send/override", {"priority": 3})
    )
    assert "give at least one field" in refused(admin.put("/api/tasks/send/override", {}))
    assert refused(admin.put("/api/tasks/nope/override", {"paused": True}), 404) == (
        "task 'nope' is not registered on this queue"
    )
    assert "max_concurrent must be a whole number >= 1" in refused(
        admin.put("/api/queues/mail/override", {"max_concurrent": -1})
    )
    assert "no middleware named 'gzip'" in refused(
        admin.put("/api/tasks/send/middleware/gzip", {"enabled": False})
    )
    assert refused(admin.put("/api/tasks/send/middleware/audit", {"enabled": "no"})) == (
        "enabled must be true or false"
    )
    assert tasks.list_task_overrides() == {} and tasks.list_queue_overrides() == {}
    assert tasks.get_disabled_middleware_for("send") == []


def test_viewers_read_and_cannot_write(tasks: Queue, viewer: Client, admin: Client) -> None:
    assert viewer.get("/api/tasks").status == 200
    assert viewer.put("/api/tasks/send/override", {"paused": True}).status == 403
    assert viewer.delete("/api/tasks/send/override").status == 403
    assert viewer.put("/api/queues/mail/override", {"paused": True}).status == 403
    assert viewer.put("/api/tasks/send/middleware/audit", {"enabled": False}).status == 403
    assert admin.put("/api/tasks/send/override", {"paused": True}, csrf=False).status == 403
    assert tasks.list_task_overrides() == {} and tasks.paused_queues() == []
