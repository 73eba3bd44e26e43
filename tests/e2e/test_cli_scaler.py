"""``taskito scaler`` as a real process: it serves the KEDA payload, health, readiness and
metrics over HTTP for the project's Queue (with a real ``taskito worker`` registered), and
stops cleanly with status 0 on SIGTERM or SIGINT."""

from __future__ import annotations

import http.client
import json
import re
import signal
import subprocess
from typing import Any
from urllib.parse import urlsplit

import pytest

from taskito import Queue
from tests.e2e.cli_project import COMMAND_TIMEOUT_S, Project
from tests.helpers import wait_until

_LISTENING = re.compile(r"scaler listening on (http://\S+)")


def get(url: str, path: str) -> tuple[int, Any]:
    where = urlsplit(url)
    conn = http.client.HTTPConnection(where.hostname or "", where.port, timeout=10)
    try:
        conn.request("GET", path)
        answer = conn.getresponse()
        body = answer.read()
        if answer.headers["Content-Type"] == "application/json":
            return answer.status, json.loads(body)
        return answer.status, body.decode()
    finally:
        conn.close()


def status_of(queue: Queue, job_id: str) -> str:
    job = queue.get_job(job_id)
    assert job is not None, job_id
    return job.status


def start_scaler(project: Project, *args: str) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``taskito scaler`` on a free port; return the process and the URL it logged."""
    process = project.start("scaler", "--app", "app_module:queue", "--port", "0", *args, name="sc")

    def listening() -> str | None:
        assert process.poll() is None, project.output("sc")
        match = _LISTENING.search(project.output("sc")[1])
        return match.group(1) if match else None

    url = wait_until(listening, COMMAND_TIMEOUT_S, 0.05, message="the scaler listening")
    return process, url


def stops_with_status_0(project: Project, process: subprocess.Popen[bytes], signum: int) -> None:
    process.send_signal(signum)
    assert process.wait(COMMAND_TIMEOUT_S) == 0, project.output("sc")
    assert "scaler stopped" in project.output("sc")[1]


def test_the_scaler_serves_its_endpoints_and_stops_on_sigterm(
    project: Project, producer: Queue
) -> None:
    worker = project.start("worker", "--app", "app_module:queue", "--workers", "3", name="wk")
    process, url = start_scaler(project, "--target-queue-depth", "5")
    assert url.startswith("http://127.0.0.1:")

    def worker_live() -> bool:
        status, report = get(url, "/readiness")
        return status == 200 and report["checks"]["workers"]["count"] == 1

    wait_until(worker_live, COMMAND_TIMEOUT_S, 0.1, message="the worker registered")
    running = producer.enqueue("app_module.sleep_for", args=(60,)).id
    wait_until(lambda: status_of(producer, running) == "running", COMMAND_TIMEOUT_S)
    producer.enqueue("app_module.add", args=(1, 2), queue="later", delay=3600)

    status, payload = get(url, "/api/scaler")
    assert status == 200
    assert payload == {
        "metricName": "taskito_queue_depth",
        "metricValue": 1,
        "isActive": True,
        "liveWorkers": 1,
        "totalCapacity": 3,
        "targetQueueDepth": 5,
        "workerUtilization": 0.333,
        "perQueue": {
            "default": {"pending": 0, "running": 1},
            "later": {"pending": 1, "running": 0},
        },
    }
    status, later = get(url, "/api/scaler?queue=later")
    assert (status, later["metricName"], later["metricValue"]) == (
        200,
        "taskito_queue_depth_later",
        1,
    )
    assert get(url, "/health") == (200, {"status": "ok"})
    status, report = get(url, "/readiness")
    assert (status, report["status"]) == (200, "ready")
    assert report["checks"]["workers"]["capacity"] == 3
    status, _metrics = get(url, "/metrics")
    assert status in (200, 501)
    assert get(url, "/nope") == (404, {"error": "not found: /nope"})
    assert get(url, "/api/scaler?queue=")[0] == 400

    stops_with_status_0(project, process, signal.SIGTERM)
    with pytest.raises(ConnectionRefusedError):
        get(url, "/health")
    worker.send_signal(signal.SIGKILL)  # the sleeping job need not finish
    worker.wait(COMMAND_TIMEOUT_S)


def test_sigint_stops_it_too(project: Project) -> None:
    process, url = start_scaler(project)
    assert get(url, "/health")[0] == 200
    stops_with_status_0(project, process, signal.SIGINT)


def test_a_port_in_use_is_one_line_and_status_1(project: Project) -> None:
    first, url = start_scaler(project)
    port = str(urlsplit(url).port)
    result = project.run("scaler", "--app", "app_module:queue", "--port", port)
    assert result.returncode == 1, result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith(f"taskito scaler: error: [Errno 98] cannot listen on 127.0.0.1:{port}")
    assert "Traceback" not in result.stderr
    stops_with_status_0(project, first, signal.SIGTERM)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "70000"], "argument --port: expected a port between 0 and 65535, got 70000"),
        (["--port", "http"], "argument --port: expected a port number, got 'http'"),
        (["--target-queue-depth", "0"], "argument --target-queue-depth: expected a number >= 1"),
    ],
)
def test_bad_options_are_usage_errors(project: Project, args: list[str], message: str) -> None:
    result = project.run("scaler", "--app", "app_module:queue", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr


def test_help_lists_the_scaler(project: Project) -> None:
    result = project.run("--help")
    assert result.returncode == 0 and "scaler" in result.stdout
    assert project.run("scaler").returncode == 2  # --app is required
