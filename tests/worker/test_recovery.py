"""Crash recovery: leases are extended while a worker lives; when it dies, another worker
rescues its jobs (no retry spent) and nothing is lost (DESIGN invariant 4)."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from taskito.events import EventType
from taskito.job import JobStatus, now_ms
from taskito.storage.base import WorkerInfo
from tests.helpers import wait_until
from tests.worker.harness import Harness, log_lines, worker_process
from tests.worker.worker_process import make_record_task


def test_a_killed_worker_loses_nothing(harness: Harness, tmp_path: Path) -> None:
    log = tmp_path / "executions.log"
    harness.task(make_record_task(str(log)), name="record")
    ids = [harness.enqueue("record", 0.01, max_retries=3) for _ in range(200)]
    with worker_process(harness, log, threads=4, lease_ms=1000) as victim:
        wait_until(lambda: len(log_lines(log)) >= 100, timeout_s=20)
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
    assert victim.returncode == -signal.SIGKILL
    done_before = sum(1 for job_id in ids if harness.status(job_id) is JobStatus.COMPLETE)
    assert 0 < done_before < 200
    harness.burst(lambda: harness.is_terminal(*ids), timeout_s=30, threads=4)

    records = [harness.job(job_id) for job_id in ids]
    assert all(r.status is JobStatus.COMPLETE for r in records)
    results = Counter(harness.result(job_id) for job_id in ids)
    assert set(results) == {victim.pid, os.getpid()}
    starts = Counter(line[1] for line in log_lines(log) if line[0] == "start")
    assert set(starts) == set(ids)  # every job ran ...
    rerun = [job_id for job_id, count in starts.items() if count > 1]
    assert len(rerun) <= 4  # ... and only those the killed worker held ran twice
    for job_id in rerun:
        errors = harness.storage.job_errors(job_id)
        assert [e.error for e in errors] and errors[0].error.startswith("rescued: worker")
        record = harness.job(job_id)
        assert (record.retry_count, record.rescue_count) == (0, 1)


@pytest.mark.slow
def test_default_leases_recover_a_killed_workers_jobs_within_15s(
    harness: Harness, tmp_path: Path
) -> None:
    log = tmp_path / "executions.log"
    harness.task(make_record_task(str(log)), name="record")
    job_id = harness.enqueue("record", 60.0, max_retries=1)
    with worker_process(harness, log, threads=1) as victim:
        wait_until(lambda: log_lines(log), timeout_s=20)
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
    killed_at = time.monotonic()
    harness.task(lambda sleep_s: "ok", name="record")
    harness.burst(lambda: harness.is_terminal(job_id), timeout_s=20, reap_interval_s=1.0)
    assert time.monotonic() - killed_at < 15
    assert harness.result(job_id) == "ok"


def test_leases_are_extended_while_a_long_job_runs(harness: Harness, tmp_path: Path) -> None:
    log = tmp_path / "executions.log"
    harness.task(make_record_task(str(log)), name="record")
    job_id = harness.enqueue("record", 1.0, max_retries=3)
    # Two workers, so the other one would requeue the job if its lease ever lapsed.
    with harness.running(lease_ms=300), harness.running(lease_ms=300):
        wait_until(lambda: harness.is_terminal(job_id))
    assert harness.status(job_id) is JobStatus.COMPLETE
    assert [line[0] for line in log_lines(log)] == ["start", "end"]
    assert harness.storage.job_errors(job_id) == []


def test_jobs_of_a_vanished_worker_are_requeued_and_run(harness: Harness) -> None:
    harness.task(lambda: "recovered", name="t")
    ids = [harness.enqueue("t", max_retries=1) for _ in range(3)]
    claimed = harness.storage.claim("ghost", None, None, 3, now_ms(), 150)
    assert {job.id for job in claimed} == set(ids)
    harness.burst(lambda: harness.is_terminal(*ids))
    assert [harness.result(job_id) for job_id in ids] == ["recovered"] * 3
    # A rescue, not a failed attempt: the retries are kept.
    assert all(harness.job(job_id).retry_count == 0 for job_id in ids)
    assert all(harness.job(job_id).rescue_count == 1 for job_id in ids)


def test_stale_workers_are_reaped_with_worker_offline(harness: Harness) -> None:
    long_ago = now_ms() - 120_000
    ghost = WorkerInfo("ghost", "elsewhere", 1, None, "thread", 1, "active", long_ago, long_ago)
    harness.storage.register_worker(ghost)
    with harness.running(worker_stale_s=30.0) as worker:
        wait_until(lambda: harness.events.of(EventType.WORKER_OFFLINE))
        assert [w.worker_id for w in harness.storage.list_workers()] == [worker.worker_id]
    assert harness.events.of(EventType.WORKER_OFFLINE) == [{"worker_id": "ghost"}]
