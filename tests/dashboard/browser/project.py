"""The application the browser tests watch: a module (``browser_app.py``) written into a
temporary directory, with a Queue on ``jobs.db`` beside it and the tasks below, run by a real
``taskito worker`` process. The test process opens its own Queue on the same file to enqueue
jobs (by task name) and to serve the dashboard.

Tasks: ``add``; ``boom`` and ``other_boom`` (raise at once); ``stepper`` (reports progress
25/50/75/100, waiting for the test's go-ahead between steps); ``wait_for_cancel`` (runs until
cancelled); ``chatty`` (logs at several levels); ``flaky`` (fails, behind a circuit breaker);
and the periodic task ``yearly_report``.
"""

from __future__ import annotations

import signal
import subprocess
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from taskito import Queue
from tests.e2e.cli_project import Project
from tests.helpers import wait_until

STOP_TIMEOUT_S = 20.0

APP_MODULE = """
import os
import time

from taskito import Queue, current_job

here = os.path.dirname(os.path.abspath(__file__))
queue = Queue(db_path=os.path.join(here, "jobs.db"))


def wait_for(path, deadline_s=45.0):
    deadline = time.monotonic() + deadline_s
    while not os.path.exists(path):
        current_job.check_cancelled()
        if time.monotonic() > deadline:
            raise TimeoutError(f"no go-ahead {path}")
        time.sleep(0.02)


@queue.task(name="add")
def add(a, b):
    return a + b


@queue.task(name="boom", max_retries=0)
def boom(message):
    raise ValueError(message)


@queue.task(name="other_boom", max_retries=0)
def other_boom():
    raise KeyError("missing")


@queue.task(name="stepper", max_retries=0, timeout=120)
def stepper(gate_dir, steps=4):
    for step in range(1, steps + 1):
        current_job.update_progress(step * 100 // steps)
        current_job.log(f"step {step} of {steps}", extra={"step": step})
        if step < steps:
            wait_for(os.path.join(gate_dir, f"step{step}"))
    return steps


@queue.task(name="wait_for_cancel", max_retries=0, timeout=120)
def wait_for_cancel():
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        current_job.check_cancelled()
        time.sleep(0.01)


@queue.task(name="chatty")
def chatty(n):
    current_job.log("starting the report", extra={"rows": n})
    current_job.log("slow upstream, retrying", level="warning")
    current_job.log("one row was rejected", level="error", extra={"row": 7})
    current_job.update_progress(100)
    return n


BREAKER = {"threshold": 2, "window": 60, "cooldown": 600}


@queue.task(name="flaky", max_retries=0, circuit_breaker=BREAKER)
def flaky():
    raise ConnectionError("upstream refused the connection")


# Once a year (06:00 UTC on January 1st), so that it never fires during a test run.
@queue.periodic("0 0 6 1 1 *", name="yearly_report", queue="reports")
def yearly_report():
    return "report"
"""


@dataclass
class App:
    """The project directory, its worker processes, and the gates ``stepper`` waits for."""

    root: Path
    runner: Project = field(init=False)

    def __post_init__(self) -> None:
        self.runner = Project(self.root)
        (self.root / "gates").mkdir()

    @property
    def db_path(self) -> Path:
        return self.root / "jobs.db"

    @property
    def gate_dir(self) -> str:
        return str(self.root / "gates")

    def open_gate(self, step: int) -> None:
        (self.root / "gates" / f"step{step}").touch()

    def start_worker(self, *extra: str, name: str = "worker") -> subprocess.Popen[bytes]:
        """``taskito worker`` on every queue with 4 threads, as a real process."""
        return self.runner.start(
            "worker",
            "--app",
            "browser_app:queue",
            "--workers",
            "4",
            "--drain-timeout",
            "1",
            *extra,
            name=name,
        )

    def stop_workers(self) -> None:
        """SIGTERM (a warm stop: running jobs get the 1 s drain), then kill what is left."""
        for process in self.runner.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.runner.processes:
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT_S)

    def worker_output(self, name: str = "worker") -> str:
        out, err = self.runner.output(name)
        return out + err


def make_app(root: Path) -> App:
    (root / "browser_app.py").write_text(textwrap.dedent(APP_MODULE).lstrip())
    return App(root)


def wait_for_worker(queue: Queue, timeout_s: float = 20.0) -> None:
    """Wait until a worker has registered on ``queue``'s database."""
    wait_until(queue.workers, timeout_s=timeout_s, message="a worker registered")


__all__ = ["APP_MODULE", "App", "make_app", "wait_for_worker"]
