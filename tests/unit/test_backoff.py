"""``worker.backoff.Backoff``: the wait doubles from 0.1 s to 5 s, resets on success, and each
failure is one log line (the traceback only at DEBUG), the recovery one INFO line."""

from __future__ import annotations

import logging

import pytest

from taskito.worker.backoff import Backoff


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _boom() -> RuntimeError:
    try:
        raise RuntimeError("connection refused\nsecond line")
    except RuntimeError as exc:
        return exc


def test_the_wait_doubles_up_to_five_seconds_and_resets(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    log = logging.getLogger("taskito.test.backoff")
    backoff = Backoff("claiming jobs", log, clock=clock)
    assert backoff.ready() and not backoff.failing
    with caplog.at_level(logging.INFO, logger="taskito.test.backoff"):
        waits = [backoff.failed(_boom()) for _ in range(9)]
        assert not backoff.ready()
        clock.now += backoff.seconds_left()
        assert backoff.ready()
        backoff.succeeded()
        backoff.succeeded()  # a second success says nothing more
    assert waits == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0])
    assert not backoff.failing and backoff.delay_s == 0.0
    assert backoff.failed(_boom()) == pytest.approx(0.1)  # reset: from the start again
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 10  # one per failure, the one after the reset included
    first = warnings[0].getMessage()
    assert first == (
        "claiming jobs failed (1 in a row); next try in 0.1 s: RuntimeError: connection refused"
    )
    assert "\n" not in first and warnings[0].exc_info is None
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.INFO] == [
        "storage reachable again: claiming jobs works after 9 failure(s)"
    ]


def test_the_traceback_is_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    backoff = Backoff("writing outcomes", logging.getLogger("taskito.test.backoff"))
    with caplog.at_level(logging.DEBUG, logger="taskito.test.backoff"):
        backoff.failed(_boom(), "reading cancel requests")
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert len(debug) == 1 and debug[0].exc_info is not None
    assert caplog.records[0].getMessage().startswith("reading cancel requests failed")


@pytest.mark.parametrize(("first_s", "max_s"), [(0.0, 5.0), (-1.0, 5.0), (2.0, 1.0)])
def test_bad_bounds_are_refused(first_s: float, max_s: float) -> None:
    with pytest.raises(ValueError, match="first_s"):
        Backoff("x", logging.getLogger("taskito.test"), first_s=first_s, max_s=max_s)


def test_quiet_failures_count_in_the_next_line_and_in_the_recovery(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = [0.0]
    backoff = Backoff("heartbeat", logging.getLogger("tests.backoff"), clock=lambda: clock[0])
    with caplog.at_level(logging.INFO, logger="tests.backoff"):
        backoff.failed(RuntimeError("down"))
        backoff.failed_quietly()
        backoff.failed_quietly()
        clock[0] = 1.0
        backoff.failed(RuntimeError("down"))
        backoff.succeeded()
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 3
    assert lines[0].startswith("heartbeat failed (1 in a row)")
    assert lines[1].startswith("heartbeat failed (4 in a row)")
    assert lines[2] == "storage reachable again: heartbeat works after 4 failure(s)"
    assert backoff.delay_s == 0.0
