"""The cancel watcher while its worker churns through jobs: it slows its rounds to
``busy_interval_s`` (each round reads storage and wakes the worker loop) and still delivers a
cancel request; changes made by others alone do not slow it."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import pytest

from taskito.ids import new_job_id
from taskito.job import JobRecord, NewJob, Outcome, OutcomeKind, now_ms
from taskito.registry import ClaimedJob
from taskito.storage.base import Storage
from taskito.worker.cancel_watch import CancelWatcher
from taskito.worker.running import HeldJobs
from tests.backends import QueueTarget
from tests.helpers import wait_until

WRITES = 300
BUSY_INTERVAL_S = 0.02
CHURNED_JOBS = 20
#: The churning worker takes on a job about every this long (a drain of short jobs).
CHURN_EVERY_S = 0.0002


def _job() -> NewJob:
    now = now_ms()
    return NewJob(new_job_id(), "default", "t", b"x", 0, now, now, 0, None)


def _holding(storage: Storage, count: int) -> tuple[HeldJobs, JobRecord, list[JobRecord]]:
    """``count`` jobs claimed by this worker: the first held as running, and the others."""
    for _ in range(count):
        storage.enqueue(_job())
    running, *others = storage.claim("me", None, None, count, now_ms(), 60_000)
    held = HeldJobs()
    held.add(ClaimedJob(running, None, ()), time.monotonic())
    return held, running, others


def _watcher(
    storage: Storage, held: HeldJobs, **options: Any
) -> tuple[CancelWatcher, list[tuple[str, bool]]]:
    """A watcher of ``held`` and the ``(job id, forced)`` requests it delivered."""
    delivered: list[tuple[str, bool]] = []
    watcher = CancelWatcher(
        storage,
        held,
        deliver=lambda job_id, force: delivered.append((job_id, force)),
        on_change=lambda: None,
        **options,
    )
    return watcher, delivered


def _writer(storage: Storage, stop: threading.Event, written: list[int]) -> threading.Thread:
    """Another process enqueueing as fast as it can (a commit after another, as a drain makes
    them), counting its writes in ``written[0]``."""

    def write() -> None:
        while not stop.is_set():
            storage.enqueue(_job())
            written[0] += 1

    return threading.Thread(target=write, daemon=True)


def test_a_churning_worker_slows_the_rounds_and_a_cancel_still_arrives(
    target: QueueTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = target.open_storage()
    writer_storage = target.open_storage()
    stop = threading.Event()
    try:
        held, running, churned = _holding(storage, CHURNED_JOBS + 1)
        rounds = [0]
        real_cancel_requests = storage.cancel_requests

        def cancel_requests(job_ids: list[str]) -> dict[str, bool]:
            rounds[0] += 1
            return real_cancel_requests(job_ids)

        monkeypatch.setattr(storage, "cancel_requests", cancel_requests)
        watcher, delivered = _watcher(storage, held, busy_interval_s=BUSY_INTERVAL_S)
        written = [0]

        def churn() -> None:  # the worker taking on short jobs and settling them
            for record in itertools.cycle(churned):
                if stop.wait(CHURN_EVERY_S):
                    return
                one = held.add(ClaimedJob(record, None, ()), time.monotonic())
                held.settle(one, Outcome(OutcomeKind.SUCCESS))
                held.release([one])

        threads = [
            _writer(writer_storage, stop, written),
            threading.Thread(target=churn, daemon=True),
        ]
        watcher.start()
        started = time.monotonic()
        for thread in threads:
            thread.start()
        try:
            wait_until(lambda: written[0] >= WRITES, 60.0, message="the writer is stuck")
            counted, elapsed = rounds[0], time.monotonic() - started
            # A round per change, 1 ms apart at least (the floor while the worker is not
            # churning), would be up to WRITES rounds; busy rounds are BUSY_INTERVAL_S apart.
            assert counted <= elapsed / BUSY_INTERVAL_S + 10, (counted, elapsed)
            assert storage.request_cancel(running.id)
            wait_until(lambda: delivered, 5.0, message="the cancel request was not delivered")
            assert delivered == [(running.id, False)]
        finally:
            stop.set()
            for thread in threads:
                thread.join()
            watcher.stop()
    finally:
        writer_storage.close()
        storage.close()


def test_a_cancel_among_others_writes_is_delivered_and_they_are_not_churn(
    target: QueueTarget,
) -> None:
    """Nothing of this worker churns here: other processes' writes come back to back, count as
    no job taken on (the pacing reads only ``taken``), and a cancel among them arrives."""
    storage = target.open_storage()
    writer_storage = target.open_storage()
    stop = threading.Event()
    try:
        held, running, _ = _holding(storage, 1)
        watcher, delivered = _watcher(storage, held)
        writer = _writer(writer_storage, stop, [0])
        watcher.start()
        writer.start()
        try:
            assert storage.request_cancel(running.id, force=True)
            wait_until(lambda: delivered, 5.0, message="the cancel request was not delivered")
            assert delivered == [(running.id, True)]
            assert held.taken == 1
        finally:
            stop.set()
            writer.join()
            watcher.stop()
    finally:
        writer_storage.close()
        storage.close()
