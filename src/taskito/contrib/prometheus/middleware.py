"""``PrometheusMiddleware``: metrics of the jobs workers run, counted by the middleware hooks.

``before``/``after`` run where the task runs: the worker's process for the thread and async
pools, a child process for prefork. There, values reach the scrape only through
prometheus_client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``; docs/observability.md);
the gauge of running jobs sums the live processes' values. The outcome hooks (retries, dead
letters, timeouts) run in the worker's own process.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from taskito import TaskCancelledError, TaskMiddleware
from taskito.contrib.prometheus.options import check_buckets, check_namespace, check_registry

#: Bounds of the duration histogram, in seconds: from 5 ms to an hour.
DEFAULT_BUCKETS: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    900.0,
    3600.0,
)


@dataclass(frozen=True, slots=True)
class JobMetrics:
    """The metrics of one namespace in one registry, shared by every middleware using them."""

    jobs: Counter
    duration: Histogram
    retries: Counter
    dead_letters: Counter
    timeouts: Counter
    active: Gauge
    buckets: tuple[float, ...]


_lock = threading.Lock()
_metric_sets: weakref.WeakKeyDictionary[CollectorRegistry, dict[str, JobMetrics]] = (
    weakref.WeakKeyDictionary()
)


def job_metrics(
    registry: CollectorRegistry, namespace: str, buckets: tuple[float, ...]
) -> JobMetrics:
    """The metrics named ``namespace_*`` in ``registry``, made on first use: a second
    middleware (an app module imported twice) shares them instead of clashing."""
    with _lock:
        per_namespace = _metric_sets.setdefault(registry, {})
        metrics = per_namespace.get(namespace)
        if metrics is None:
            metrics = _make_metrics(registry, namespace, buckets)
            per_namespace[namespace] = metrics
        elif metrics.buckets != buckets:
            raise ValueError(
                f"the {namespace}_job_duration_seconds histogram already exists in this registry "
                f"with buckets {list(metrics.buckets)}; pass the same buckets, another "
                "namespace or another registry"
            )
        return metrics


def _make_metrics(
    registry: CollectorRegistry, namespace: str, buckets: tuple[float, ...]
) -> JobMetrics:
    def counter(name: str, doc: str, *labels: str) -> Counter:
        return Counter(name, doc, labels, namespace=namespace, registry=registry)

    return JobMetrics(
        jobs=counter(
            "jobs",
            "Attempts that ended, by task and by how the task ended "
            "(completed, failed, cancelled).",
            "task",
            "status",
        ),
        duration=Histogram(
            "job_duration_seconds",
            "Time a task took to run, by task.",
            ["task"],
            namespace=namespace,
            registry=registry,
            buckets=buckets,
        ),
        retries=counter("job_retries", "Failed attempts that will be retried, by task.", "task"),
        dead_letters=counter("dead_letters", "Jobs moved to the dead letters, by task.", "task"),
        timeouts=counter(
            "job_timeouts", "Attempts stopped at their hard timeout, by task.", "task"
        ),
        active=Gauge(
            "jobs_active",
            "Tasks running now, by task.",
            ["task"],
            namespace=namespace,
            registry=registry,
            # With PROMETHEUS_MULTIPROC_DIR: the sum over the processes still alive.
            multiprocess_mode="livesum",
        ),
        buckets=buckets,
    )


class PrometheusMiddleware(TaskMiddleware):
    """Counts jobs into Prometheus metrics named ``<namespace>_...``:

    * ``jobs_total{task,status}``: attempts by how the task ended (completed, failed,
      cancelled);
    * ``job_duration_seconds{task}``: a histogram of run times;
    * ``job_retries_total{task}``, ``dead_letters_total{task}``, ``job_timeouts_total{task}``;
    * ``jobs_active{task}``: tasks running now.

    ``registry`` None is prometheus_client's default registry. Give it to the Queue
    (``Queue(middleware=[...])``) so that every task is counted.
    """

    def __init__(
        self,
        namespace: str = "taskito",
        registry: CollectorRegistry | None = None,
        *,
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> None:
        namespace = check_namespace(namespace)
        registry = check_registry(registry)
        self.namespace = namespace
        self.metrics = job_metrics(
            REGISTRY if registry is None else registry, namespace, check_buckets(buckets)
        )
        # job id -> perf_counter() at ``before``; popped by ``after``.
        self._started: dict[str, float] = {}

    def before(self, ctx: Any) -> None:
        self.metrics.active.labels(ctx.task_name).inc()
        self._started[ctx.id] = time.perf_counter()

    def after(self, ctx: Any, result: Any, error: BaseException | None) -> None:
        task = ctx.task_name
        started = self._started.pop(ctx.id, None)
        self.metrics.active.labels(task).dec()
        if started is not None:
            self.metrics.duration.labels(task).observe(time.perf_counter() - started)
        self.metrics.jobs.labels(task, _status_of(error)).inc()

    def on_retry(self, ctx: Any, error: BaseException, retry_count: int) -> None:
        self.metrics.retries.labels(ctx.task_name).inc()

    def on_dead_letter(self, ctx: Any, error: BaseException) -> None:
        self.metrics.dead_letters.labels(ctx.task_name).inc()

    def on_timeout(self, ctx: Any) -> None:
        self.metrics.timeouts.labels(ctx.task_name).inc()


def _status_of(error: BaseException | None) -> str:
    if error is None:
        return "completed"
    if isinstance(error, TaskCancelledError):
        return "cancelled"
    return "failed"


__all__ = ["DEFAULT_BUCKETS", "JobMetrics", "PrometheusMiddleware", "job_metrics"]
