"""Crash recovery: leases are extended while a worker lives; when it dies, another worker
rescues its jobs (no retry spent) and nothing is lost (docs/architecture.md, invariant 4)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from taskito.events import EventType
from taskito.job import JobStatus, now_ms
from taskito.storage.base import WorkerInfo
from taskito.worker.liveness import pid_is_dead, this_host
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
    rerun = {job_id for job_id, count in starts.items() if count > 1}
    # ... and only those the killed worker held ran twice: its 4 running jobs, and any it had
    # finished but not yet recorded (a loaded machine batches more outcomes per write).
    by_victim = {line[1] for line in log_lines(log) if line[2] == str(victim.pid)}
    assert rerun == {job_id for job_id in by_victim if harness.result(job_id) != victim.pid}
    assert len(rerun) <= 16
    for job_id in rerun:
        errors = harness.storage.job_errors(job_id)
        assert [e.error for e in errors] and errors[0].error.startswith("rescued: worker")
        record = harness.job(job_id)
        assert (record.retry_count, record.rescue_count) == (0, 1)


@pytest.mark.slow
def test_default_leases_recover_a_killed_workers_jobs_within_5s(
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
    harness.burst(
        lambda: harness.is_terminal(job_id),
        timeout_s=20,
        heartbeat_interval_s=1.0,
        reap_interval_s=0.5,
        check_pids=False,  # the lease path, as for a worker on another host
    )
    assert time.monotonic() - killed_at < 5
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


def _gone_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(10)
    return process.pid


def _neighbour(worker_id: str, pid: int, last_heartbeat: int) -> WorkerInfo:
    started = now_ms() - 60_000
    return WorkerInfo(
        worker_id, this_host(), pid, None, "thread", 1, "active", started, last_heartbeat
    )


def test_a_dead_worker_on_this_host_is_released_before_its_leases_expire(
    harness: Harness,
) -> None:
    harness.task(lambda: "recovered", name="t")
    ids = [harness.enqueue("t", max_retries=0) for _ in range(2)]
    silent_since = now_ms() - 5_000
    harness.storage.register_worker(_neighbour("dead-here", _gone_pid(), silent_since))
    harness.storage.claim("dead-here", None, None, 2, now_ms(), 60_000)  # leases of a minute
    started = time.monotonic()
    harness.burst(lambda: harness.is_terminal(*ids))
    assert time.monotonic() - started < 5
    for job_id in ids:
        record = harness.job(job_id)
        assert (record.status, record.retry_count, record.rescue_count) == (
            JobStatus.COMPLETE,
            0,
            1,
        )
        (error,) = harness.storage.job_errors(job_id)
        assert error.error.startswith("rescued: worker dead-here died (its process ")
    assert "dead-here" not in [w.worker_id for w in harness.storage.list_workers()]
    assert harness.events.of(EventType.WORKER_OFFLINE) == [{"worker_id": "dead-here"}]


def test_a_worker_whose_pid_is_not_visible_here_but_heartbeats_keeps_its_jobs(
    harness: Harness,
) -> None:
    """Containers sharing the host name (host networking) cannot see each other's pids: a
    worker that keeps heartbeating is alive whatever kill(pid, 0) says."""
    harness.task(lambda: "stolen", name="t")
    job_id = harness.enqueue("t", max_retries=0)
    pid = _gone_pid()
    harness.storage.register_worker(_neighbour("other-namespace", pid, now_ms()))
    harness.storage.claim("other-namespace", None, None, 1, now_ms(), 60_000)
    with harness.running(heartbeat_interval_s=0.2, reap_interval_s=0.05):
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            harness.storage.heartbeat("other-namespace", "active", now_ms())
            time.sleep(0.05)
        assert harness.status(job_id) is JobStatus.RUNNING
        assert harness.job(job_id).worker_id == "other-namespace"
        # Once it falls silent (it died after all), its jobs are released.
        wait_until(lambda: harness.is_terminal(job_id), timeout_s=5)
    assert harness.result(job_id) == "stolen"


def test_pid_is_dead_tells_gone_zombie_and_reused_pids() -> None:
    now = now_ms()
    assert pid_is_dead(_gone_pid(), now)
    assert not pid_is_dead(os.getpid(), now)  # this very process: alive
    assert not pid_is_dead(1, now)  # another user's process (or ours): it exists
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert not pid_is_dead(child.pid, now)
        # Registered a minute before this process started: the pid was reused.
        assert pid_is_dead(child.pid, now - 60_000)
        child.kill()
        wait_until(lambda: pid_is_dead(child.pid, now))  # a zombie until waited for
        assert child.poll() is not None
    finally:
        child.kill()
        child.wait(10)
