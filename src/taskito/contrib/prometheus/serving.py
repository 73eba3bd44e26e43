"""Serving the metrics: ``start_metrics_server`` (prometheus_client's HTTP server on its own
thread, stopped by ``close()``) and ``render_metrics`` (the exposition body and its content
type, for another HTTP server: the dashboard's and the scaler's ``/metrics``)."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from types import TracebackType
from wsgiref.simple_server import WSGIServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Metric, generate_latest
from prometheus_client import start_http_server as _start_http_server
from prometheus_client.registry import Collector

import taskito
from taskito.contrib.prometheus.options import check_registry
from taskito.contrib.prometheus.registries import serving_registry
from taskito.contrib.prometheus.stats import collector_for


class MetricsServer:
    """A running metrics endpoint: ``url`` serves ``/metrics`` (any path, in fact) until
    ``close()``. A context manager."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        self._closed = False

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        """The port it listens on (the one the system chose, for port 0)."""
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving, close the socket and join the thread. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else self.url
        return f"<MetricsServer {state}>"


def start_metrics_server(
    port: int,
    addr: str = "127.0.0.1",
    registry: CollectorRegistry | None = None,
    *,
    queue: taskito.Queue | None = None,
) -> MetricsServer:
    """Serve ``registry`` (None: ``serving_registry()``) over HTTP on ``addr:port`` (port 0:
    any free port) from a daemon thread, and return the server; ``close()`` stops it.

    With ``queue``, that Queue's ``PrometheusStatsCollector`` is registered too (once).
    Listening on every interface (``addr="0.0.0.0"``) is a choice to make on purpose.
    """
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"port must be an int, not {type(port).__name__}")
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be from 0 to 65535, got {port}")
    if not isinstance(addr, str) or not addr:
        raise TypeError(f"addr must be a non-empty str such as '127.0.0.1', got {addr!r}")
    served = serving_registry(check_registry(registry))
    if queue is not None:
        collector_for(queue, served)
    server, thread = _start_http_server(port, addr=addr, registry=served)
    return MetricsServer(server, thread)


def render_metrics(
    queue: taskito.Queue, registry: CollectorRegistry | None = None
) -> tuple[bytes, str]:
    """The Prometheus text exposition for an HTTP handler, and its content type:
    ``body, content_type = render_metrics(queue)``.

    With ``registry``, that registry, with ``queue``'s statistics collector registered in it on
    first use. Without, the serving registry (``serving_registry()``: the middleware's job
    metrics) plus ``queue``'s statistics from a registry of that Queue's own, so several Queues
    of one process (a dashboard per Queue, tests) each serve their own depth gauges instead of
    clashing over one set of names.
    """
    given = check_registry(registry)
    if given is not None:
        collector_for(queue, given)
        return generate_latest(given), CONTENT_TYPE_LATEST
    with _own_lock:
        own = _own_registries.get(queue)
        if own is None:
            own = CollectorRegistry(auto_describe=True)
            own.register(_Served())
            collector_for(queue, own)
            _own_registries[queue] = own
    return generate_latest(own), CONTENT_TYPE_LATEST


class _Served(Collector):
    """What the serving registry holds, read at each scrape (it is chosen per scrape: the
    multiprocess directory may be set after import)."""

    def collect(self) -> Iterable[Metric]:
        yield from serving_registry().collect()

    def describe(self) -> Iterable[Metric]:
        return ()  # its names change with the serving registry: never checked for clashes


#: A registry per Queue for ``render_metrics(queue)``; it goes with the Queue.
_own_registries: weakref.WeakKeyDictionary[taskito.Queue, CollectorRegistry] = (
    weakref.WeakKeyDictionary()
)
_own_lock = threading.Lock()


__all__ = ["MetricsServer", "render_metrics", "serving_registry", "start_metrics_server"]
