"""An app module on disk for the pool tests, run through ``queue.run_worker``: ``PoolApp``
(prefork children import the same file), ``pool_apps`` (the body of a ``make_app`` fixture),
and ``Canceller``, a second process that calls ``queue.cancel``. The app's Queue opens a
``QueueTarget`` (``tests/backends.py``), so these suites run on any backend. The app's source
(its tasks) is in ``pool_app_source.py``."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from taskito import Queue, TaskWrapper
from taskito.worker import Worker
from tests.backends import QueueTarget, queue_target
from tests.helpers import wait_until
from tests.worker.pool_app_source import POOL_APP_SOURCE


class PoolApp:
    """``POOL_APP_SOURCE`` written to ``root`` under a unique module name and imported here;
    run the tests with ``root`` as the working directory so prefork children find it too.
    Its Queue opens ``target`` (written into the source, so every child opens the same)."""

    def __init__(self, root: Path, target: QueueTarget, **queue_options: Any) -> None:
        self.root = root
        self.name = f"pool_app_{uuid.uuid4().hex[:12]}"
        path = root / f"{self.name}.py"
        source = POOL_APP_SOURCE.replace("TARGET_KWARGS", repr(target.kwargs))
        path.write_text(source.replace("QUEUE_OPTIONS", repr(queue_options)))
        spec = importlib.util.spec_from_file_location(self.name, path)
        assert spec is not None and spec.loader is not None
        self.module = importlib.util.module_from_spec(spec)
        sys.modules[self.name] = self.module
        try:
            spec.loader.exec_module(self.module)
        except BaseException:
            del sys.modules[self.name]
            raise
        self.queue: Queue = self.module.queue
        self.app = f"{self.name}:queue"
        self.marks = root / "marks"

    def close(self) -> None:
        self.queue.close()
        sys.modules.pop(self.name, None)

    def task(self, name: str) -> TaskWrapper:
        task: TaskWrapper = getattr(self.module, name)
        return task

    def hook_calls(self) -> list[tuple[str, str, int]]:
        calls: list[tuple[str, str, int]] = self.module.hooks.calls
        return list(calls)

    def mark(self, job_id: str, event: str) -> str | None:
        try:
            return (self.marks / f"{job_id}.{event}").read_text()
        except FileNotFoundError:
            return None

    def wait_for_mark(self, job_id: str, event: str, timeout_s: float = 20.0) -> str:
        found = wait_until(
            lambda: self.mark(job_id, event) is not None,
            timeout_s,
            message=f"mark {event!r} of job {job_id}",
        )
        assert found
        text = self.mark(job_id, event)
        assert text is not None
        return text

    def pid_of(self, job_id: str, event: str = "started") -> int:
        """The pid that wrote the mark (marks start with ``where()``: "PID THREAD")."""
        return int(self.wait_for_mark(job_id, event).split()[0])

    def status(self, job_id: str) -> str:
        job = self.queue.get_job(job_id)
        assert job is not None, f"no job {job_id}"
        return job.status

    def wait_for_status(self, job_id: str, *statuses: str, timeout_s: float = 20.0) -> str:
        wait_until(
            lambda: self.status(job_id) in statuses,
            timeout_s,
            message=f"job {job_id} to become {' or '.join(statuses)}",
        )
        return self.status(job_id)

    @contextmanager
    def running(self, pool: str, **options: Any) -> Iterator[Worker]:
        """``queue.run_worker(pool=..., app=...)`` in a thread for the block; then drain it and
        join. The block starts once the worker is registered."""
        errors: list[BaseException] = []

        def target() -> None:
            try:
                self.queue.run_worker(pool=pool, app=self.app, **options)
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=target, name="test-pool-worker")
        thread.start()
        try:
            wait_until(
                lambda: self.queue._running_workers or not thread.is_alive(),
                timeout_s=20,
                message="the worker to register",
            )
            if errors:
                raise errors[0]
            (worker,) = self.queue._running_workers
            yield worker
        finally:
            stop_worker_thread(self.queue, thread)
        if errors:
            raise errors[0]


def stop_worker_thread(queue: Queue, thread: threading.Thread, timeout_s: float = 60.0) -> None:
    """Ask the queue's workers to drain until the thread running one has ended."""
    deadline = time.monotonic() + timeout_s
    while thread.is_alive() and time.monotonic() < deadline:
        queue.request_shutdown()
        thread.join(0.05)
    assert not thread.is_alive(), f"the worker did not stop within {timeout_s}s"


CANCELLER_SOURCE = """
import json, sys, time
from taskito import Queue

queue = Queue(**json.loads(sys.argv[1]))
print("ready", flush=True)
for line in sys.stdin:
    job_id, force = line.split()
    sent_at = time.monotonic()
    ok = queue.cancel(job_id, force=force == "force")
    print(repr(sent_at), ok, flush=True)
queue.close()
"""


class Canceller:
    """A second process holding its own Queue on ``target``; ``cancel(id)`` has it call
    ``queue.cancel`` and returns (``time.monotonic()`` just before the call, result)."""

    def __init__(self, target: QueueTarget) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-c", CANCELLER_SOURCE, json.dumps(target.kwargs)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._read_line() == "ready"

    def _read_line(self) -> str:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        assert line, f"the canceller process exited ({self._process.poll()})"
        return line.strip()

    def cancel(self, job_id: str, *, force: bool = False) -> tuple[float, bool]:
        assert self._process.stdin is not None
        self._process.stdin.write(f"{job_id} {'force' if force else 'coop'}\n")
        self._process.stdin.flush()
        sent_at, ok = self._read_line().split()
        return float(sent_at), ok == "True"

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=20)
        finally:
            if self._process.poll() is None:
                self._process.kill()
                self._process.wait()
            if self._process.stdout is not None:
                self._process.stdout.close()


MakeApp = Callable[..., PoolApp]


def pool_apps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: QueueTarget | None = None
) -> Iterator[MakeApp]:
    """The body of a ``make_app`` fixture: ``make_app(**queue_options)`` writes and imports a
    ``PoolApp`` in ``tmp_path``, made the working directory so prefork children find it. The
    apps share ``target`` (default: a SQLite file in ``tmp_path``; the caller drops others)."""
    monkeypatch.chdir(tmp_path)
    shared = target or queue_target("sqlite", tmp_path)
    apps: list[PoolApp] = []

    def make(**queue_options: Any) -> PoolApp:
        app = PoolApp(tmp_path, shared, **queue_options)
        apps.append(app)
        return app

    try:
        yield make
    finally:
        for app in apps:
            app.close()


def process_gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie that its new parent has not reaped counts)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")
