"""The periodic catalog's routes against a real uvicorn server (issue 18): pause, resume,
update and delete a schedule a real worker stored; admin only, with the CSRF header; unknown
names are 404s, bad crons and bodies 400s, and neither changes anything."""

from __future__ import annotations

from typing import Any

import pytest

from taskito import Queue
from tests.api.backends.support import worker_thread
from tests.dashboard.harness import Client
from tests.helpers import wait_until


@pytest.fixture
def stored(queue: Queue) -> Queue:
    """``queue`` with the schedule "nightly" stored by a worker that ran."""

    @queue.periodic("0 0 3 * * *", name="nightly", timezone="Europe/Paris")
    def nightly() -> None:
        return None

    with worker_thread(queue):
        wait_until(queue.list_periodic, message="stored")
    return queue


def _answer(reply: Any, status: int = 200) -> Any:
    assert reply.status == status, (reply.status, reply.body)
    return reply.json()


def _schedule(client: Client) -> dict[str, Any]:
    (schedule,) = _answer(client.get("/api/periodic"))
    return dict(schedule)


def test_an_admin_pauses_resumes_updates_and_deletes(stored: Queue, admin: Client) -> None:
    assert _answer(admin.post("/api/periodic/nightly/pause")) == {"paused": "nightly"}
    assert _schedule(admin)["enabled"] is False
    assert _answer(admin.post("/api/periodic/nightly/resume")) == {"resumed": "nightly"}
    assert _schedule(admin)["enabled"] is True

    updated = admin.put("/api/periodic/nightly", {"cron": "0 30 4 * * *"})
    assert _answer(updated) == {"updated": "nightly", "cron": "0 30 4 * * *"}
    schedule = _schedule(admin)
    assert (schedule["cron_expr"], schedule["timezone"]) == ("0 30 4 * * *", "Europe/Paris")
    to_utc = admin.put("/api/periodic/nightly", {"cron": "0 0 5 * * *", "timezone": None})
    assert to_utc.status == 200, to_utc.body
    assert _schedule(admin)["timezone"] is None

    assert _answer(admin.delete("/api/periodic/nightly")) == {"deleted": "nightly"}
    assert _answer(admin.get("/api/periodic")) == []


def test_bad_requests_change_nothing(stored: Queue, admin: Client) -> None:
    before = _answer(admin.get("/api/periodic"))
    for reply in (
        admin.post("/api/periodic/missing/pause"),
        admin.post("/api/periodic/missing/resume"),
        admin.put("/api/periodic/missing", {"cron": "* * * * * *"}),
        admin.delete("/api/periodic/missing"),
    ):
        assert _answer(reply, 404) == {"error": "no periodic schedule named 'missing'"}
    bad_cron = _answer(admin.put("/api/periodic/nightly", {"cron": "61 * * * * *"}), 400)
    assert "61" in bad_cron["error"]
    bad_zone = admin.put("/api/periodic/nightly", {"cron": "* * * * * *", "timezone": "Mars/X"})
    assert "Mars/X" in _answer(bad_zone, 400)["error"]
    no_cron = _answer(admin.put("/api/periodic/nightly", {}), 400)
    assert no_cron == {"error": "cron must be a non-empty string"}
    extra = _answer(admin.put("/api/periodic/nightly", {"cron": "* * * * * *", "every": 5}), 400)
    assert extra == {"error": "unknown field(s) every: expected cron, timezone"}
    zone_type = admin.put("/api/periodic/nightly", {"cron": "* * * * * *", "timezone": 3})
    assert _answer(zone_type, 400) == {"error": "timezone must be a string or null"}
    assert _answer(admin.get("/api/periodic")) == before


def test_a_viewer_and_a_request_without_csrf_are_refused(
    stored: Queue, viewer: Client, admin: Client
) -> None:
    for reply in (
        viewer.post("/api/periodic/nightly/pause"),
        viewer.put("/api/periodic/nightly", {"cron": "* * * * * *"}),
        viewer.delete("/api/periodic/nightly"),
    ):
        assert reply.status == 403, reply.body
    assert admin.post("/api/periodic/nightly/pause", csrf=False).status == 403
    assert admin.delete("/api/periodic/nightly", csrf=False).status == 403
    assert _schedule(admin)["enabled"] is True
