"""The worker's log line per outcome (``worker/outcome_log.py``): at INFO one line for each
retry, dead letter, cancel and timeout, with job id, task, attempt and a one-line error; the
task's traceback once per failed attempt on its own logger; a completion at DEBUG only."""

from __future__ import annotations

import logging
import threading

import pytest

from taskito.context import current_job
from taskito.exceptions import TaskCancelledError
from taskito.retry import RetryPolicy
from tests.worker.harness import Harness

FAST_RETRY = RetryPolicy(backoff_s=0.01)
OUTCOMES = "taskito.worker.outcomes"
TRACEBACKS = "taskito.worker.outcomes.traceback"


def _records(caplog: pytest.LogCaptureFixture, name: str, job_id: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == name and getattr(r, "job_id", None) == job_id]


def test_each_outcome_is_one_line_with_its_fields(
    sqlite_harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    harness = sqlite_harness
    gate = threading.Event()

    def flaky() -> str:
        if current_job.retry_count == 0:
            raise ValueError("first try\nfails on caf\udce9 " + "x" * 300)
        return "ok"

    def denied() -> None:
        raise PermissionError("denied")

    def quits() -> None:
        raise TaskCancelledError("I stop")

    harness.task(flaky, retry=FAST_RETRY)
    harness.task(denied, retry=FAST_RETRY, dont_retry_on=(PermissionError,))
    harness.task(quits)
    harness.task(lambda: gate.wait(10), name="hangs")
    try:
        with caplog.at_level(logging.DEBUG, logger="taskito.worker"):
            flaky_id = harness.enqueue("flaky", max_retries=2)
            denied_id = harness.enqueue("denied", max_retries=3)
            quits_id = harness.enqueue("quits")
            hangs_id = harness.enqueue("hangs", timeout_ms=100)
            ids = [flaky_id, denied_id, quits_id, hangs_id]
            harness.burst(lambda: harness.is_terminal(*ids), threads=4)
    finally:
        gate.set()

    retry, done = _records(caplog, OUTCOMES, flaky_id)
    assert retry.levelno == logging.INFO
    message = retry.getMessage()
    assert message.startswith(f"job {flaky_id} (flaky) failed on attempt 1; retry 1 of 2 in ")
    assert "\n" not in message
    # The one-line error is the traceback's last line, storable and cut to 200 characters.
    assert retry.error.startswith("fails on caf\\udce9 xxx")  # type: ignore[attr-defined]
    assert len(retry.error) == 200  # type: ignore[attr-defined]
    assert (retry.task_name, retry.attempt, retry.retry_count) == ("flaky", 1, 0)  # type: ignore[attr-defined]
    assert retry.status == "pending"  # type: ignore[attr-defined]
    assert done.levelno == logging.DEBUG
    assert done.getMessage().startswith(f"job {flaky_id} (flaky) completed in ")
    (trace,) = _records(caplog, TRACEBACKS, flaky_id)  # once: the retry succeeded
    assert trace.levelno == logging.INFO
    assert "Traceback (most recent call last)" in trace.getMessage()
    assert "caf\\udce9" in trace.getMessage()

    (dead,) = _records(caplog, OUTCOMES, denied_id)
    assert dead.levelno == logging.INFO
    assert dead.getMessage() == (
        f"job {denied_id} (denied) failed on attempt 1; dead-lettered (not retryable): "
        "PermissionError: denied"
    )
    assert len(_records(caplog, TRACEBACKS, denied_id)) == 1

    (cancelled,) = _records(caplog, OUTCOMES, quits_id)
    assert cancelled.getMessage() == f"job {quits_id} (quits) cancelled"
    assert cancelled.levelno == logging.INFO

    (timed_out,) = _records(caplog, OUTCOMES, hangs_id)
    assert timed_out.getMessage() == (
        f"job {hangs_id} (hangs) timed out on attempt 1; dead-lettered (no retries left): "
        "job timed out after 100ms"
    )
    assert _records(caplog, TRACEBACKS, hangs_id) == []  # a timeout has no traceback


def test_a_success_says_nothing_at_info(
    sqlite_harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    harness = sqlite_harness
    harness.task(lambda: 1, name="one")
    with caplog.at_level(logging.INFO, logger="taskito.worker"):
        job_id = harness.enqueue("one")
        harness.burst(lambda: harness.is_terminal(job_id))
    assert _records(caplog, OUTCOMES, job_id) == []
