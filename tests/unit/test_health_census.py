"""Sorting registered workers by heartbeat freshness (``taskito.health.take_census``), and the
liveness answer, without storage: the rows are the dicts ``queue.workers()`` returns."""

from __future__ import annotations

from typing import Any

import pytest

from taskito.health import STALE_AFTER_S, WorkerCensus, check_health, take_census
from taskito.worker import WorkerSettings

NOW_S = 1_700_000_000.0


def row(
    worker_id: str,
    *,
    age_s: float,
    threads: int = 4,
    queues: str = "*",
    status: str = "active",
) -> dict[str, Any]:
    return {
        "worker_id": worker_id,
        "last_heartbeat": round((NOW_S - age_s) * 1000),
        "queues": queues,
        "status": status,
        "threads": threads,
    }


def test_health_is_ok_without_any_io() -> None:
    assert check_health() == {"status": "ok"}


def test_the_stale_window_is_the_one_workers_reap_each_other_by() -> None:
    assert WorkerSettings().worker_stale_s == STALE_AFTER_S


def test_workers_heartbeating_within_the_window_are_live_the_others_stale() -> None:
    workers = [row("fresh", age_s=0.5), row("edge", age_s=10.0), row("silent", age_s=10.5)]
    census = take_census(workers, stale_after_s=10.0, now_s=NOW_S)
    assert [w["worker_id"] for w in census.live] == ["fresh", "edge"]
    assert [w["worker_id"] for w in census.stale] == ["silent"]


def test_a_heartbeat_from_a_clock_ahead_of_ours_counts_as_live() -> None:
    census = take_census([row("ahead", age_s=-3.0)], now_s=NOW_S)
    assert len(census.live) == 1 and not census.stale


def test_capacity_counts_the_slots_of_live_workers_that_take_jobs() -> None:
    census = take_census(
        [
            row("a", age_s=0, threads=4),
            row("b", age_s=0, threads=2),
            row("leaving", age_s=0, threads=8, status="draining"),
            row("dead", age_s=60, threads=16),
        ],
        now_s=NOW_S,
    )
    assert census.capacity == 6
    assert [w["worker_id"] for w in census.active] == ["a", "b"]
    assert [w["worker_id"] for w in census.draining] == ["leaving"]


def test_consuming_keeps_the_workers_of_that_queue_and_those_of_every_queue() -> None:
    census = take_census(
        [
            row("all", age_s=0, queues="*"),
            row("emails", age_s=0, queues="emails,reports"),
            row("other", age_s=0, queues="images"),
            row("dead-emails", age_s=60, queues="emails"),
        ],
        now_s=NOW_S,
    )
    emails = census.consuming("emails")
    assert [w["worker_id"] for w in emails.live] == ["all", "emails"]
    assert [w["worker_id"] for w in emails.stale] == ["dead-emails"]
    assert census.consuming("report") == WorkerCensus((census.live[0],), ())


@pytest.mark.parametrize("workers", [[], [row("x", age_s=99)]])
def test_no_live_worker_means_no_capacity(workers: list[dict[str, Any]]) -> None:
    census = take_census(workers, now_s=NOW_S)
    assert census.capacity == 0 and census.live == ()
