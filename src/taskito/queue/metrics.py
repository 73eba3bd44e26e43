"""Task metrics as the reference API shows them: ``queue.metrics()`` (figures per task) and
``queue.metrics_timeseries()`` (figures per time bucket), over the attempts that finished in the
last ``since`` seconds. Workers write one row per finished attempt with its outcome
(``Queue(metrics_retention=...)``); the figures are computed here (``taskito.metrics_math``),
the same for every backend."""

from __future__ import annotations

from typing import Any

from taskito import _checks, metrics_math
from taskito.exceptions import ConfigurationError
from taskito.job import TaskMetric, now_ms
from taskito.queue import checks as check
from taskito.queue.state import QueueBase

#: The longest window or bucket, in whole seconds (the longest duration any option takes).
_MAX_SECONDS = int(check.MAX_SECONDS)


def _summary_dict(summary: metrics_math.Summary) -> dict[str, Any]:
    return {
        "count": summary.count,
        "success_count": summary.success_count,
        "failure_count": summary.failure_count,
        "avg_ms": summary.avg_ms,
        "p50_ms": summary.p50_ms,
        "p95_ms": summary.p95_ms,
        "p99_ms": summary.p99_ms,
        "min_ms": summary.min_ms,
        "max_ms": summary.max_ms,
    }


def _bucket_dict(start: int, summary: metrics_math.Summary) -> dict[str, Any]:
    return {
        "timestamp": start,
        "count": summary.count,
        "success": summary.success_count,
        "failure": summary.failure_count,
        "avg_ms": summary.avg_ms,
        "p50_ms": summary.p50_ms,
        "p95_ms": summary.p95_ms,
        "p99_ms": summary.p99_ms,
    }


def _check_task_name(task_name: object) -> str | None:
    if task_name is None:
        return None
    if not isinstance(task_name, str):
        raise TypeError(f"task_name must be a str or None, not {type(task_name).__name__}")
    if not task_name:
        raise ConfigurationError("task_name must be a non-empty string, or None for every task")
    return task_name


class MetricsMixin(QueueBase):
    """Reading the task metrics the workers record."""

    def _metric_rows(
        self, task_name: object, since: object, bucket: object = 1
    ) -> list[TaskMetric]:
        """The rows of the window, once every argument is checked."""
        task = _check_task_name(task_name)
        window_s = _checks.check_int(
            "since", since, minimum=0, maximum=_MAX_SECONDS, error=ConfigurationError
        )
        _checks.check_int(
            "bucket", bucket, minimum=1, maximum=_MAX_SECONDS, error=ConfigurationError
        )
        return self._storage.task_metrics(task, now_ms() - window_s * 1000)

    def metrics(self, task_name: str | None = None, since: int = 3600) -> dict[str, Any]:
        """``{task: {count, success_count, failure_count, avg_ms, p50_ms, p95_ms, p99_ms,
        min_ms, max_ms}}`` over the attempts that finished in the last ``since`` seconds, of
        ``task_name`` or of every task (only tasks with attempts appear).

        A success completed; a failure raised or timed out (retried or dead-lettered); a
        cancelled attempt counts in ``count`` only. Times are wall times in ms; percentiles
        are nearest-rank (docs/observability.md). ``since`` is a whole number of seconds, 0 or
        more; a bad argument raises ``TypeError`` or ``ValueError``.
        """
        rows = self._metric_rows(task_name, since)
        return {
            task: _summary_dict(summary) for task, summary in metrics_math.by_task(rows).items()
        }

    def metrics_timeseries(
        self, task_name: str | None = None, since: int = 3600, bucket: int = 60
    ) -> list[dict[str, Any]]:
        """``[{timestamp, count, success, failure, avg_ms, p50_ms, p95_ms, p99_ms}]``: the
        attempts that finished in the last ``since`` seconds (of ``task_name``, or every task)
        in ``bucket``-second intervals, oldest first. ``timestamp`` is the interval's start in
        ms since the epoch (intervals are aligned on the epoch, so the first one may start
        before the window); intervals without attempts are left out.

        ``since`` (0 or more) and ``bucket`` (1 or more) are whole numbers of seconds; a bad
        argument raises ``TypeError`` or ``ValueError``.
        """
        rows = self._metric_rows(task_name, since, bucket)
        return [
            _bucket_dict(start, summary)
            for start, summary in metrics_math.by_bucket(rows, bucket * 1000)
        ]


__all__ = ["MetricsMixin"]
