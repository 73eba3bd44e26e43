"""``InterceptionMetrics``: what a Queue's interceptor did, for ``queue.interception_stats()``
and the dashboard. Counters only, kept in memory by the process that enqueues."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from taskito.interception.strategy import Strategy


class InterceptionMetrics:
    """Calls intercepted, time spent, values per strategy, and the deepest nesting seen."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._intercepts = 0
        self._duration_s = 0.0
        self._counts = dict.fromkeys(Strategy, 0)
        self._max_depth = 0

    def record(self, duration_s: float, counts: Mapping[Strategy, int], max_depth: int) -> None:
        """One intercepted call: its duration, its values per strategy, its deepest value."""
        with self._lock:
            self._intercepts += 1
            self._duration_s += duration_s
            for strategy, count in counts.items():
                self._counts[strategy] += count
            self._max_depth = max(self._max_depth, max_depth)

    def to_dict(self) -> dict[str, Any]:
        """``total_intercepts``, ``total_duration_ms``, ``avg_duration_ms`` (2 decimals),
        ``strategy_counts`` (all five strategies) and ``max_depth_reached``."""
        with self._lock:
            total_ms = self._duration_s * 1000
            average = total_ms / self._intercepts if self._intercepts else 0.0
            return {
                "total_intercepts": self._intercepts,
                "total_duration_ms": round(total_ms, 2),
                "avg_duration_ms": round(average, 2),
                "strategy_counts": {s.value: count for s, count in self._counts.items()},
                "max_depth_reached": self._max_depth,
            }

    def reset(self) -> None:
        with self._lock:
            self._intercepts = 0
            self._duration_s = 0.0
            self._counts = dict.fromkeys(Strategy, 0)
            self._max_depth = 0


__all__ = ["InterceptionMetrics"]
