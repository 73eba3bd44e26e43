"""``PrometheusStatsCollector``: what a Queue's storage holds, read when Prometheus scrapes
(no thread of its own) and kept for ``interval`` seconds, so that frequent scrapes, or several
Prometheus servers, cost one read per interval."""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

import taskito
from taskito.contrib.prometheus.options import (
    check_namespace,
    check_positive_seconds,
    check_registry,
)
from taskito.contrib.prometheus.registries import serving_registry

logger = logging.getLogger("taskito.contrib.prometheus")

#: Queue.stats() keys, in the order the depth gauge lists them.
STATUSES = ("pending", "running", "completed", "failed", "dead", "cancelled")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One read of storage."""

    by_queue: dict[str, dict[str, int]]
    live_workers: int
    capacity: int

    @property
    def running(self) -> int:
        return sum(counts.get("running", 0) for counts in self.by_queue.values())

    @property
    def utilization(self) -> float:
        """Running jobs per worker slot (0 without workers); above 1 when jobs run that no
        registered worker accounts for."""
        return self.running / self.capacity if self.capacity else 0.0


def read_snapshot(queue: taskito.Queue) -> Snapshot:
    workers = queue.workers()
    return Snapshot(
        by_queue=queue.stats_all_queues(),
        live_workers=len(workers),
        capacity=sum(int(worker.get("threads") or 0) for worker in workers),
    )


class PrometheusStatsCollector(Collector):
    """Gauges of ``queue``'s storage, named ``<namespace>_...``:

    * ``queue_depth{queue,status}``: jobs by queue and status;
    * ``queue_dead_letters{queue}``: jobs that ended dead, by queue;
    * ``workers_live``, ``worker_capacity`` (their slots: threads, children or coroutines),
      ``worker_utilization`` (running jobs / capacity);
    * ``stats_up``: 1 when the last read of storage worked, else 0 (the others are then
      left out).

    It registers itself in ``registry`` (None: ``serving_registry()``, which
    ``start_metrics_server`` and ``render_metrics`` serve). One collector per Queue and
    registry; ``close()`` unregisters it.
    """

    def __init__(
        self,
        queue: taskito.Queue,
        registry: CollectorRegistry | None = None,
        interval: float = 5.0,
        *,
        namespace: str = "taskito",
    ) -> None:
        if not isinstance(queue, taskito.Queue):
            raise TypeError(f"queue must be a taskito.Queue, not {type(queue).__name__}")
        self.queue = queue
        self.interval = check_positive_seconds("interval", interval)
        self.namespace = check_namespace(namespace)
        registry = check_registry(registry)
        self.registry = serving_registry() if registry is None else registry
        self._lock = threading.Lock()
        self._cached: tuple[float, Snapshot | None] | None = None
        _install(self)

    def close(self) -> None:
        """Unregister from the registry. Safe to call twice."""
        _uninstall(self)

    def snapshot(self) -> Snapshot | None:
        """The last read of storage, read again once ``interval`` has passed; None when that
        read failed (logged)."""
        with self._lock:
            now = time.monotonic()
            if self._cached is not None and now - self._cached[0] < self.interval:
                return self._cached[1]
            try:
                snapshot: Snapshot | None = read_snapshot(self.queue)
            except Exception as exc:
                logger.warning(
                    "reading queue statistics for Prometheus failed: %s: %s",
                    type(exc).__name__,
                    exc,
                )
                snapshot = None
            self._cached = (now, snapshot)
            return snapshot

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """The metric names without values: registering costs no read of storage."""
        yield from _families(self.namespace, None)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from _families(self.namespace, self.snapshot(), filled=True)


def _families(
    namespace: str, snapshot: Snapshot | None, *, filled: bool = False
) -> Iterator[GaugeMetricFamily]:
    def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> GaugeMetricFamily:
        return GaugeMetricFamily(f"{namespace}_{name}", doc, labels=labels)

    up = gauge("stats_up", "1 when taskito's statistics could be read from storage, else 0.")
    if filled:
        up.add_metric([], 0.0 if snapshot is None else 1.0)
    yield up
    depth = gauge("queue_depth", "Jobs by queue and status.", ("queue", "status"))
    dead = gauge("queue_dead_letters", "Jobs that ended dead, by queue.", ("queue",))
    live = gauge("workers_live", "Workers registered in storage.")
    capacity = gauge("worker_capacity", "Job slots of the registered workers.")
    utilization = gauge("worker_utilization", "Running jobs per worker slot.")
    if snapshot is not None:
        for queue_name, counts in sorted(snapshot.by_queue.items()):
            for status in STATUSES:
                depth.add_metric([queue_name, status], counts.get(status, 0))
            dead.add_metric([queue_name], counts.get("dead", 0))
        live.add_metric([], snapshot.live_workers)
        capacity.add_metric([], snapshot.capacity)
        utilization.add_metric([], round(snapshot.utilization, 3))
    yield from (depth, dead, live, capacity, utilization)


# --- one collector per Queue and registry ------------------------------------------------

_install_lock = threading.RLock()
#: Every registered collector; weak, so a registry dropped with its collectors is not kept.
_installed: weakref.WeakSet[PrometheusStatsCollector] = weakref.WeakSet()


def _installed_for(
    queue: taskito.Queue, registry: CollectorRegistry
) -> PrometheusStatsCollector | None:
    for collector in list(_installed):
        if collector.registry is registry and collector.queue is queue:
            return collector
    return None


def collector_for(
    queue: taskito.Queue, registry: CollectorRegistry | None = None
) -> PrometheusStatsCollector:
    """The collector of ``queue`` in ``registry`` (None: ``serving_registry()``), made and
    registered on first use."""
    if registry is None:
        registry = serving_registry()
    with _install_lock:
        found = _installed_for(queue, registry)
        return PrometheusStatsCollector(queue, registry) if found is None else found


def _install(collector: PrometheusStatsCollector) -> None:
    with _install_lock:
        if _installed_for(collector.queue, collector.registry) is not None:
            raise ValueError(
                f"this registry already has a PrometheusStatsCollector for {collector.queue!r}; "
                "use that one (or close() it first)"
            )
        try:
            collector.registry.register(collector)
        except ValueError as exc:
            raise ValueError(
                f"the {collector.namespace}_* statistics are already in this registry "
                f"(another Queue's collector?): give each Queue its own registry or "
                f"namespace ({exc})"
            ) from exc
        _installed.add(collector)


def _uninstall(collector: PrometheusStatsCollector) -> None:
    with _install_lock:
        if collector in _installed:
            _installed.discard(collector)
            collector.registry.unregister(collector)


__all__ = ["STATUSES", "PrometheusStatsCollector", "Snapshot", "collector_for", "read_snapshot"]
