"""The autoscaling surface: ``build_scaler_response`` (the payload KEDA's ``metrics-api``
trigger reads) and a small HTTP server for it with ``/health``, ``/readiness`` and
``/metrics`` (``serve_scaler`` in the foreground, ``start_scaler`` in the background;
``taskito scaler`` on the command line).

Routes, payloads and KEDA manifests: docs/observability.md and deploy/keda/.
"""

from __future__ import annotations

import importlib
import ipaddress
import json
import logging
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import taskito
from taskito import _checks
from taskito.contrib import install_hint
from taskito.health import (
    NOT_READY,
    WorkerCensus,
    check_health,
    check_queue,
    check_readiness,
    take_census,
)
from taskito.queue import checks as check

logger = logging.getLogger("taskito.scaler")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9091
DEFAULT_TARGET_QUEUE_DEPTH = 10
METRIC_NAME = "taskito_queue_depth"
#: What ``/metrics`` says when the Prometheus exporter cannot be imported.
METRICS_INSTALL_HINT = f"Prometheus metrics need prometheus_client: {install_hint('prometheus')}"
#: Seconds a connection may take to send its request (or read the reply) before it is
#: dropped: a stalled client cannot hold a thread, nor delay ``close()``, for longer.
REQUEST_TIMEOUT_S = 10.0


def build_scaler_response(
    queue: taskito.Queue,
    queue_name: str | None = None,
    target_queue_depth: int = DEFAULT_TARGET_QUEUE_DEPTH,
) -> dict[str, Any]:
    """The KEDA ``metrics-api`` payload, for every queue or for ``queue_name``.

    ``metricValue`` is the number of pending jobs (delayed ones included) and ``metricName``
    is ``taskito_queue_depth`` or ``taskito_queue_depth_<queue>``. ``isActive`` is true while
    jobs are pending or running, so a deployment is not scaled to zero under running jobs.
    ``liveWorkers`` counts workers that heartbeated within ``health.STALE_AFTER_S`` (for
    ``queue_name``, those that consume it); ``totalCapacity`` sums the job slots of those that
    take jobs (draining ones excluded) across every process on the storage, and
    ``workerUtilization`` is ``round(running / totalCapacity, 3)`` (0.0 without capacity).
    ``perQueue`` maps every queue with jobs to ``{pending, running}``. Two storage round
    trips: job counts per queue, and the worker table.
    """
    check_queue(queue)
    if queue_name is not None:
        queue_name = check.check_storable_name("queue_name", queue_name)
    target_queue_depth = _checks.check_int(
        "target_queue_depth",
        target_queue_depth,
        minimum=1,
        maximum=check.MAX_EXACT_INT,
        error=taskito.ConfigurationError,
    )
    per_queue = {
        name: {"pending": counts["pending"], "running": counts["running"]}
        for name, counts in sorted(queue.stats_all_queues().items())
    }
    census = take_census(queue.workers())
    if queue_name is None:
        pending = sum(counts["pending"] for counts in per_queue.values())
        running = sum(counts["running"] for counts in per_queue.values())
        metric_name = METRIC_NAME
    else:
        counts = per_queue.get(queue_name, {"pending": 0, "running": 0})
        pending, running = counts["pending"], counts["running"]
        metric_name = f"{METRIC_NAME}_{queue_name}"
        census = census.consuming(queue_name)
    return _payload(metric_name, pending, running, census, target_queue_depth, per_queue)


def _payload(
    metric_name: str,
    pending: int,
    running: int,
    census: WorkerCensus,
    target_queue_depth: int,
    per_queue: dict[str, dict[str, int]],
) -> dict[str, Any]:
    capacity = census.capacity
    return {
        "metricName": metric_name,
        "metricValue": pending,
        "isActive": pending > 0 or running > 0,
        "liveWorkers": len(census.live),
        "totalCapacity": capacity,
        "targetQueueDepth": target_queue_depth,
        "workerUtilization": round(running / capacity, 3) if capacity else 0.0,
        "perQueue": per_queue,
    }


# --- HTTP ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"


class BadRequest(ValueError):
    """A request the server refuses with 400 and this message."""


def _json(status: int, payload: Mapping[str, Any]) -> Reply:
    return Reply(status, json.dumps(payload, default=str).encode())


def _error(status: int, message: str) -> Reply:
    return _json(status, {"error": message})


Route = Callable[[dict[str, str]], Reply]
#: Path -> (its handler, the query parameters it accepts).
Routes = dict[str, tuple[Route, set[str]]]


def _routes(queue: taskito.Queue, target_queue_depth: int) -> Routes:
    """Path -> (handler of the query parameters, the parameters it accepts)."""

    def scaler(params: dict[str, str]) -> Reply:
        queue_name = params.get("queue")
        if queue_name is not None:
            try:
                queue_name = check.check_storable_name("queue", queue_name)
            except ValueError as exc:
                raise BadRequest(f"query parameter {exc}") from None
        return _json(200, build_scaler_response(queue, queue_name, target_queue_depth))

    def readiness(params: dict[str, str]) -> Reply:
        report = check_readiness(queue)
        return _json(503 if report["status"] == NOT_READY else 200, report)

    return {
        "/api/scaler": (scaler, {"queue"}),
        "/health": (lambda _params: _json(200, check_health()), set()),
        "/readiness": (readiness, set()),
        "/metrics": (lambda _params: _metrics(queue), set()),
    }


#: Modules whose absence means "no Prometheus exporter here" (501), not a bug (500).
_EXPORTER_MODULES = ("prometheus_client", "taskito.contrib", "taskito.contrib.prometheus")


def _metrics(queue: taskito.Queue) -> Reply:
    """Prometheus text from ``taskito.contrib.prometheus.render_metrics``, or 501 with the
    install hint when prometheus_client (or the exporter) is not installed."""
    try:
        exporter = importlib.import_module("taskito.contrib.prometheus")
    except ImportError as exc:
        # The exporter's own "install the extra" error names prometheus in its message.
        if exc.name in _EXPORTER_MODULES or "prometheus" in str(exc):
            return _error(501, METRICS_INSTALL_HINT)
        raise
    body, content_type = exporter.render_metrics(queue)
    return Reply(200, bytes(body), str(content_type))


def _query(raw: str, accepted: set[str]) -> dict[str, str]:
    """The query string as single values; unknown or repeated parameters are refused."""
    try:
        parsed = parse_qs(raw, keep_blank_values=True, strict_parsing=bool(raw))
    except ValueError:
        raise BadRequest(f"malformed query string {raw!r}") from None
    for name, values in parsed.items():
        if name not in accepted:
            allowed = ", ".join(sorted(accepted)) or "none"
            raise BadRequest(f"unknown query parameter {name!r} (accepted: {allowed})")
        if len(values) > 1:
            raise BadRequest(f"query parameter {name!r} is given {len(values)} times")
    return {name: values[0] for name, values in parsed.items()}


def _answer(routes: Routes, raw_path: str) -> Reply:
    """The reply to a GET of ``raw_path`` (path and query string)."""
    url = urlsplit(raw_path)
    found = routes.get(url.path)
    if found is None:
        return _error(404, f"not found: {url.path}")
    route, accepted = found
    try:
        return route(_query(url.query, accepted))
    except BadRequest as exc:
        return _error(400, str(exc))
    except taskito.StorageError as exc:
        logger.warning("scaler: storage failed on %s: %s", url.path, exc)
        return _error(503, f"storage unavailable: {exc}")
    except Exception:
        logger.exception("scaler: %s failed", url.path)
        return _error(500, "Internal server error")


def _refusal(routes: Routes, method: str, raw_path: str) -> Reply:
    """The reply to a method other than GET and HEAD."""
    path = urlsplit(raw_path).path
    if path not in routes:
        return _error(404, f"not found: {path}")
    return _error(405, f"{method} is not allowed on {path}; use GET")


def _make_scaler_handler(
    queue: taskito.Queue, target_queue_depth: int = DEFAULT_TARGET_QUEUE_DEPTH
) -> type[BaseHTTPRequestHandler]:
    """The request handler class of a scaler server for ``queue``: GET ``/api/scaler``
    (``?queue=``), ``/health``, ``/readiness`` and ``/metrics``; JSON ``{"error"}`` with 400
    for a bad query, 404 for another path, 405 for another method, 503 when storage fails."""
    check_queue(queue)
    _checks.check_int(
        "target_queue_depth", target_queue_depth, minimum=1, error=taskito.ConfigurationError
    )
    routes = _routes(queue, target_queue_depth)

    class ScalerHandler(BaseHTTPRequestHandler):
        timeout = REQUEST_TIMEOUT_S
        server_version = "taskito-scaler"
        sys_version = ""

        def do_GET(self) -> None:
            self._send(_answer(routes, self.path))

        def do_HEAD(self) -> None:
            self._send(_answer(routes, self.path), body=False)

        def _refuse(self) -> None:
            self._send(_refusal(routes, self.command, self.path))

        do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _refuse

        def _send(self, reply: Reply, *, body: bool = True) -> None:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            if reply.status == 405:
                self.send_header("Allow", "GET, HEAD")
            self.end_headers()
            if body:
                self.wfile.write(reply.body)

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("scaler: %s - " + format, self.address_string(), *args)

    return ScalerHandler


class _ScalerHTTPServer(ThreadingHTTPServer):
    # Request threads are daemons (a stalled storage cannot keep the process alive), and
    # ``server_close()`` still joins them (``block_on_close``), so closing leaks none.
    daemon_threads = True
    block_on_close = True


class _ScalerHTTPServerV6(_ScalerHTTPServer):
    address_family = socket.AF_INET6


class ScalerServer:
    """A scaler HTTP server answering on a background thread (``start_scaler``): ``url`` is
    where it listens; ``close()`` (or leaving the ``with`` block) stops it, waits for requests
    in progress and joins every thread it started."""

    def __init__(self, httpd: _ScalerHTTPServer) -> None:
        self._httpd = httpd
        self._closed = False
        self._close_lock = threading.Lock()
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="taskito-scaler",
            daemon=True,
        )
        self._thread.start()

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """``http://host:port`` (IPv6 hosts in brackets), without a trailing slash."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def close(self) -> None:
        """Stop serving and join the server's threads; safe to call more than once."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def __enter__(self) -> ScalerServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ScalerServer(url={self.url!r}, closed={self._closed})"


def start_scaler(
    queue: taskito.Queue,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    target_queue_depth: int = DEFAULT_TARGET_QUEUE_DEPTH,
) -> ScalerServer:
    """Listen on ``host:port`` (port 0: any free port) and answer on a background thread.
    A port that cannot be bound raises ``OSError`` naming the address."""
    handler = _make_scaler_handler(queue, target_queue_depth)
    host = check.check_storable_name("host", host)
    port = _checks.check_int(
        "port", port, minimum=0, maximum=65535, error=taskito.ConfigurationError
    )
    server_class = _ScalerHTTPServerV6 if ":" in host else _ScalerHTTPServer
    try:
        httpd = server_class((host, port), handler)
    except OSError as exc:
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    server = ScalerServer(httpd)
    if not _is_loopback(host):
        logger.warning(
            "the scaler serves queue counts without authentication on %s: keep it off "
            "untrusted networks (a cluster-internal Service, a NetworkPolicy)",
            server.url,
        )
    return server


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: assume it is reachable from elsewhere


def serve_scaler(
    queue: taskito.Queue,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    target_queue_depth: int = DEFAULT_TARGET_QUEUE_DEPTH,
    *,
    stop: threading.Event | None = None,
) -> None:
    """Serve in the foreground until ``stop`` is set (or ``KeyboardInterrupt``), then close
    the server. ``taskito scaler`` sets ``stop`` on SIGINT/SIGTERM."""
    with start_scaler(queue, host, port, target_queue_depth) as server:
        logger.info("scaler listening on %s", server.url, extra={"url": server.url})
        (stop or threading.Event()).wait()
    logger.info("scaler stopped", extra={"url": server.url})


__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "DEFAULT_TARGET_QUEUE_DEPTH",
    "METRIC_NAME",
    "ScalerServer",
    "build_scaler_response",
    "serve_scaler",
    "start_scaler",
]
