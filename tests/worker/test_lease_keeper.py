"""The lease keeper reports a lost lease only for a job that is still running here."""

from __future__ import annotations

import time

from taskito.ids import new_job_id
from taskito.job import NewJob, Outcome, OutcomeKind, now_ms
from taskito.worker.leases import LeaseKeeper, LeaseTimings
from taskito.worker.running import HeldJobs
from tests.backends import QueueTarget


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
        held.add(running, time.monotonic())
        done = held.add(settled, time.monotonic())
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
