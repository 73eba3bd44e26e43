"""A storage outage seen by a running worker: claims and outcome writes back off
exponentially (here from 0.05 s to 0.4 s; 0.1 s to 5 s by default), each failure is one log
line, the recovery one "storage reachable again" line, and the work resumes.

The outage is the real backend with ``claim`` / ``finish_many`` made to raise
``StorageUnavailableError`` (what each backend raises when its server cannot be reached)
while the test says so (``finish_and_claim`` goes through those two); every other call
reaches the real database.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest

from taskito.exceptions import StorageUnavailableError
from tests.helpers import wait_until, write_through_finish_many
from tests.worker.harness import Harness

FIRST_S, MAX_S = 0.05, 0.4


class Outage:
    """Makes one storage method fail as unreachable while ``down`` is set."""

    def __init__(self, real: Callable[..., Any]) -> None:
        self.real = real
        self.down = threading.Event()
        self.failed = 0
        self.in_flight = 0  # calls that began before ``down`` was set and reach the database

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.down.is_set():
            self.failed += 1
            raise StorageUnavailableError("PostgreSQL at postgresql://db is unavailable: refused")
        self.in_flight += 1
        try:
            return self.real(*args, **kwargs)
        finally:
            self.in_flight -= 1


def _lines(caplog: pytest.LogCaptureFixture, prefix: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().startswith(prefix)]


@pytest.mark.parametrize("method", ["claim", "finish_many"])
def test_an_outage_backs_off_says_so_once_per_step_and_work_resumes(
    harness: Harness,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    method: str,
) -> None:
    harness.task(lambda i: i, name="ident")
    write_through_finish_many(monkeypatch, harness.storage)
    outage = Outage(getattr(harness.storage, method))
    monkeypatch.setattr(harness.storage, method, outage)
    what = "claiming jobs" if method == "claim" else "writing outcomes"
    worker = harness.worker(storage_backoff_s=FIRST_S, storage_backoff_max_s=MAX_S)
    backoff = worker._claim_backoff if method == "claim" else worker._flush_backoff
    with caplog.at_level(logging.INFO, logger="taskito.worker"), harness.running(worker):
        before = harness.enqueue("ident", 1)
        wait_until(lambda: harness.is_terminal(before), 10, message="the first job")
        # Its outcome is stored before the worker's write returns (a finish and the next claim
        # are one call): start the outage once the worker holds nothing, so the only failures
        # are the method's own.
        wait_until(lambda: not list(worker._held.ids()), 10, message="the worker idle")
        outage.down.set()
        # A call already past the check could still claim the next job: enqueue it after.
        wait_until(lambda: outage.in_flight == 0, 10, message="no call in flight")
        during = harness.enqueue("ident", 2)
        # Down until the wait has grown to its cap and stayed there for two more steps.
        wait_until(lambda: backoff.delay_s == MAX_S, 10, message="the back-off to reach its cap")
        failed_at_cap = outage.failed
        wait_until(lambda: outage.failed >= failed_at_cap + 2, 10, message="two steps at the cap")
        outage.down.clear()
        wait_until(lambda: harness.is_terminal(during), 10, message="the job after the outage")
    assert harness.result(before) == 1
    assert harness.result(during) == 2
    failures = _lines(caplog, f"{what} failed")
    # One line per failed try, and the tries were spaced by the back-off: 0.05, 0.1, 0.2,
    # 0.4, 0.4, ... (a fixed 0.05 s would have made ~3x as many in the same time).
    assert len(failures) == outage.failed
    waits = [record.retry_in_s for record in failures]  # type: ignore[attr-defined]
    assert waits[:4] == pytest.approx([0.05, 0.1, 0.2, 0.4])
    assert max(waits) == MAX_S and waits == sorted(waits)
    assert all("\n" not in r.getMessage() and r.exc_info is None for r in failures)
    assert "StorageUnavailableError: PostgreSQL at" in failures[0].getMessage()
    back = _lines(caplog, "storage reachable again")
    assert [r.getMessage() for r in back] == [
        f"storage reachable again: {what} works after {outage.failed} failure(s)"
    ]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
