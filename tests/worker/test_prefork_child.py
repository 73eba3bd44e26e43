"""The prefork child (``python -m taskito.prefork``) driven over its pipes directly: Ready, jobs
run one at a time, a Cancel seen while a job runs and one that arrives before it starts,
Shutdown, the end of its pipe (parent gone), an app it cannot load, and signals it ignores."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from taskito.job import JobRecord, OutcomeKind, now_ms
from taskito.worker.pools.prefork import protocol
from taskito.worker.pools.prefork.child_main import EXIT_APP_FAILED, EXIT_OK, EXIT_PARENT_GONE
from taskito.worker.pools.prefork.children import ChildProcess, spawn_child
from tests.helpers import wait_until
from tests.worker.pool_app import MakeApp, PoolApp, pool_apps

EXIT_TIMEOUT_S = 20


StartChild = Callable[..., ChildProcess]


@pytest.fixture
def make_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakeApp]:
    yield from pool_apps(tmp_path, monkeypatch)


@pytest.fixture
def app(make_app: MakeApp) -> PoolApp:
    return make_app()


@pytest.fixture
def start_child(app: PoolApp) -> Iterator[StartChild]:
    """``start_child(app_spec=None)``: a child spawned as the pool spawns them; killed and
    reaped after the test."""
    started: list[ChildProcess] = []

    def start(app_spec: str | None = None) -> ChildProcess:
        child = spawn_child(sys.executable, app_spec or app.app, 0, "WARNING")
        started.append(child)
        return child

    yield start
    for child in started:
        child.kill()
        child.process.wait(timeout=EXIT_TIMEOUT_S)
        child.close_pipes()


def claim(app: PoolApp, task_name: str, *args: object) -> JobRecord:
    app.queue.enqueue(app.task(task_name).name, args=args)
    (job,) = app.queue._storage.claim("child-test", None, None, 1, now_ms(), 60_000)
    return job


def receive(child: ChildProcess) -> object:
    message = child.reader.receive()
    assert message is not None, f"child {child.pid} closed its pipe ({child.process.poll()})"
    return message


def outcome_of(child: ChildProcess, job: JobRecord) -> protocol.Outcome:
    message = receive(child)
    assert isinstance(message, protocol.Outcome), message
    assert (message.job_id, message.attempt) == (job.id, job.attempt)
    return message


def ready(child: ChildProcess) -> ChildProcess:
    assert receive(child) == protocol.Ready(child.pid)
    return child


def test_jobs_run_in_order_and_a_cancel_before_the_start_wins(
    app: PoolApp, start_child: StartChild
) -> None:
    child = ready(start_child())
    blocker = claim(app, "slow", 0.3)
    early = claim(app, "polls", 0.05)
    child.send(protocol.Job(blocker))
    app.wait_for_mark(blocker.id, "started")
    # The main thread is busy: this job waits in the child, and its cancel arrives first.
    child.send(protocol.Job(early))
    child.send(protocol.Cancel(early.id))
    assert outcome_of(child, blocker).outcome.kind is OutcomeKind.SUCCESS
    cancelled = outcome_of(child, early).outcome
    assert cancelled.kind is OutcomeKind.CANCELLED
    assert cancelled.error == f"job {early.id} was cancelled before it started"
    assert app.mark(early.id, "started") is None
    child.send(protocol.Shutdown())
    assert child.process.wait(timeout=EXIT_TIMEOUT_S) == EXIT_OK


def test_a_cancel_reaches_the_running_job_and_the_child_serves_on(
    app: PoolApp, start_child: StartChild
) -> None:
    child = ready(start_child())
    running = claim(app, "polls", 0.05)
    child.send(protocol.Job(running))
    app.wait_for_mark(running.id, "started")
    sent_at = time.monotonic()
    child.send(protocol.Cancel(running.id))
    outcome = outcome_of(child, running).outcome
    assert outcome.kind is OutcomeKind.CANCELLED
    assert outcome.error is not None and "TaskCancelledError" in outcome.error
    assert float(app.wait_for_mark(running.id, "raised")) - sent_at < 0.1
    # A cancel for a job that is no longer here is ignored.
    child.send(protocol.Cancel(running.id))
    follow_up = claim(app, "pid")
    child.send(protocol.Job(follow_up))
    result = outcome_of(child, follow_up).outcome
    assert app.queue._serializer.loads(result.result or b"") == child.pid


def test_the_end_of_its_pipe_stops_the_child_even_mid_job(
    app: PoolApp, start_child: StartChild
) -> None:
    child = ready(start_child())
    job = claim(app, "slow", 60)
    child.send(protocol.Job(job))
    app.wait_for_mark(job.id, "started")
    began = time.monotonic()
    child.writer.close()  # what the parent's death looks like from the child
    assert child.process.wait(timeout=EXIT_TIMEOUT_S) == EXIT_PARENT_GONE
    assert time.monotonic() - began < 5
    assert child.reader.receive() is None  # no outcome: nobody is there to record it


def test_shutdown_lets_the_current_job_finish(app: PoolApp, start_child: StartChild) -> None:
    child = ready(start_child())
    job = claim(app, "slow", 0.3)
    child.send(protocol.Job(job))
    child.send(protocol.Shutdown())
    assert outcome_of(child, job).outcome.kind is OutcomeKind.SUCCESS
    assert child.process.wait(timeout=EXIT_TIMEOUT_S) == EXIT_OK


def test_interrupt_and_terminate_signals_are_left_to_the_parent(
    app: PoolApp, start_child: StartChild
) -> None:
    child = ready(start_child())
    job = claim(app, "slow", 0.3)
    child.send(protocol.Job(job))
    app.wait_for_mark(job.id, "started")
    child.process.send_signal(signal.SIGINT)
    child.process.send_signal(signal.SIGTERM)
    assert outcome_of(child, job).outcome.kind is OutcomeKind.SUCCESS
    assert child.process.poll() is None


def test_an_unknown_task_fails_only_that_job(app: PoolApp, start_child: StartChild) -> None:
    child = ready(start_child())
    job = claim(app, "pid")
    job.task_name = "nobody.registered_this"
    child.send(protocol.Job(job))
    outcome = outcome_of(child, job).outcome
    assert outcome.kind is OutcomeKind.FAILURE and not outcome.retryable
    assert outcome.error == "task 'nobody.registered_this' is not registered"


@pytest.mark.parametrize(
    ("app_spec", "message"),
    [
        ("taskito_no_such_module:queue", "No module named 'taskito_no_such_module'"),
        ("not-a-spec", "expected 'module:attribute'"),
    ],
)
def test_an_app_it_cannot_load_is_reported_before_it_exits(
    start_child: StartChild, app_spec: str, message: str
) -> None:
    child = start_child(app_spec)
    failed = receive(child)
    assert isinstance(failed, protocol.StartupFailed) and message in failed.error
    assert child.process.wait(timeout=EXIT_TIMEOUT_S) == EXIT_APP_FAILED


def test_garbage_on_its_pipe_stops_the_child(app: PoolApp, start_child: StartChild) -> None:
    child = ready(start_child())
    os.write(child.writer.fileno(), b"\x00\x00\x00\x03abc")
    assert child.process.wait(timeout=EXIT_TIMEOUT_S) == EXIT_PARENT_GONE
    wait_until(lambda: child.reader.receive() is None)
