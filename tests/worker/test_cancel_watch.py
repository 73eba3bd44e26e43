"""The cancel watcher under back-to-back changes: it slows its rounds to ``busy_interval_s``
(each round reads storage and wakes the worker loop) and still delivers a cancel request."""

from __future__ import annotations

import threading
import time

import pytest

from taskito.ids import new_job_id
from taskito.job import NewJob, now_ms
from taskito.registry import ClaimedJob
from taskito.worker.cancel_watch import CancelWatcher
from taskito.worker.running import HeldJobs
from tests.backends import QueueTarget
from tests.helpers import wait_until

WRITES = 300
BUSY_INTERVAL_S = 0.02


def _job() -> NewJob:
    now = now_ms()
    return NewJob(new_job_id(), "default", "t", b"x", 0, now, now, 0, None)


def test_back_to_back_changes_slow_the_rounds_and_a_cancel_still_arrives(
    target: QueueTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = target.open_storage()
    writer_storage = target.open_storage()
    stop_writing = threading.Event()
    try:
        storage.enqueue(_job())
        (running,) = storage.claim("me", None, None, 1, now_ms(), 60_000)
        held = HeldJobs()
        held.add(ClaimedJob(running, None, ()), time.monotonic())
        rounds = [0]
        real_cancel_requests = storage.cancel_requests

        def cancel_requests(job_ids: list[str]) -> dict[str, bool]:
            rounds[0] += 1
            return real_cancel_requests(job_ids)

        monkeypatch.setattr(storage, "cancel_requests", cancel_requests)
        delivered: list[tuple[str, bool]] = []
        watcher = CancelWatcher(
            storage,
            held,
            deliver=lambda job_id, force: delivered.append((job_id, force)),
            on_change=lambda: None,
            busy_interval_s=BUSY_INTERVAL_S,
        )

        written = [0]

        def write() -> None:  # another process enqueueing as fast as it can
            while not stop_writing.is_set():
                writer_storage.enqueue(_job())
                written[0] += 1

        writer = threading.Thread(target=write, daemon=True)
        watcher.start()
        started = time.monotonic()
        writer.start()
        try:
            wait_until(lambda: written[0] >= WRITES, 60.0, message="the writer is stuck")
            counted, elapsed = rounds[0], time.monotonic() - started
            # A round per change, 1 ms apart at least (the floor while changes are sparse),
            # would be up to WRITES rounds; busy rounds are BUSY_INTERVAL_S apart.
            assert counted <= elapsed / BUSY_INTERVAL_S + 10, (counted, elapsed)
            assert storage.request_cancel(running.id)
            wait_until(lambda: delivered, 5.0, message="the cancel request was not delivered")
            assert delivered == [(running.id, False)]
        finally:
            stop_writing.set()
            writer.join()
            watcher.stop()
    finally:
        writer_storage.close()
        storage.close()
