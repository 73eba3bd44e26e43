"""``taskito.metrics_math``: nearest-rank percentiles, summaries and buckets on known data."""

from __future__ import annotations

import random

import pytest

from taskito.job import OutcomeKind, TaskMetric
from taskito.metrics_math import Summary, by_bucket, by_task, nearest_rank, summarize

MS = 1_000_000  # ns


def row(
    wall_ns: int,
    outcome: OutcomeKind = OutcomeKind.SUCCESS,
    *,
    task: str = "t",
    finished_at: int = 0,
) -> TaskMetric:
    return TaskMetric("job", 1, task, "q", outcome, 0, finished_at, wall_ns)


@pytest.mark.parametrize(
    ("values", "percent", "expected"),
    [
        ([7], 0, 7),
        ([7], 50, 7),
        ([7], 100, 7),
        ([1, 2, 3, 4], 50, 2),
        ([1, 2, 3, 4], 75, 3),
        ([1, 2, 3, 4], 76, 4),
        ([10, 20], 50, 10),
        ([10, 20], 51, 20),
        (list(range(1, 101)), 0, 1),
        (list(range(1, 101)), 50, 50),
        (list(range(1, 101)), 95, 95),
        (list(range(1, 101)), 99, 99),
        (list(range(1, 101)), 100, 100),
        (list(range(1, 11)), 95, 10),
        (list(range(1, 11)), 99, 10),
        (list(range(1, 21)), 95, 19),
        ([5, 5, 5, 9], 99, 9),
    ],
)
def test_nearest_rank_on_known_data(values: list[int], percent: float, expected: int) -> None:
    assert nearest_rank(values, percent) == expected


def test_nearest_rank_is_the_smallest_value_with_at_least_p_percent_at_or_below() -> None:
    """The defining property, on random data with ties, for every whole percentile."""
    rng = random.Random(12)
    for size in (1, 2, 3, 7, 10, 99, 100, 101, 1000):
        values = sorted(rng.randrange(0, 50) for _ in range(size))
        for percent in range(1, 101):
            found = nearest_rank(values, percent)
            at_or_below = sum(1 for value in values if value <= found)
            below = sum(1 for value in values if value < found)
            assert at_or_below * 100 >= percent * size, (size, percent)
            assert below * 100 < percent * size, (size, percent)


@pytest.mark.parametrize("percent", [-1, 100.5, float("nan")])
def test_nearest_rank_refuses_a_percent_out_of_range(percent: float) -> None:
    with pytest.raises(ValueError, match="percent"):
        nearest_rank([1, 2], percent)


def test_nearest_rank_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no values"):
        nearest_rank([], 50)


def test_summary_of_one_to_a_hundred_ms() -> None:
    rows = [row(n * MS) for n in range(100, 0, -1)]  # unsorted on purpose
    assert summarize(rows) == Summary(
        count=100,
        success_count=100,
        failure_count=0,
        avg_ms=50.5,
        p50_ms=50.0,
        p95_ms=95.0,
        p99_ms=99.0,
        min_ms=1.0,
        max_ms=100.0,
    )


def test_summary_counts_outcomes_and_keeps_nanoseconds() -> None:
    rows = [
        row(1_500, OutcomeKind.SUCCESS),
        row(2_500, OutcomeKind.FAILURE),
        row(3_500, OutcomeKind.TIMED_OUT),
        row(4_501, OutcomeKind.CANCELLED),
    ]
    summary = summarize(rows)
    assert (summary.count, summary.success_count, summary.failure_count) == (4, 1, 2)
    assert summary.min_ms == 0.0015
    assert summary.max_ms == 0.004501
    assert summary.p50_ms == 0.0025
    assert summary.avg_ms == 0.003
    assert summary.p99_ms == 0.004501


def test_summary_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no attempts"):
        summarize([])


def test_by_task_groups_in_name_order() -> None:
    rows = [row(2 * MS, task="b"), row(1 * MS, task="a"), row(3 * MS, task="b")]
    summaries = by_task(rows)
    assert list(summaries) == ["a", "b"]
    assert (summaries["b"].count, summaries["b"].min_ms, summaries["b"].max_ms) == (2, 2.0, 3.0)
    assert by_task([]) == {}


def test_by_bucket_aligns_on_the_epoch_and_skips_empty_intervals() -> None:
    rows = [
        row(1 * MS, finished_at=60_000),
        row(2 * MS, finished_at=59_999),
        row(3 * MS, OutcomeKind.FAILURE, finished_at=119_999),
        row(4 * MS, finished_at=240_000),
    ]
    buckets = by_bucket(rows, 60_000)
    assert [start for start, _ in buckets] == [0, 60_000, 240_000]
    assert [summary.count for _, summary in buckets] == [1, 2, 1]
    assert buckets[1][1].failure_count == 1
    assert buckets[1][1].p50_ms == 1.0
    assert by_bucket([], 1000) == []


def test_by_bucket_refuses_an_empty_interval() -> None:
    with pytest.raises(ValueError, match="bucket_ms"):
        by_bucket([row(1)], 0)
