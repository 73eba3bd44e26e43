"""Outages under a running worker: Postgres restarts, Redis drops every connection. The worker
logs, backs off, reconnects and carries on; nothing stored is lost or run twice to completion;
``delay()`` while the server is down fails with a clear error instead of hanging.

Restarting the server needs the machine's own PostgreSQL (``pg_ctlcluster``) and root; these
tests skip without them, and fail under ``CI`` (where both are required).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskito import Queue
from taskito.exceptions import StorageUnavailableError
from taskito.job import JobStatus
from taskito.storage.base import JobFilter
from tests.backends import QueueTarget, queue_target
from tests.helpers import running_in_ci, wait_until

JOBS = 500

APP = """
import json
import os
import time

from taskito import Queue, current_job

queue = Queue(**json.loads(os.environ["TASKITO_E2E_QUEUE"]))
runs = os.environ["TASKITO_E2E_RUNS"]


@queue.task(name="e2e.slow_echo")
def slow_echo(number):
    time.sleep(0.01)
    # One line per run that got to the end: a job run twice to completion shows twice.
    with open(runs, "a") as log:
        log.write(current_job.id + "\\n")
    return number
"""


def _cluster() -> list[str]:
    """The ``pg_ctlcluster`` arguments naming the local cluster, or skip/fail."""
    reason = None
    if shutil.which("pg_ctlcluster") is None or not Path("/etc/postgresql").is_dir():
        reason = "pg_ctlcluster is not installed (the machine's own PostgreSQL is needed)"
    elif os.geteuid() != 0:
        reason = "restarting PostgreSQL needs root"
    if reason is not None:
        if running_in_ci():
            pytest.fail(f"CI is set and {reason}", pytrace=False)
        pytest.skip(reason)
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    return ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main"]


def _pg_ctl(action: str) -> None:
    subprocess.run([*_cluster(), action], check=True, timeout=120, capture_output=True)


def _pg_is_up() -> bool:
    return subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"], timeout=10).returncode == 0


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[QueueTarget]:
    _cluster()
    target = queue_target("postgres", tmp_path)
    try:
        yield target
    finally:
        if not _pg_is_up():
            _pg_ctl("start")
        wait_until(_pg_is_up, timeout_s=60, interval_s=0.2)
        target.cleanup()


@pytest.fixture
def redis_target(tmp_path: Path) -> Iterator[QueueTarget]:
    target = queue_target("redis", tmp_path)
    try:
        yield target
    finally:
        target.cleanup()


def _start_worker(target: QueueTarget, root: Path) -> subprocess.Popen[bytes]:
    (root / "outage_app.py").write_text(textwrap.dedent(APP))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKITO_")}
    env["TASKITO_E2E_QUEUE"] = target.as_json()
    env["TASKITO_E2E_RUNS"] = str(root / "runs.log")
    # A file, not a pipe: an outage makes the worker log, and a full pipe would block it.
    command = [sys.executable, "-m", "taskito", "worker", "--app", "outage_app:queue"]
    with open(root / "worker.log", "ab") as log:
        return subprocess.Popen(
            [*command, "--workers", "8"],
            cwd=root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def _stop_worker(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
    try:
        worker.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.communicate()


def _completed(queue: Queue) -> int | None:
    try:
        return queue.stats()["completed"]
    except StorageUnavailableError:
        return None  # the server is down right now


def _check_all_complete_once(queue: Queue, ids: list[str], runs_log: Path) -> None:
    records = queue._storage.list_jobs(JobFilter(any_namespace=True), JOBS * 2, 0)
    assert sorted(record.id for record in records) == sorted(ids), "jobs were lost"
    assert all(record.status is JobStatus.COMPLETE for record in records)
    runs = runs_log.read_text().split()
    twice = sorted({job_id for job_id in runs if runs.count(job_id) > 1})
    assert not twice, f"jobs run twice to completion: {twice[:5]}"
    assert sorted(set(runs)) == sorted(ids)


def _run_through_outage(target: QueueTarget, root: Path, outage: object) -> None:
    queue = Queue(**target.kwargs)
    worker = _start_worker(target, root)
    try:
        ids = [job.id for job in queue.enqueue_many("e2e.slow_echo", [(n,) for n in range(JOBS)])]
        wait_until(lambda: (_completed(queue) or 0) >= JOBS // 5, timeout_s=60, interval_s=0.02)
        assert callable(outage)
        outage()
        wait_until(
            lambda: _completed(queue) == JOBS,
            timeout_s=120,
            interval_s=0.1,
            message=f"all {JOBS} jobs complete after the outage",
        )
        _check_all_complete_once(queue, ids, root / "runs.log")
        assert worker.poll() is None, "the worker died during the outage"
    finally:
        _stop_worker(worker)
        queue.close()


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_postgres_restart_under_a_running_worker_loses_nothing(
    postgres: QueueTarget, tmp_path: Path
) -> None:
    _run_through_outage(postgres, tmp_path, lambda: _pg_ctl("restart"))


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_delay_while_postgres_is_down_fails_clearly_and_stores_nothing(
    postgres: QueueTarget,
) -> None:
    queue = Queue(**postgres.kwargs)
    try:
        queue.enqueue("e2e.slow_echo", (1,))
        _pg_ctl("stop")
        started = time.monotonic()
        with pytest.raises(StorageUnavailableError) as caught:
            queue.enqueue("e2e.slow_echo", (2,))
        assert time.monotonic() - started < 30, "enqueue hung while the server was down"
        assert "postgres" in str(caught.value).lower() or "connect" in str(caught.value).lower()
        _pg_ctl("start")
        wait_until(_pg_is_up, timeout_s=60, interval_s=0.2)
        # The job stored before the outage is still there, and the queue works again.
        wait_until(lambda: _completed(queue) is not None, timeout_s=30, interval_s=0.2)
        assert queue.stats()["pending"] == 1
        queue.enqueue("e2e.slow_echo", (3,))
        assert queue.stats()["pending"] == 2
    finally:
        queue.close()


def _kill_redis_clients(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        client.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
        client.execute_command("CLIENT", "KILL", "TYPE", "pubsub", "SKIPME", "yes")
    finally:
        client.close()


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_redis_dropping_every_connection_under_a_running_worker_loses_nothing(
    redis_target: QueueTarget, tmp_path: Path
) -> None:
    url = redis_target.kwargs["db_url"]
    _run_through_outage(redis_target, tmp_path, lambda: _kill_redis_clients(url))
