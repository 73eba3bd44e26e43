"""The workflow suite's app and worker: ``WorkflowApp`` writes ``app_source.py``'s module to
a folder (so prefork children and other processes import the same file), imports it, runs
workers on it (a thread here, or a process of its own) and counts the calls its tasks made."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from taskito import Queue
from taskito.workflows import NodeStatus, WorkflowState, WorkflowStatus
from tests.backends import QueueTarget
from tests.helpers import wait_until
from tests.worker.pool_app import stop_worker_thread
from tests.workflows.app_source import WORKFLOW_APP_SOURCE

#: A generous wait for one run: steps are trivial, but the machine is shared.
RUN_TIMEOUT_S = 30.0


def assert_fully_cancelled(app: WorkflowApp, snapshot: WorkflowStatus) -> None:
    """A run as a finished cancel leaves it: cancelled, every node skipped, every node's job
    cancelled."""
    assert snapshot.state is WorkflowState.CANCELLED
    assert {n.status for n in snapshot.nodes.values()} == {NodeStatus.SKIPPED}
    for node in snapshot.nodes.values():
        job = app.queue.get_job(node.job_id or "")
        assert job is not None and job.status == "cancelled"


class WorkflowApp:
    """The app module in ``root`` on ``target``; ``module.<task>`` are its tasks."""

    def __init__(
        self, root: Path, target: QueueTarget, *, name: str | None = None, **queue_options: Any
    ) -> None:
        """``name``: import the module an earlier app wrote (a restarted process)."""
        self.root = root
        self.target = target
        self.name = name or f"wf_app_{uuid.uuid4().hex[:12]}"
        self.path = root / f"{self.name}.py"
        if name is None:
            source = WORKFLOW_APP_SOURCE.replace("TARGET_KWARGS", repr(target.kwargs))
            self.path.write_text(source.replace("QUEUE_OPTIONS", repr(queue_options)))
        spec = importlib.util.spec_from_file_location(self.name, self.path)
        assert spec is not None and spec.loader is not None
        self.module = importlib.util.module_from_spec(spec)
        sys.modules[self.name] = self.module
        spec.loader.exec_module(self.module)
        self.queue: Queue = self.module.queue
        self.app = f"{self.name}:queue"

    def close(self) -> None:
        self.queue.close()
        sys.modules.pop(self.name, None)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.module, name)

    def calls(self, what: str) -> int:
        """How many times a task recorded ``what`` (any process)."""
        return len(list((self.root / "calls").glob(f"{what}.*")))

    def release(self, name: str) -> None:
        """Create the file ``wait_for_file(name)`` waits for."""
        (self.root / name).write_text("")

    @contextmanager
    def worker(self, pool: str = "thread", **options: Any) -> Iterator[None]:
        """``run_worker`` on a thread for the block; drained and joined after it."""
        errors: list[BaseException] = []
        if pool == "prefork":
            options.setdefault("app", self.app)

        def run() -> None:
            try:
                self.queue.run_worker(pool=pool, **options)
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=run, name="test-workflow-worker")
        thread.start()
        try:
            wait_until(
                lambda: self.queue._running_workers or not thread.is_alive(),
                timeout_s=30,
                message="the worker to register",
            )
            yield
        finally:
            stop_worker_thread(self.queue, thread)
        if errors:
            raise errors[0]

    def worker_process(self, pool: str = "thread") -> subprocess.Popen[bytes]:
        """A worker of this app in a process of its own (``python -m taskito worker``)."""
        return subprocess.Popen(
            [sys.executable, "-m", "taskito", "worker", "--app", self.app, "--pool", pool],
            cwd=self.root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
