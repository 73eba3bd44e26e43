"""Several ``taskito worker`` processes on one database, on every backend: they claim disjoint
jobs, each job's outcome is written once, and a worker killed with SIGKILL loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskito import Queue
from taskito.job import JobStatus
from taskito.storage.base import JobFilter
from tests.backends import BACKEND_NAMES, QueueTarget, queue_target
from tests.helpers import wait_until

JOBS = 2_000
WORKERS = 4
#: Default leases are 10 s and the issue allows 15 s for a dead worker's jobs to come back.
RECOVERY_S = 15.0

APP = """
import json
import os
import time

from taskito import Queue, current_job

queue = Queue(**json.loads(os.environ["TASKITO_E2E_QUEUE"]))


@queue.task(name="e2e.echo")
def echo(number):
    time.sleep(0.01)  # long enough that a killed worker is holding jobs when it dies
    return [current_job.id, number]
"""


@pytest.fixture(params=BACKEND_NAMES)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[QueueTarget]:
    chosen = queue_target(request.param, tmp_path)
    try:
        yield chosen
    finally:
        chosen.cleanup()


def start_workers(target: QueueTarget, root: Path, count: int) -> list[subprocess.Popen[bytes]]:
    (root / "many_app.py").write_text(textwrap.dedent(APP))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKITO_")}
    env["TASKITO_E2E_QUEUE"] = target.as_json()
    command = [sys.executable, "-m", "taskito", "worker", "--app", "many_app:queue"]
    # Logs go to a file, not a pipe nobody reads: a full pipe would block a worker.
    with open(root / "workers.log", "ab") as log:
        return [
            subprocess.Popen(
                [*command, "--workers", "4"],
                cwd=root,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
            for _ in range(count)
        ]


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def completed(queue: Queue) -> int:
    return queue.stats()["completed"]


def check_every_job_complete_once(queue: Queue, ids: list[str], killed: bool) -> None:
    storage = queue._storage
    records = storage.list_jobs(JobFilter(any_namespace=True), JOBS * 2, 0)
    by_id = {record.id: record for record in records}
    assert sorted(by_id) == sorted(ids), "jobs were lost or invented"
    for number, job_id in enumerate(ids):
        record = by_id[job_id]
        assert record.status is JobStatus.COMPLETE, (job_id, record.status, record.error)
        assert queue._serializer.loads(record.result) == [job_id, number]
        errors = storage.job_errors(job_id)
        if not killed:
            assert record.attempt == 1 and not errors, (job_id, record.attempt, errors)
        else:
            # Only the dead worker's jobs ran again, each rescued (no retry spent).
            assert all(error.error.startswith("rescued: worker") for error in errors), errors
            assert record.attempt == len(errors) + 1
            assert (record.retry_count, record.rescue_count) == (0, len(errors))


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("kill_one", [False, True], ids=["all-live", "one-sigkilled"])
def test_worker_processes_complete_every_job_exactly_once(
    target: QueueTarget, tmp_path: Path, kill_one: bool
) -> None:
    queue = Queue(**target.kwargs)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        jobs = queue.enqueue_many("e2e.echo", [(number,) for number in range(JOBS)])
        ids = [job.id for job in jobs]
        workers = start_workers(target, tmp_path, WORKERS)
        if kill_one:
            wait_until(lambda: completed(queue) >= JOBS // 5, timeout_s=60, interval_s=0.02)
            workers[0].kill()
            workers[0].wait()
        deadline_s = 120 + (RECOVERY_S if kill_one else 0)
        started = time.monotonic()
        wait_until(
            lambda: completed(queue) == JOBS,
            timeout_s=deadline_s,
            interval_s=0.05,
            message=f"all {JOBS} jobs complete",
        )
        assert time.monotonic() - started < deadline_s
        check_every_job_complete_once(queue, ids, killed=kill_one)
        if kill_one:
            rerun = [job_id for job_id in ids if queue._storage.job_errors(job_id)]
            assert rerun, "the killed worker held no job: the test proved nothing"
    finally:
        stop_workers(workers)
        queue.close()
