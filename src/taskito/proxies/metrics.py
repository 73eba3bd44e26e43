"""``ProxyMetrics``: per proxy handler, how many objects were rebuilt, how long that took, and
what failed (rebuilds, checksum checks, clean-ups), for ``queue.proxy_stats()``. Kept in memory
by the process that rebuilds (a thread or async worker, a prefork child, test mode); durations
are a bounded window of the most recent ones, so the percentile costs no unbounded memory."""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

#: Durations kept per handler for the 95th percentile.
WINDOW = 1024


@dataclass
class _HandlerStats:
    reconstructions: int = 0
    errors: int = 0
    cleanup_errors: int = 0
    checksum_failures: int = 0
    total_ms: float = 0.0
    max_ms: float = 0.0
    timed: int = 0
    recent_ms: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))


class ProxyMetrics:
    """Thread-safe counters per handler name."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._handlers: dict[str, _HandlerStats] = {}

    def _stats(self, handler: str) -> _HandlerStats:
        stats = self._handlers.get(handler)
        if stats is None:
            stats = self._handlers[handler] = _HandlerStats()
        return stats

    def record_reconstruction(self, handler: str, duration_s: float, *, failed: bool) -> None:
        """One rebuild attempt; its duration is recorded whether it failed or not."""
        duration_ms = duration_s * 1000
        with self._lock:
            stats = self._stats(handler)
            stats.reconstructions += 1
            stats.errors += int(failed)
            stats.timed += 1
            stats.total_ms += duration_ms
            stats.max_ms = max(stats.max_ms, duration_ms)
            stats.recent_ms.append(duration_ms)

    def record_duration(self, handler: str, duration_ms: float) -> None:
        """A duration alone (for tests and imports of figures measured elsewhere)."""
        with self._lock:
            stats = self._stats(handler)
            stats.timed += 1
            stats.total_ms += duration_ms
            stats.max_ms = max(stats.max_ms, duration_ms)
            stats.recent_ms.append(duration_ms)

    def record_checksum_failure(self, handler: str) -> None:
        with self._lock:
            stats = self._stats(handler)
            stats.checksum_failures += 1
            stats.errors += 1

    def record_cleanup_error(self, handler: str) -> None:
        with self._lock:
            self._stats(handler).cleanup_errors += 1

    def to_list(self) -> list[dict[str, Any]]:
        """One dict per handler seen, by name: ``handler``, ``total_reconstructions``,
        ``total_errors``, ``total_cleanup_errors``, ``total_checksum_failures``,
        ``total_duration_ms``, ``avg_duration_ms``, ``max_duration_ms``, ``p95_duration_ms``
        (milliseconds, 2 decimals)."""
        with self._lock:
            return [_as_dict(name, self._handlers[name]) for name in sorted(self._handlers)]

    def reset(self) -> None:
        with self._lock:
            self._handlers.clear()


def _as_dict(name: str, stats: _HandlerStats) -> dict[str, Any]:
    average = stats.total_ms / stats.timed if stats.timed else 0.0
    return {
        "handler": name,
        "total_reconstructions": stats.reconstructions,
        "total_errors": stats.errors,
        "total_cleanup_errors": stats.cleanup_errors,
        "total_checksum_failures": stats.checksum_failures,
        "total_duration_ms": round(stats.total_ms, 2),
        "avg_duration_ms": round(average, 2),
        "max_duration_ms": round(stats.max_ms, 2),
        "p95_duration_ms": round(_percentile(list(stats.recent_ms), 0.95), 2),
    }


def _percentile(values: list[float], fraction: float) -> float:
    """Nearest rank: the smallest value at or above ``fraction`` of the sorted values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


__all__ = ["WINDOW", "ProxyMetrics"]
