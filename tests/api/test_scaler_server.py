"""The scaler HTTP server (``taskito.scaler``) on a real socket over SQLite: its routes, the
errors it answers with, and that closing it stops serving and joins its threads."""

from __future__ import annotations

import http.client
import json
import logging
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from prometheus_client.parser import text_string_to_metric_families

from taskito import Queue
from taskito.scaler import (
    METRICS_INSTALL_HINT,
    ScalerServer,
    _make_scaler_handler,
    serve_scaler,
    start_scaler,
)
from tests.helpers import wait_until


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        assert self.headers["Content-Type"] == "application/json", self.headers
        return json.loads(self.body)


def request(url: str, path: str, method: str = "GET") -> Response:
    where = urlsplit(url)
    conn = http.client.HTTPConnection(where.hostname or "", where.port, timeout=10)
    try:
        conn.request(method, path)
        answer = conn.getresponse()
        return Response(answer.status, answer.headers, answer.read())
    finally:
        conn.close()


@pytest.fixture
def server(queue: Queue) -> Iterator[ScalerServer]:
    with start_scaler(queue, port=0, target_queue_depth=7) as started:
        yield started


def test_api_scaler_answers_the_payload_for_all_queues_or_one(
    queue: Queue, server: ScalerServer
) -> None:
    queue.enqueue("t", queue="a")
    queue.enqueue("t", queue="b")
    queue.enqueue("t", queue="b")
    everything = request(server.url, "/api/scaler")
    assert everything.status == 200
    payload = everything.json()
    assert (payload["metricName"], payload["metricValue"]) == ("taskito_queue_depth", 3)
    assert payload["targetQueueDepth"] == 7
    assert payload["perQueue"] == {
        "a": {"pending": 1, "running": 0},
        "b": {"pending": 2, "running": 0},
    }
    one = request(server.url, "/api/scaler?queue=b").json()
    assert (one["metricName"], one["metricValue"]) == ("taskito_queue_depth_b", 2)
    escaped = request(server.url, "/api/scaler?queue=b%20c").json()
    assert (escaped["metricName"], escaped["metricValue"]) == ("taskito_queue_depth_b c", 0)
    assert everything.headers["Cache-Control"] == "no-store"
    assert everything.headers["X-Content-Type-Options"] == "nosniff"


def test_health_and_readiness(server: ScalerServer) -> None:
    health = request(server.url, "/health")
    assert (health.status, health.json()) == (200, {"status": "ok"})
    ready = request(server.url, "/readiness")
    assert ready.status == 200
    assert ready.json()["status"] == "ready"
    assert set(ready.json()["checks"]) == {"storage", "workers", "resources"}


def test_readiness_and_the_scaler_answer_503_when_storage_fails(
    queue: Queue, server: ScalerServer
) -> None:
    queue.close()
    ready = request(server.url, "/readiness")
    assert ready.status == 503
    assert ready.json()["status"] == "not_ready"
    assert ready.json()["checks"]["storage"]["status"] == "error"
    scaler = request(server.url, "/api/scaler")
    assert scaler.status == 503
    assert re.fullmatch(r"storage unavailable: storage .* is closed", scaler.json()["error"])
    # Liveness does not depend on storage.
    assert request(server.url, "/health").status == 200


def test_metrics_serves_the_queue_depth_gauge_the_keda_prometheus_trigger_reads(
    queue: Queue, server: ScalerServer
) -> None:
    queue.enqueue("t", queue="a")
    # prometheus_client is a test dependency, so the real exporter answers here; the 501
    # branch (no exporter installed) is covered by the install-hint tests of tests/contrib.
    metrics = request(server.url, "/metrics")
    assert metrics.status == 200
    assert metrics.headers["Content-Type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(metrics.body.decode())}
    depth = families["taskito_queue_depth"]
    labels = {tuple(sorted(sample.labels)) for sample in depth.samples}
    assert labels == {("queue", "status")}, "the KEDA query filters on queue and status"
    assert "pip install" in METRICS_INSTALL_HINT and "[prometheus]" in METRICS_INSTALL_HINT


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/api/scaler?queue=", "query parameter queue must be a non-empty string"),
        ("/api/scaler?queue=a%00b", "query parameter queue holds a NUL character at index 1"),
        ("/api/scaler?queue=a&queue=b", "query parameter 'queue' is given 2 times"),
        ("/api/scaler?qeue=a", "unknown query parameter 'qeue' (accepted: queue)"),
        ("/api/scaler?queue", "malformed query string 'queue'"),
        ("/health?verbose=1", "unknown query parameter 'verbose' (accepted: none)"),
        ("/readiness?x=", "unknown query parameter 'x' (accepted: none)"),
    ],
)
def test_a_bad_query_is_a_400_naming_the_problem(
    server: ScalerServer, path: str, message: str
) -> None:
    answer = request(server.url, path)
    assert answer.status == 400
    assert answer.json()["error"].startswith(message)


@pytest.mark.parametrize("path", ["/", "/api", "/api/scaler/", "/health/x", "/api/stats"])
def test_any_other_path_is_a_404_in_json(server: ScalerServer, path: str) -> None:
    answer = request(server.url, path)
    assert (answer.status, answer.json()) == (404, {"error": f"not found: {path}"})
    assert request(server.url, path, "POST").status == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_on_a_route_are_a_405(server: ScalerServer, method: str) -> None:
    answer = request(server.url, "/api/scaler", method)
    assert answer.status == 405
    assert answer.headers["Allow"] == "GET, HEAD"
    assert answer.json() == {"error": f"{method} is not allowed on /api/scaler; use GET"}


def test_head_answers_the_headers_of_get_without_a_body(server: ScalerServer) -> None:
    head = request(server.url, "/health", "HEAD")
    assert head.status == 200 and head.body == b""
    assert int(head.headers["Content-Length"]) == len(json.dumps({"status": "ok"}))


def server_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "taskito-scaler"]


def test_close_stops_serving_joins_its_threads_and_may_be_repeated(queue: Queue) -> None:
    server = start_scaler(queue, port=0)
    assert request(server.url, "/health").status == 200
    assert len(server_threads()) == 1
    server.close()
    assert server_threads() == []
    with pytest.raises(ConnectionRefusedError):
        request(server.url, "/health")
    server.close()
    assert "closed=True" in repr(server)


def test_a_port_in_use_is_an_oserror_naming_the_address(queue: Queue, server: ScalerServer) -> None:
    with pytest.raises(
        OSError, match=rf"^\[Errno \d+\] cannot listen on 127\.0\.0\.1:{server.port}"
    ):
        start_scaler(queue, port=server.port)


def test_ipv6_loopback(queue: Queue) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        server = start_scaler(queue, host="::1", port=0)
    except OSError as exc:
        pytest.skip(f"cannot bind ::1 here: {exc}")
    with server:
        assert server.url == f"http://[::1]:{server.port}"
        assert request(server.url, "/health").status == 200


def test_listening_beyond_loopback_warns_that_there_is_no_authentication(
    queue: Queue, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "taskito.scaler"):
        with start_scaler(queue, host="127.0.0.1", port=0):
            pass
        assert not caplog.records
        with start_scaler(queue, host="0.0.0.0", port=0) as server:
            assert request(f"http://127.0.0.1:{server.port}", "/health").status == 200
    assert "without authentication" in caplog.records[0].getMessage()


def test_serve_scaler_serves_in_the_foreground_until_stop_is_set(queue: Queue) -> None:
    stop = threading.Event()
    port = free_port()
    runner = threading.Thread(
        target=serve_scaler, args=(queue, "127.0.0.1", port), kwargs={"stop": stop}
    )
    runner.start()
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _answers(url), 10, 0.02, message="the server answered")
    finally:
        stop.set()
        runner.join(10)
    assert not runner.is_alive()
    assert server_threads() == []


def _answers(url: str) -> bool:
    try:
        return request(url, "/health").status == 200
    except ConnectionRefusedError:
        return False


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"port": -1}, ValueError, "port must be >= 0, got -1"),
        ({"port": 65536}, ValueError, "port must be <= 65535, got 65536"),
        ({"port": "80"}, TypeError, "port must be an int, not str"),
        ({"host": ""}, ValueError, "host must be a non-empty string"),
        ({"host": None}, TypeError, "host must be a str, not NoneType"),
        ({"target_queue_depth": 0}, ValueError, "target_queue_depth must be >= 1, got 0"),
    ],
)
def test_start_scaler_refuses_bad_arguments(
    queue: Queue, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match="^" + re.escape(message)):
        start_scaler(queue, **kwargs)


def test_the_handler_refuses_what_is_not_a_queue() -> None:
    with pytest.raises(TypeError, match=r"^queue must be a taskito\.Queue, not str"):
        _make_scaler_handler("queue", 10)


def test_the_handler_refuses_a_bad_target(queue: Queue) -> None:
    with pytest.raises(ValueError, match=r"^target_queue_depth must be >= 1, got 0"):
        _make_scaler_handler(queue, 0)
    with pytest.raises(TypeError, match=r"^target_queue_depth must be an int, not bool"):
        _make_scaler_handler(queue, True)
