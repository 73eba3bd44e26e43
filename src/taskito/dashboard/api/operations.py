"""Routes over the operations features: task metrics (``queue.metrics()`` and
``queue.metrics_timeseries()``), readiness (``taskito.health``), the KEDA scaler payload
(``taskito.scaler``), the Prometheus text exposition (``taskito.contrib.prometheus``, 501
without ``prometheus_client``) and the stored periodic schedules (``queue.list_periodic()``)."""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

import taskito
from taskito.contrib import install_hint
from taskito.dashboard.api.errors import ApiError
from taskito.dashboard.api.values import Answer, PlainText
from taskito.health import NOT_READY, check_readiness
from taskito.scaler import build_scaler_response

#: Modules whose absence means "no Prometheus exporter installed" (501), not a bug (500).
EXPORTER_MODULES = ("prometheus_client", "taskito.contrib", "taskito.contrib.prometheus")
PROMETHEUS_MISSING = f"Prometheus metrics need prometheus_client: {install_hint('prometheus')}"


def metrics(queue: taskito.Queue, task: str | None, since_s: int) -> dict[str, Any]:
    """``{task: {count, success_count, failure_count, avg_ms, p50_ms, p95_ms, p99_ms,
    min_ms, max_ms}}`` over the attempts that finished in the last ``since_s`` seconds."""
    return queue.metrics(task_name=task, since=since_s)


def metrics_timeseries(
    queue: taskito.Queue, task: str | None, since_s: int, bucket_s: int
) -> list[dict[str, Any]]:
    """``[{timestamp, count, success, failure, avg_ms, p50_ms, p95_ms, p99_ms}]`` per
    ``bucket_s`` seconds, oldest first; buckets without attempts are left out."""
    return queue.metrics_timeseries(task_name=task, since=since_s, bucket=bucket_s)


def readiness(queue: taskito.Queue) -> Answer:
    """``taskito.health.check_readiness``: 200 when ready or degraded, 503 when not ready
    (storage did not answer), with the same body."""
    report = check_readiness(queue)
    return Answer(report, 503 if report["status"] == NOT_READY else 200)


def scaler(queue: taskito.Queue, queue_name: str | None) -> dict[str, Any]:
    """The KEDA ``metrics-api`` payload, for every queue or for ``queue_name``."""
    return build_scaler_response(queue, queue_name)


def prometheus(queue: taskito.Queue) -> PlainText:
    """The Prometheus text exposition of ``queue`` (its statistics and, in this process, the
    middleware's job metrics); 501 when ``prometheus_client`` is not installed."""
    try:
        exporter = importlib.import_module("taskito.contrib.prometheus")
    except ImportError as exc:
        if exc.name in EXPORTER_MODULES:
            raise ApiError(501, PROMETHEUS_MISSING) from None
        raise
    body, content_type = exporter.render_metrics(queue)
    return PlainText(bytes(body), str(content_type))


def periodic_schedules(queue: taskito.Queue) -> list[dict[str, Any]]:
    """Every stored periodic schedule: ``{name, task_name, cron_expr, queue, enabled,
    last_run, next_run, timezone}`` (times in ms; ``next_run`` None when it never fires)."""
    return [dataclasses.asdict(info) for info in queue.list_periodic()]


__all__ = [
    "EXPORTER_MODULES",
    "PROMETHEUS_MISSING",
    "metrics",
    "metrics_timeseries",
    "periodic_schedules",
    "prometheus",
    "readiness",
    "scaler",
]
