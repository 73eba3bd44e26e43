"""Prometheus metrics for taskito (the ``prometheus`` extra; docs/observability.md):

* ``PrometheusMiddleware``: what workers do, job by job (counts by task and status, durations,
  retries, dead letters, timeouts, jobs running now);
* ``PrometheusStatsCollector``: what storage holds, read when scraped (queue depth by status,
  dead jobs, live workers, their capacity and utilisation);
* ``start_metrics_server`` and ``render_metrics``: serving them, in one process or, with
  ``PROMETHEUS_MULTIPROC_DIR`` set, for a prefork worker and its children.

Importing it without ``prometheus_client`` raises ``ImportError`` naming the extra.
"""

from __future__ import annotations

from taskito.contrib import require

require("prometheus_client", extra="prometheus", feature="taskito.contrib.prometheus")

from taskito.contrib.prometheus.middleware import (  # noqa: E402
    DEFAULT_BUCKETS,
    PrometheusMiddleware,
)
from taskito.contrib.prometheus.serving import (  # noqa: E402
    MetricsServer,
    render_metrics,
    serving_registry,
    start_metrics_server,
)
from taskito.contrib.prometheus.stats import PrometheusStatsCollector  # noqa: E402

__all__ = [
    "DEFAULT_BUCKETS",
    "MetricsServer",
    "PrometheusMiddleware",
    "PrometheusStatsCollector",
    "render_metrics",
    "serving_registry",
    "start_metrics_server",
]
