"""The operations routes against a real uvicorn server: task metrics and their time series,
readiness (503 when storage does not answer), the KEDA scaler payload, the Prometheus text
(a bearer token for scrapers; 501 in an installation without prometheus_client) and the
stored periodic schedules; with jobs run by a real worker."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from taskito import Queue
from taskito.dashboard import Users, create_app
from taskito.dashboard.api.operations import PROMETHEUS_MISSING
from tests.api.backends.support import worker_thread
from tests.dashboard.harness import TEST_PASSWORD_COST, Client, serve
from tests.dashboard.tasks import register
from tests.helpers import wait_until

SUMMARY_KEYS = {
    "count", "success_count", "failure_count", "avg_ms", "p50_ms", "p95_ms", "p99_ms",
    "min_ms", "max_ms",
}  # fmt: skip
BUCKET_KEYS = {"timestamp", "count", "success", "failure", "avg_ms", "p50_ms", "p95_ms", "p99_ms"}


def ok(reply: Any) -> Any:
    assert reply.status == 200, (reply.status, reply.body)
    return reply.json()


def refused(reply: Any, status: int = 400) -> str:
    assert reply.status == status, (reply.status, reply.body)
    message: str = reply.json()["error"]
    return message


def test_task_metrics_and_their_time_series(queue: Queue, client: Client) -> None:
    tasks = register(queue)
    for i in range(3):
        tasks["add"].delay(i, i)  # type: ignore[attr-defined]
    tasks["boom"].delay("no")  # type: ignore[attr-defined]
    with worker_thread(queue):
        wait_until(lambda: queue.stats()["completed"] == 3 and queue.stats()["dead"] == 1)
    every = ok(client.get("/api/metrics"))
    assert set(every) == {"add", "boom"}
    assert set(every["add"]) == SUMMARY_KEYS
    assert (every["add"]["count"], every["add"]["success_count"]) == (3, 3)
    assert (every["boom"]["count"], every["boom"]["failure_count"]) == (1, 1)
    assert set(ok(client.get("/api/metrics?task=boom&since=600"))) == {"boom"}
    assert ok(client.get("/api/metrics?task=nothing")) == {}

    series = ok(client.get("/api/metrics/timeseries?since=3600&bucket=60"))
    assert series and set(series[0]) == BUCKET_KEYS
    assert sum(b["success"] for b in series) == 3 and sum(b["failure"] for b in series) == 1
    assert all(b["timestamp"] % 60_000 == 0 for b in series)
    only_add = ok(client.get("/api/metrics/timeseries?task=add&bucket=3600"))
    assert [b["count"] for b in only_add] in ([3], [1, 2], [2, 1])  # an hour boundary may cut

    assert "since must be at least 0" in refused(client.get("/api/metrics?since=-1"))
    assert "since must be an integer" in refused(client.get("/api/metrics?since=1.5"))
    assert "bucket must be at least 1" in refused(client.get("/api/metrics/timeseries?bucket=0"))
    assert "task must not contain" in refused(client.get("/api/metrics?task=a%0Ab"))


def test_periodic_schedules_once_a_worker_stored_them(queue: Queue, client: Client) -> None:
    assert ok(client.get("/api/periodic")) == []

    @queue.periodic("0 0 3 * * *", name="nightly", timezone="Europe/Paris")
    def nightly() -> None:
        return None

    with worker_thread(queue):
        wait_until(lambda: queue.list_periodic())
    (schedule,) = ok(client.get("/api/periodic"))
    assert schedule["name"] == "nightly" and schedule["cron_expr"] == "0 0 3 * * *"
    assert schedule["timezone"] == "Europe/Paris" and schedule["enabled"] is True
    assert schedule["last_run"] is None
    assert isinstance(schedule["next_run"], int) and schedule["next_run"] % 1000 == 0


def test_readiness_and_the_scaler_payload(queue: Queue, client: Client) -> None:
    queue.enqueue("add", args=(1, 1), queue="emails")
    queue.enqueue("add", args=(2, 2), queue="emails")
    queue.enqueue("add", args=(3, 3), queue="reports")
    ready = ok(client.get("/readiness"))
    assert ready["status"] == "ready"
    assert ready["checks"]["storage"]["status"] == "ok"
    assert ready["checks"]["workers"]["status"] == "none"  # nothing consumes: still ready

    payload = ok(client.get("/api/scaler"))
    assert payload["metricName"] == "taskito_queue_depth" and payload["metricValue"] == 3
    assert payload["perQueue"] == {
        "emails": {"pending": 2, "running": 0},
        "reports": {"pending": 1, "running": 0},
    }
    emails = ok(client.get("/api/scaler?queue=emails"))
    assert (emails["metricName"], emails["metricValue"]) == ("taskito_queue_depth_emails", 2)
    assert "queue must not contain" in refused(client.get("/api/scaler?queue=a%01"))
    queue.pause("emails")
    queue.pause("reports")
    with worker_thread(queue, queues=["emails"]):
        # The worker thread runs before its first heartbeat has registered it in storage.
        wait_until(lambda: len(queue.workers()) == 1, message="the worker registered")
        checks = ok(client.get("/readiness"))["checks"]
        assert (checks["workers"]["status"], checks["workers"]["count"]) == ("ok", 1)
        assert ok(client.get("/api/scaler?queue=emails"))["liveWorkers"] == 1
        assert ok(client.get("/api/scaler?queue=reports"))["liveWorkers"] == 0


def test_readiness_answers_503_when_storage_does_not(tmp_path: Path) -> None:
    queue = Queue(db_path=str(tmp_path / "gone.db"))
    with serve(create_app(queue, auth=False)) as port:
        client = Client(port)
        assert ok(client.get("/readiness"))["status"] == "ready"
        queue.close()
        reply = client.get("/readiness")
        assert reply.status == 503
        body = reply.json()
        assert body["status"] == "not_ready" and body["checks"]["storage"]["status"] == "error"
        assert ok(client.get("/health")) == {"status": "ok"}


def test_prometheus_text_for_a_scraper_with_a_token(queue: Queue, secured_port: int) -> None:
    queue.enqueue("add", args=(1, 1), queue="emails")
    token = Users(queue, password_cost=TEST_PASSWORD_COST).create_token("prometheus", "viewer")
    scraper = Client(secured_port)
    assert refused(scraper.get("/metrics"), 401) == "not_authenticated"
    assert refused(scraper.get("/readiness"), 401) == "not_authenticated"
    reply = scraper.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert reply.status == 200
    assert (reply.header("content-type") or "").startswith("text/plain")
    assert reply.header("cache-control") == "no-store"
    families = {f.name: f for f in text_string_to_metric_families(reply.text)}
    depth = {
        (s.labels["queue"], s.labels["status"]): s.value
        for s in families["taskito_queue_depth"].samples
    }
    assert depth[("emails", "pending")] == 1
    readiness = scraper.get("/readiness", headers={"Authorization": f"Bearer {token}"})
    assert ok(readiness)["status"] == "ready"


BARE_SERVER = """
import sys
import uvicorn
from taskito import Queue
from taskito.dashboard import create_app

queue = Queue(db_path=sys.argv[1])
uvicorn.run(create_app(queue), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


def site_without(tmp_path: Path, *left_out: str) -> Path:
    """A folder that mirrors this interpreter's site-packages, less ``left_out``'s files: an
    installation without those packages."""
    site = Path(next(p for p in sys.path if p.endswith("site-packages")))
    mirror = tmp_path / "site"
    mirror.mkdir()
    for entry in site.iterdir():
        if not entry.name.startswith(left_out) and not entry.name.endswith(".pth"):
            (mirror / entry.name).symlink_to(entry)
    return mirror


def test_prometheus_text_is_501_without_prometheus_client(tmp_path: Path) -> None:
    source = Path(__file__).resolve().parents[2] / "src"
    site = site_without(tmp_path, "prometheus_client")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(source), str(site)])}
    server = subprocess.Popen(
        [sys.executable, "-S", "-c", textwrap.dedent(BARE_SERVER), str(tmp_path / "q.db"),
         str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        client = Client(port)

        def answers() -> bool:
            try:
                return client.get("/health").status == 200
            except OSError:
                assert server.poll() is None, server.communicate()
                return False

        wait_until(answers, timeout_s=20)
        assert refused(client.get("/metrics"), 501) == PROMETHEUS_MISSING
        assert ok(client.get("/readiness"))["status"] == "ready"
    finally:
        server.send_signal(signal.SIGINT)
        _, err = server.communicate(timeout=20)
    assert server.returncode == 0, err


@pytest.mark.parametrize("path", ["/api/metrics", "/api/metrics/timeseries", "/api/scaler",
                                  "/api/periodic", "/readiness", "/metrics"])  # fmt: skip
def test_a_viewer_reads_every_operations_route(path: str, queue: Queue, viewer: Client) -> None:
    reply = viewer.get(path)
    assert reply.status == 200, (path, reply.body)
