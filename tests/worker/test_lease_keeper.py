"""The lease keeper reports a lost lease only for a job that is still running here."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest

from taskito.exceptions import StorageUnavailableError
from taskito.ids import new_job_id
from taskito.job import NewJob, Outcome, OutcomeKind, now_ms
from taskito.registry import ClaimedJob
from taskito.worker.leases import LeaseKeeper, LeaseTimings
from taskito.worker.running import HeldJobs
from tests.backends import QueueTarget
from tests.helpers import wait_until


def _job() -> NewJob:
    now = now_ms()
    return NewJob(new_job_id(), "default", "t", b"x", 0, now, now, 0, None)


def test_only_running_jobs_are_reported_lost(target: QueueTarget) -> None:
    storage = target.open_storage()
    try:
        for _ in range(2):
            storage.enqueue(_job())
        # Another worker holds both in storage, so this keeper's extension keeps neither.
        running, settled = storage.claim("other", None, None, 2, now_ms(), 10_000)
        held = HeldJobs()
        # The keeper reads job records only: what the jobs resolved to does not matter here.
        held.add(ClaimedJob(running, None, ()), time.monotonic())
        done = held.add(ClaimedJob(settled, None, ()), time.monotonic())
        assert held.settle(done, Outcome(OutcomeKind.SUCCESS))
        lost: list[list[str]] = []
        keeper = LeaseKeeper(
            storage,
            "me",
            held,
            LeaseTimings(),
            status=lambda: "active",
            on_lost=lost.append,
            on_requeued=lambda _jobs: None,
            on_reaped=lambda _ids: None,
        )
        keeper.extend_leases()
        assert lost == [[running.id]]
    finally:
        storage.close()


def test_a_storage_outage_is_logged_once_per_back_off_step_and_its_end_once(
    target: QueueTarget, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The keeper heartbeats every 10 ms here; while storage refuses, it keeps trying on that
    schedule (a lease must be extended as soon as storage is back) but logs one line per
    back-off step (0.1, 0.2, 0.4 s, ...), not one per try, and one line when storage is back."""
    storage = target.open_storage()
    real_heartbeat = storage.heartbeat
    down = threading.Event()
    tries = [0]

    def heartbeat(*args: Any) -> None:
        if down.is_set():
            tries[0] += 1
            raise StorageUnavailableError("the server cannot be reached")
        real_heartbeat(*args)

    monkeypatch.setattr(storage, "heartbeat", heartbeat)
    keeper = LeaseKeeper(
        storage,
        "me",
        HeldJobs(),
        LeaseTimings(heartbeat_interval_s=0.01),
        status=lambda: "active",
        on_lost=lambda _ids: None,
        on_requeued=lambda _jobs: None,
        on_reaped=lambda _ids: None,
    )
    try:
        with caplog.at_level(logging.INFO, logger="taskito.worker.leases"):
            down.set()
            keeper.start()
            wait_until(lambda: tries[0] >= 60, 10, message="60 failed heartbeats")
            down.clear()
            wait_until(
                lambda: any("reachable again" in r.getMessage() for r in caplog.records),
                10,
                message="the line saying storage is back",
            )
    finally:
        keeper.stop()
        storage.close()
    failures = [r for r in caplog.records if r.getMessage().startswith("heartbeat failed")]
    # 60+ tries over 0.6 s or more, logged at 0, 0.1, 0.3, 0.7, ... s: a handful of lines.
    assert 1 <= len(failures) <= 8 < tries[0]
    assert all(r.exc_info is None and "\n" not in r.getMessage() for r in failures)
    back = [r for r in caplog.records if "reachable again" in r.getMessage()]
    assert len(back) == 1
