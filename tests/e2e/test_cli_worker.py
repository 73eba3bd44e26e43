"""``taskito worker`` as a real process: it runs the app's jobs and stops cleanly on a signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from taskito import JobResult, Queue
from tests.e2e.cli_project import COMMAND_TIMEOUT_S, Project
from tests.helpers import wait_until

JOB_TIMEOUT_S = 20.0


def start_worker(project: Project, *options: str) -> subprocess.Popen[bytes]:
    return project.start("worker", "--app", "app_module:queue", *options, name="worker")


def result_of(job: JobResult, project: Project, worker: subprocess.Popen[bytes]) -> object:
    """The job's result; if it does not come (or the worker dies), fail showing the worker's
    stderr."""
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while worker.poll() is None and time.monotonic() < deadline:
        try:
            return job.result(timeout=0.25)
        except TimeoutError:
            continue
    state = "still running" if worker.poll() is None else f"exited with {worker.returncode}"
    stderr = project.output("worker")[1]
    raise AssertionError(f"no result for job {job.id}; the worker {state}:\n{stderr}")


def stop_worker(project: Project, worker: subprocess.Popen[bytes], process_signal: int) -> str:
    """Signal the worker, wait (with a deadline) for it to exit 0, return its stderr."""
    worker.send_signal(process_signal)
    returncode = worker.wait(timeout=COMMAND_TIMEOUT_S)
    stderr = project.output("worker")[1]
    assert returncode == 0, stderr
    return stderr


@pytest.mark.parametrize("pool", ["thread", "prefork", "async"])
def test_worker_runs_jobs_then_stops_on_sigterm(
    project: Project, producer: Queue, pool: str
) -> None:
    jobs = [producer.enqueue("app_module.add", args=(n, 10)) for n in range(5)]
    worker = start_worker(project, "--pool", pool, "--workers", "2")
    assert [result_of(job, project, worker) for job in jobs] == [10, 11, 12, 13, 14]
    stderr = stop_worker(project, worker, signal.SIGTERM)
    assert f"pool={pool} workers=2" in stderr
    assert producer.stats()["completed"] == 5


def test_sigint_stops_the_worker_too(project: Project, producer: Queue) -> None:
    job = producer.enqueue("app_module.add", args=(1, 2))
    worker = start_worker(project, "--log-level", "warning")
    assert result_of(job, project, worker) == 3
    stderr = stop_worker(project, worker, signal.SIGINT)
    assert "starting worker" not in stderr, "--log-level after the command was ignored"


def test_warm_shutdown_finishes_the_running_job(project: Project, producer: Queue) -> None:
    job = producer.enqueue("app_module.sleep_for", args=(1.0,))
    worker = start_worker(project, "--drain-timeout", "20")
    wait_until(lambda: producer.stats()["running"] == 1, timeout_s=JOB_TIMEOUT_S)
    stop_worker(project, worker, signal.SIGTERM)
    job.refresh()
    assert job.status == "complete"
    assert job.result(timeout=1) == 1.0


def test_drain_timeout_bounds_the_shutdown(project: Project, producer: Queue) -> None:
    producer.enqueue("app_module.sleep_for", args=(60,))
    worker = start_worker(project, "--drain-timeout", "0.2")
    wait_until(lambda: producer.stats()["running"] == 1, timeout_s=JOB_TIMEOUT_S)
    signalled_at = time.monotonic()
    stop_worker(project, worker, signal.SIGTERM)
    assert time.monotonic() - signalled_at < 10, "the worker ignored --drain-timeout 0.2"


def test_queues_option_limits_what_the_worker_takes(project: Project, producer: Queue) -> None:
    wanted = producer.enqueue("app_module.add", args=(1, 1), queue="emails")
    other = producer.enqueue("app_module.add", args=(2, 2), queue="reports")
    worker = start_worker(project, "--queues", "emails")
    assert result_of(wanted, project, worker) == 2
    stop_worker(project, worker, signal.SIGTERM)
    other.refresh()
    assert other.status == "pending"


def test_ctrl_c_on_the_whole_process_group_drains_a_prefork_worker(
    project: Project, producer: Queue
) -> None:
    job = producer.enqueue("app_module.sleep_for", args=(1.0,))
    options = ["--app", "app_module:queue", "--pool", "prefork", "--workers", "1"]
    with open(project.root / "group.err", "wb") as stderr:
        worker = subprocess.Popen(
            [sys.executable, "-m", "taskito", "worker", *options],
            cwd=project.root,
            env=project.env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
    project.processes.append(worker)
    wait_until(lambda: producer.stats()["running"] == 1, timeout_s=JOB_TIMEOUT_S)
    # What Ctrl+C in a terminal does: SIGINT to every process of the group, children too.
    # The children leave it to the worker, which drains: the running job completes.
    os.killpg(worker.pid, signal.SIGINT)
    returncode = worker.wait(timeout=COMMAND_TIMEOUT_S)
    stderr_text = (project.root / "group.err").read_text(errors="replace")
    assert returncode == 0, stderr_text
    job.refresh()
    assert job.status == "complete", stderr_text
    assert "worker process died" not in stderr_text


def test_the_banner_says_what_the_worker_does_and_warns_of_an_unused_queue(
    project: Project, producer: Queue
) -> None:
    job = producer.enqueue("app_module.add", args=(2, 3), queue="emails")
    worker = start_worker(project, "--queues", "default,emails", "--workers", "2")
    assert result_of(job, project, worker) == 5  # an unused queue is consumed all the same
    stderr = stop_worker(project, worker, signal.SIGTERM)
    [banner] = [line for line in stderr.splitlines() if " started: database " in line]
    assert "INFO" in banner
    assert "pool thread with 2 slot(s); consuming default, emails;" in banner
    assert banner.endswith("2 task(s) known: app_module.add, app_module.sleep_for")
    warnings = [line for line in stderr.splitlines() if "no registered task uses queue" in line]
    assert len(warnings) == 1 and "WARNING" in warnings[0] and "'emails'" in warnings[0]
