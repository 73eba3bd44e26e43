"""The inspection commands' harness: ``ops_app.py`` of the project directory on one backend,
a producer Queue on the same database, and shortcuts to run ``taskito`` against it."""

from __future__ import annotations

import json
import signal
import subprocess
from dataclasses import dataclass
from typing import Any

from taskito import JobResult, Queue
from tests.e2e.cli_project import COMMAND_TIMEOUT_S, Project
from tests.helpers import wait_until

APP = "ops_app:queue"
JOB_TIMEOUT_S = 20.0


@dataclass
class Ops:
    """``run``/``json`` run ``taskito ARGS --app ops_app:queue`` to completion; ``producer``
    enqueues and inspects on the same database."""

    backend: str
    project: Project
    producer: Queue

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return self.project.run(*args, "--app", APP, **env)

    def json(self, *args: str) -> Any:
        """The command's JSON document (it must exit 0; stderr may hold log lines, such as
        the warning about a Redis server without persistence, never an error)."""
        result = self.run(*args, "--format", "json")
        assert result.returncode == 0, result.stderr
        assert "error" not in result.stderr.lower(), result.stderr
        return json.loads(result.stdout)

    def start_worker(self, *options: str) -> subprocess.Popen[bytes]:
        worker = self.project.start("worker", "--app", APP, *options, name="worker")
        wait_until(
            lambda: self.producer.workers() or worker.poll() is not None,
            timeout_s=JOB_TIMEOUT_S,
            message="the worker registered",
        )
        assert worker.poll() is None, self.project.output("worker")[1]
        return worker

    def stop_worker(self, worker: subprocess.Popen[bytes]) -> None:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=COMMAND_TIMEOUT_S) == 0, self.project.output("worker")[1]

    def wait_for_status(self, job: JobResult, *statuses: str) -> None:
        def reached() -> bool:
            job.refresh()
            return job.status in statuses

        wait_until(reached, timeout_s=JOB_TIMEOUT_S, message=f"job {job.id} {statuses}")

    def wait_for_progress(self, job: JobResult, progress: int) -> None:
        def reached() -> bool:
            job.refresh()
            return job.progress == progress

        wait_until(reached, timeout_s=JOB_TIMEOUT_S, message=f"job {job.id} at {progress}%")

    def open_gate(self, name: str) -> None:
        """Let the ``stepped`` job waiting on ``name`` finish."""
        (self.project.root / name).touch()

    def dead_job(self, message: str = "no such invoice") -> JobResult:
        """A job of ``explode`` run to the dead-letter queue (2 attempts); needs a worker."""
        job = self.producer.enqueue("ops_app.explode", args=(message,), max_retries=1)
        self.wait_for_status(job, "dead")
        return job


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one error line a failed command printed (after any log lines)."""
    lines = result.stderr.splitlines()
    assert lines, f"nothing on stderr (exit status {result.returncode})"
    assert "Traceback" not in result.stderr, result.stderr
    return lines[-1]
