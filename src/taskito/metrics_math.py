"""Aggregates of task metric rows, computed once above the backends: counts by outcome, and the
mean, minimum, maximum and percentiles of the wall time, per task or per time bucket.

Percentiles use the **nearest-rank** method: of ``n`` wall times sorted ascending, the p-th
percentile is the one at rank ``ceil(p / 100 * n)`` (1-based; rank 1 when that is 0). It is
always a time that was measured, never an interpolation; with one row every percentile is that
row, and p50 of 1, 2, 3, 4 is 2. Times are reported in milliseconds (floats, rounded to the
nanosecond).

A success is an attempt that completed; a failure one that raised or timed out (whether it was
retried or dead-lettered); a cancelled attempt counts in ``count`` only. Every attempt's time
counts in the time figures.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from taskito.job import OutcomeKind, TaskMetric

_FAILURES = frozenset({OutcomeKind.FAILURE, OutcomeKind.TIMED_OUT})
_NS_PER_MS = 1_000_000


def nearest_rank(ordered: Sequence[int], percent: float) -> int:
    """The ``percent``-th percentile (0-100) of ``ordered`` (ascending, not empty), by
    nearest rank."""
    if not ordered:
        raise ValueError("a percentile of no values is undefined")
    if not 0 <= percent <= 100:
        raise ValueError(f"percent must be between 0 and 100, got {percent!r}")
    # Exact arithmetic: in floats 14 / 100 * 100 is 14.000000000000002, whose ceiling is 15.
    rank = math.ceil(Fraction(percent) * len(ordered) / 100)
    return ordered[max(rank, 1) - 1]


def _ms(ns: float) -> float:
    return round(ns / _NS_PER_MS, 6)


@dataclass(frozen=True, slots=True)
class Summary:
    """The figures of a set of attempts; times in ms."""

    count: int
    success_count: int
    failure_count: int
    avg_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    min_ms: float
    max_ms: float


def summarize(rows: Iterable[TaskMetric]) -> Summary:
    """The figures of ``rows`` (at least one)."""
    times: list[int] = []
    successes = failures = 0
    for row in rows:
        times.append(row.wall_ns)
        if row.outcome is OutcomeKind.SUCCESS:
            successes += 1
        elif row.outcome in _FAILURES:
            failures += 1
    if not times:
        raise ValueError("a summary of no attempts is undefined")
    times.sort()
    return Summary(
        count=len(times),
        success_count=successes,
        failure_count=failures,
        avg_ms=_ms(sum(times) / len(times)),
        p50_ms=_ms(nearest_rank(times, 50)),
        p95_ms=_ms(nearest_rank(times, 95)),
        p99_ms=_ms(nearest_rank(times, 99)),
        min_ms=_ms(times[0]),
        max_ms=_ms(times[-1]),
    )


def by_task(rows: Iterable[TaskMetric]) -> dict[str, Summary]:
    """One summary per task name that has rows, in name order."""
    groups: defaultdict[str, list[TaskMetric]] = defaultdict(list)
    for row in rows:
        groups[row.task_name].append(row)
    return {task: summarize(groups[task]) for task in sorted(groups)}


def by_bucket(rows: Iterable[TaskMetric], bucket_ms: int) -> list[tuple[int, Summary]]:
    """One summary per ``bucket_ms``-wide interval of ``finished_at`` that has rows, as
    (interval start, summary), oldest first. Intervals are aligned on the epoch: the one of a
    row starts at ``finished_at - finished_at % bucket_ms``."""
    if bucket_ms < 1:
        raise ValueError(f"bucket_ms must be at least 1, got {bucket_ms!r}")
    groups: defaultdict[int, list[TaskMetric]] = defaultdict(list)
    for row in rows:
        groups[row.finished_at - row.finished_at % bucket_ms].append(row)
    return [(start, summarize(groups[start])) for start in sorted(groups)]


__all__ = ["Summary", "by_bucket", "by_task", "nearest_rank", "summarize"]
