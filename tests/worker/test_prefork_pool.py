"""The prefork pool's set-up and configuration: children are real processes that import the
app, ``TASKITO_PYTHON``, bad ``app=`` values, ``max_tasks_per_child`` recycling, task output
on stdout, outcome events in the parent, and prefetch timed from each job's start."""

from __future__ import annotations

import collections
import os
import stat
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskito import ConfigurationError, EventType
from taskito.job import JobRecord, Outcome, OutcomeKind, now_ms
from taskito.registry import ClaimedJob
from taskito.worker.pools import create_pool
from taskito.worker.pools.prefork.pool import PreforkPool
from tests.helpers import wait_until
from tests.worker.pool_app import MakeApp, PoolApp, pool_apps, process_gone


@pytest.fixture
def make_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakeApp]:
    yield from pool_apps(tmp_path, monkeypatch)


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_jobs_run_in_child_processes_that_import_the_app(make_app: MakeApp) -> None:
    app = make_app(workers=2)
    completed = []
    app.queue.on_event(EventType.JOB_COMPLETED, lambda _t, payload: completed.append(payload))
    with app.running("prefork"):
        jobs = [app.task("slow").delay(0.3) for _ in range(2)]
        runners = {app.pid_of(job.id) for job in jobs}
        assert len(runners) == 2, "two jobs at once run in two children"
        assert all(parent_of(pid) == os.getpid() for pid in runners)
        assert [job.result(timeout=20) for job in jobs] == [0.3, 0.3]
    assert os.getpid() not in runners
    assert all(process_gone(pid) for pid in runners)
    app.queue._event_bus.flush(5)
    # Outcome events are the worker's, in this process, exactly as with the thread pool.
    assert sorted(payload["job_id"] for payload in completed) == sorted(job.id for job in jobs)


def test_print_in_a_task_goes_to_stdout_and_leaves_the_protocol_alone(
    make_app: MakeApp, capfd: pytest.CaptureFixture[str]
) -> None:
    app = make_app(workers=1)
    # Text that looks like a frame: a length header followed by junk.
    text = "\x00\x00\x00\x05hello\n" * 50 + "end of noise"
    with app.running("prefork"):
        assert app.task("noisy").delay(text).result(timeout=20) == len(text)
        assert app.task("pid").delay().result(timeout=20) > 0
    out, err = capfd.readouterr()
    assert "end of noise" in out and "end of noise" in err


@pytest.mark.parametrize("recycle_after", [1, 2])
def test_max_tasks_per_child_recycles_each_child(make_app: MakeApp, recycle_after: int) -> None:
    app = make_app(workers=1)
    jobs = 2 * recycle_after
    with app.running("prefork", max_tasks_per_child=recycle_after):
        one_by_one = [app.task("pid").delay().result(timeout=20) for _ in range(jobs)]
        together = [app.task("pid").delay() for _ in range(jobs)]
        batch = [job.result(timeout=20) for job in together]
    for pids in (one_by_one, batch):
        assert sorted(collections.Counter(pids).values()) == [recycle_after] * 2, pids
    assert len(set(one_by_one) | set(batch)) == 4
    assert all(process_gone(pid) for pid in one_by_one + batch)
    assert app.queue.stats()["failed"] == app.queue.stats()["dead"] == 0


def test_max_tasks_per_child_is_checked(make_app: MakeApp) -> None:
    app = make_app()
    with pytest.raises(ConfigurationError, match="max_tasks_per_child"):
        app.queue.run_worker(pool="prefork", app=app.app, max_tasks_per_child=-1)
    with pytest.raises(TypeError, match="max_tasks_per_child"):
        app.queue.run_worker(
            pool="prefork",
            app=app.app,
            max_tasks_per_child="2",  # type: ignore[arg-type]
        )
    with pytest.raises(ConfigurationError, match="pool='prefork' only"):
        app.queue.run_worker(pool="thread", max_tasks_per_child=5)
    with pytest.raises(ValueError, match="pool='prefork' only"):
        create_pool("async", app.queue._execution_env(), 1, max_tasks_per_child=5)


@pytest.mark.parametrize("app_spec", [None, "", "no_colon", ":queue", "module:"])
def test_prefork_needs_an_app_spec(make_app: MakeApp, app_spec: str | None) -> None:
    env = make_app().queue._execution_env()
    with pytest.raises(ValueError, match="app="):
        create_pool("prefork", env, 1, app=app_spec)


def test_prefork_is_refused_on_windows(make_app: MakeApp, monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app()
    monkeypatch.setattr(sys, "platform", "win32")
    with pytest.raises(NotImplementedError, match="Windows"):
        PreforkPool(app.queue._execution_env(), 1, app=app.app)


@pytest.mark.parametrize(
    ("attribute", "message"),
    [
        ("queue_that_is_not_there", "has no attribute 'queue_that_is_not_there'"),
        ("hooks", "is a OutcomeHooks, not a taskito.Queue"),
    ],
)
def test_an_app_the_children_cannot_load_fails_the_start(
    make_app: MakeApp, attribute: str, message: str
) -> None:
    app = make_app()
    with pytest.raises(ConfigurationError, match=message):
        app.queue.run_worker(pool="prefork", app=f"{app.name}:{attribute}")
    assert app.queue.workers() == []


def test_a_module_the_children_cannot_import_fails_the_start(make_app: MakeApp) -> None:
    env = make_app().queue._execution_env()
    pool = PreforkPool(env, 2, app="taskito_no_such_module:queue")
    with pytest.raises(ConfigurationError, match="No module named 'taskito_no_such_module'"):
        pool.start()


def test_taskito_python_is_read_when_the_pool_starts(
    make_app: MakeApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(workers=1)
    used = tmp_path / "interpreter-used"
    wrapper = tmp_path / "python-wrapper"
    wrapper.write_text(f'#!/bin/sh\necho "$$" >> {used}\nexec {sys.executable} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.delenv("TASKITO_PYTHON", raising=False)
    env = app.queue._execution_env()
    pool = PreforkPool(env, 1, app=app.app)
    monkeypatch.setenv("TASKITO_PYTHON", str(wrapper))  # after construction, before start
    outcomes: list[Outcome] = []
    pool.start()
    try:
        app.queue.enqueue(app.task("pid").name)
        (job,) = app.queue._storage.claim("t", None, None, 1, now_ms(), 60_000)
        pool.submit(env.resolve(job), lambda _job, outcome: outcomes.append(outcome))
        wait_until(lambda: outcomes, timeout_s=20)
    finally:
        pool.shutdown(10)
    child_pid = app.queue._serializer.loads(outcomes[0].result or b"")
    # exec keeps the pid: the wrapper recorded the very process that ran the job.
    assert used.read_text().split() == [str(child_pid)]


def test_a_missing_taskito_python_fails_the_start(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app()
    monkeypatch.setenv("TASKITO_PYTHON", "/nonexistent/python3")
    pool = PreforkPool(app.queue._execution_env(), 1, app=app.app)
    with pytest.raises(RuntimeError, match="/nonexistent/python3"):
        pool.start()


def claim_one(app: PoolApp, task_name: str, *args: object, timeout_s: float = 300) -> ClaimedJob:
    app.queue.enqueue(app.task(task_name).name, args=args, timeout=timeout_s)
    (job,) = app.queue._storage.claim("prefetch-test", None, None, 1, now_ms(), 60_000)
    return app.queue._execution_env().resolve(job)


def test_prefetch_claims_ahead_only_while_jobs_are_short(make_app: MakeApp) -> None:
    app = make_app()
    pool = PreforkPool(app.queue._execution_env(), 2, app=app.app)
    outcomes: list[Outcome] = []
    done = threading.Event()

    def on_done(_job: JobRecord, outcome: Outcome) -> None:
        outcomes.append(outcome)
        done.set()

    pool.start()
    try:
        assert pool.free_slots(0) == 2  # nothing known about run times yet
        for _ in range(5):
            done.clear()
            pool.submit(claim_one(app, "pid"), on_done)
            assert done.wait(20)
        assert pool.free_slots(0) > 2  # short jobs: room for jobs waiting in the pool
        for _ in range(3):
            done.clear()
            pool.submit(claim_one(app, "slow", 0.2), on_done)
            assert done.wait(20)
        assert pool.free_slots(0) == 2  # 200 ms jobs: nobody waits behind them
    finally:
        pool.shutdown(10)
    assert all(outcome.kind is OutcomeKind.SUCCESS for outcome in outcomes)


def test_a_prefetched_job_is_timed_from_its_start_not_its_claim(make_app: MakeApp) -> None:
    app = make_app(workers=1)
    with app.running("prefork") as worker:
        for _ in range(10):  # short jobs turn prefetch on
            app.task("pid").delay().result(timeout=20)
        blocker = app.task("slow").delay(0.8)
        app.wait_for_mark(blocker.id, "started")
        # Claimed at once into the pool's backlog, it waits longer than its timeout.
        waiting = app.task("slow").apply_async(args=(0.05,), timeout=0.4)
        wait_until(lambda: app.status(waiting.id) == "running")
        assert worker.pool.start_delay_s(waiting.id) is None
        assert waiting.result(timeout=20) == 0.05
        # A hung job that waited as long still gets its full timeout once it starts.
        for _ in range(20):  # the long job turned prefetch off; short ones turn it on again
            app.task("pid").delay().result(timeout=20)
        blocker = app.task("slow").delay(0.8)
        app.wait_for_mark(blocker.id, "started")
        hung = app.task("hangs").apply_async(args=(3600,), timeout=0.4, max_retries=0)
        wait_until(lambda: app.status(hung.id) == "running")
        assert worker.pool.start_delay_s(hung.id) is None
        runner = app.pid_of(hung.id, "attempt0")
        started = time.monotonic()
        wait_until(lambda: process_gone(runner), timeout_s=10)
        assert 0.35 <= time.monotonic() - started < 1.4
    assert waiting.errors == []
    hung.refresh()
    assert hung.status == "dead" and hung.error == "job timed out after 400ms"
