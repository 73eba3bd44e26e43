"""A worker that owns its main thread: the first SIGINT/SIGTERM drains, the second stops now."""

from __future__ import annotations

import signal
from pathlib import Path

from taskito.job import JobStatus
from tests.helpers import wait_until
from tests.worker.harness import Harness, log_lines, worker_process


def test_first_signal_drains_the_running_job_then_exits(harness: Harness, tmp_path: Path) -> None:
    log = tmp_path / "executions.log"
    slow = harness.enqueue("record", 1.0)
    with worker_process(harness, log, threads=2, drain_timeout_s=20) as process:
        wait_until(lambda: log_lines(log), timeout_s=20)
        process.send_signal(signal.SIGINT)
        wait_until(lambda: [w.status for w in harness.storage.list_workers()] == ["draining"])
        later = harness.enqueue("record", 0.0)
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert out.strip() == "stopped"
    assert harness.status(slow) is JobStatus.COMPLETE
    assert harness.status(later) is JobStatus.PENDING
    assert harness.storage.list_workers() == []


def test_second_signal_stops_without_waiting(harness: Harness, tmp_path: Path) -> None:
    log = tmp_path / "executions.log"
    stuck = harness.enqueue("record", 60.0, max_retries=1)
    with worker_process(harness, log, threads=1, drain_timeout_s=60) as process:
        wait_until(lambda: log_lines(log), timeout_s=20)
        process.send_signal(signal.SIGTERM)
        wait_until(lambda: [w.status for w in harness.storage.list_workers()] == ["draining"])
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert out.strip() == "stopped"
    # The job was interrupted: the worker released it as it stopped (a rescue, no retry spent).
    record = harness.job(stuck)
    assert (record.status, record.retry_count, record.rescue_count) == (JobStatus.PENDING, 0, 1)
    (error,) = harness.storage.job_errors(stuck)
    assert error.error.endswith("(it was told to stop now with the job unfinished)")
    assert harness.storage.list_workers() == []
