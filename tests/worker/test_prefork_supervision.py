"""Supervision of prefork children: a child that dies fails its job ("worker process died",
retried) and is replaced; a forced cancel or a hard timeout kills exactly the child running
that job; shutdown drains, then kills; children never outlive the worker process."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskito.worker.pools.prefork.pool import PreforkPool
from tests.helpers import wait_until
from tests.worker.pool_app import MakeApp, pool_apps, process_gone


@pytest.fixture
def make_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakeApp]:
    yield from pool_apps(tmp_path, monkeypatch)


#: how the first attempt of ``dies`` ends -> what the job's error says about the child
DEATHS = {
    "sigkill": "was killed by SIGKILL",
    "segfault": "was killed by SIGSEGV",
    "os_exit": "exited with status 7",
    "external": "was killed by SIGKILL",  # the test kills the child from outside
}
# A KeyboardInterrupt from the task no longer takes the child down: it fails the attempt
# like any exception (tests/faults/test_base_exceptions.py).


@pytest.mark.parametrize("how", list(DEATHS))
def test_a_child_that_dies_fails_its_job_and_is_replaced(
    make_app: MakeApp, caplog: pytest.LogCaptureFixture, how: str
) -> None:
    app = make_app(workers=1)
    with caplog.at_level(logging.ERROR, logger="taskito"), app.running("prefork"):
        job = app.task("dies").delay(how)
        first_child = app.pid_of(job.id, "attempt0")
        if how == "external":
            os.kill(first_child, signal.SIGKILL)
        second_child = job.result(timeout=20)  # the retry, in the replacement child
    assert second_child != first_child
    assert process_gone(first_child)
    (error,) = job.errors
    assert error["attempt"] == 0
    assert error["error"].startswith(f"worker process died: prefork child {first_child} ")
    assert DEATHS[how] in error["error"] and job.id in error["error"]
    assert "worker process died" in caplog.text
    assert [call[0] for call in app.hook_calls()] == ["on_retry"]


def test_a_process_started_by_a_task_does_not_hide_the_childs_death(make_app: MakeApp) -> None:
    app = make_app(workers=1)
    with app.running("prefork"):
        job = app.task("spawns_then_dies").delay(30)
        child, sleeper = map(int, app.wait_for_mark(job.id, "started").split())
        try:
            assert app.wait_for_status(job.id, "dead", timeout_s=10) == "dead"
        finally:
            os.kill(sleeper, signal.SIGKILL)
    job.refresh()
    assert job.error is not None
    assert job.error.startswith(f"worker process died: prefork child {child} ")


def test_a_forced_cancel_kills_only_the_child_running_that_job(make_app: MakeApp) -> None:
    app = make_app(workers=2)
    with app.running("prefork") as worker:
        pool = worker.pool
        assert isinstance(pool, PreforkPool)
        stubborn = app.task("ignores").delay(30)
        polite = app.task("polls").delay(0.05)
        stubborn_child, polite_child = app.pid_of(stubborn.id), app.pid_of(polite.id)
        assert stubborn_child != polite_child
        assert app.queue.cancel(stubborn.id, force=True)
        assert app.wait_for_status(stubborn.id, "cancelled", "complete") == "cancelled"
        wait_until(lambda: process_gone(stubborn_child))
        assert app.status(polite.id) == "running" and not process_gone(polite_child)
        assert app.queue.cancel(polite.id)
        assert app.wait_for_status(polite.id, "cancelled") == "cancelled"
        # Both slots serve again: the untouched child and a fresh one.
        wait_until(lambda: len(pool.child_pids()) == 2, timeout_s=20)
        (fresh_child,) = set(pool.child_pids()) - {polite_child}
        jobs = [app.task("slow").delay(0.3) for _ in range(2)]
        runners = {app.pid_of(job.id) for job in jobs}
        assert [job.result(timeout=20) for job in jobs] == [0.3, 0.3]
    assert runners == {polite_child, fresh_child} and fresh_child != stubborn_child


def test_a_hard_timeout_kills_only_the_child_running_that_job(make_app: MakeApp) -> None:
    app = make_app(workers=2)
    with app.running("prefork"):
        hung = app.task("hangs").apply_async(args=(3600,), timeout=0.5, max_retries=0)
        polite = app.task("polls").delay(0.05)
        hung_child, polite_child = app.pid_of(hung.id, "attempt0"), app.pid_of(polite.id)
        assert app.wait_for_status(hung.id, "dead") == "dead"
        wait_until(lambda: process_gone(hung_child))
        assert app.status(polite.id) == "running" and not process_gone(polite_child)
        assert app.queue.cancel(polite.id)
        assert app.wait_for_status(polite.id, "cancelled") == "cancelled"
    hung.refresh()
    assert hung.error == "job timed out after 500ms"


def test_shutdown_lets_running_jobs_finish_then_stops_every_child(make_app: MakeApp) -> None:
    app = make_app(workers=2, drain_timeout=30)
    with app.running("prefork") as worker:
        job = app.task("slow").delay(0.5)
        child = app.pid_of(job.id)
        app.queue.request_shutdown()
        wait_until(lambda: worker.status == "draining")
    assert job.result(timeout=1) == 0.5
    assert process_gone(child)


def test_the_drain_timeout_kills_a_child_that_does_not_finish(make_app: MakeApp) -> None:
    app = make_app(workers=1, drain_timeout=0.3)
    with app.running("prefork"):
        job = app.task("slow").delay(60)
        child = app.pid_of(job.id)
        stopping_at = time.monotonic()
    assert time.monotonic() - stopping_at < 5
    assert process_gone(child)
    # Unfinished: released as a rescue; another worker runs it again at once.
    assert app.status(job.id) == "pending"


WORKER_PROCESS = """
import importlib, sys
sys.path.insert(0, ".")
module = importlib.import_module(sys.argv[1])
module.queue.run_worker(pool="prefork", app=sys.argv[1] + ":queue")
"""


def test_children_exit_when_the_worker_process_dies(make_app: MakeApp, tmp_path: Path) -> None:
    app = make_app(workers=2)
    jobs = [app.task("slow").delay(60) for _ in range(2)]
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER_PROCESS, app.name],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        children = [app.pid_of(job.id) for job in jobs]
        assert len(set(children)) == 2
        worker.kill()
        worker.wait(timeout=20)
        wait_until(lambda: all(process_gone(pid) for pid in children), timeout_s=10)
    finally:
        if worker.poll() is None:
            worker.kill()
        worker.wait(timeout=20)
