"""Any exception ends its attempt: a task raising ``KeyboardInterrupt``, ``SystemExit``,
``GeneratorExit`` or a custom ``BaseException`` subclass fails that attempt (retried per its
policy, dead with ``max_retries=0``) on the thread, async and prefork pools alike, and the slot
is free again: on a one-slot pool the next job runs, and the worker keeps running.

Real workers (``queue.run_worker``) on every backend; the app is a module on disk so prefork
children import the same tasks.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from taskito import Queue
from tests.backends import QueueTarget
from tests.helpers import wait_until
from tests.worker.pool_app import stop_worker_thread

APP_SOURCE = '''
"""Tasks that raise what is not an Exception (written by tests/faults/test_base_exceptions.py)."""

import os
import threading

from taskito import Queue, current_job

queue = Queue(**TARGET_KWARGS, workers=1, async_concurrency=1)


class Halt(BaseException):
    """A custom BaseException, as some libraries define."""


RAISERS = {
    "KeyboardInterrupt": lambda: KeyboardInterrupt("from the task"),
    "SystemExit": lambda: SystemExit(3),
    "GeneratorExit": lambda: GeneratorExit("from the task"),
    "Halt": lambda: Halt("from the task"),
}


def _where():
    return f"{os.getpid()} {threading.get_ident()}"


@queue.task(retry_backoff=0.01)
def raises(kind):
    """The first attempt raises ``kind``; a retry returns where it ran."""
    if current_job.retry_count == 0:
        raise RAISERS[kind]()
    return _where()


@queue.task(retry_backoff=0.01)
async def araises(kind):
    if current_job.retry_count == 0:
        raise RAISERS[kind]()
    return _where()


@queue.task()
def where():
    return _where()


@queue.task()
async def awhere():
    return _where()
'''

KINDS = ["KeyboardInterrupt", "SystemExit", "GeneratorExit", "Halt"]
#: (pool, the raising task, the follow-up task)
POOLS = [
    pytest.param("thread", "raises", "where", id="thread"),
    pytest.param("thread", "araises", "awhere", id="thread-async-task"),
    pytest.param("async", "araises", "awhere", id="async"),
    pytest.param("prefork", "raises", "where", id="prefork"),
]


class RaisingApp:
    """``APP_SOURCE`` on ``target``, written to ``root`` (the working directory) and imported."""

    def __init__(self, root: Path, target: QueueTarget) -> None:
        self.name = f"raising_app_{uuid.uuid4().hex[:12]}"
        path = root / f"{self.name}.py"
        path.write_text(APP_SOURCE.replace("TARGET_KWARGS", repr(target.kwargs)))
        spec = importlib.util.spec_from_file_location(self.name, path)
        assert spec is not None and spec.loader is not None
        self.module = importlib.util.module_from_spec(spec)
        sys.modules[self.name] = self.module
        spec.loader.exec_module(self.module)
        self.queue: Queue = self.module.queue

    def close(self) -> None:
        self.queue.close()
        sys.modules.pop(self.name, None)

    @contextmanager
    def running(self, pool: str) -> Iterator[threading.Thread]:
        errors: list[BaseException] = []

        def run() -> None:
            try:
                self.queue.run_worker(pool=pool, app=f"{self.name}:queue")
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=run, name="test-raising-worker")
        thread.start()
        try:
            wait_until(
                lambda: self.queue._running_workers or not thread.is_alive(),
                timeout_s=20,
                message="the worker to register",
            )
            yield thread
        finally:
            stop_worker_thread(self.queue, thread)
        assert not errors, errors


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: QueueTarget) -> Iterator[Any]:
    monkeypatch.chdir(tmp_path)
    made = RaisingApp(tmp_path, target)
    try:
        yield made
    finally:
        made.close()


def _wait_terminal(queue: Queue, job_id: str) -> Any:
    def terminal() -> bool:
        job = queue.get_job(job_id)
        return job is not None and job.status in ("complete", "dead", "failed", "cancelled")

    wait_until(terminal, timeout_s=20, message=f"job {job_id} to finish")
    return queue.get_job(job_id)


@pytest.mark.parametrize(("pool", "task_name", "follow_up"), POOLS)
def test_a_base_exception_fails_the_attempt_and_frees_the_slot(
    app: RaisingApp, pool: str, task_name: str, follow_up: str
) -> None:
    raising = getattr(app.module, task_name)
    with app.running(pool) as worker_thread:
        # No retries: each kind ends dead with its traceback, one after the other on the
        # pool's single slot (a slot lost to the first would stall the second forever).
        dead = [raising.apply_async(args=(kind,), max_retries=0) for kind in KINDS]
        for kind, job in zip(KINDS, dead, strict=True):
            record = _wait_terminal(app.queue, job.id)
            assert record.status == "dead", (kind, record.status, record.error)
            assert record.to_dict()["retry_count"] == 0
            assert record.error is not None and f"{kind}: " in record.error, record.error
            assert "Traceback (most recent call last)" in record.error
        # With a retry left: the attempt fails, the retry runs on the same (free) slot.
        retried = raising.apply_async(args=("KeyboardInterrupt",), max_retries=1)
        assert _wait_terminal(app.queue, retried.id).status == "complete"
        assert _wait_terminal(app.queue, retried.id).to_dict()["retry_count"] == 1
        (error,) = retried.errors
        assert "KeyboardInterrupt: from the task" in error["error"]
        after = getattr(app.module, follow_up).delay()
        where = after.result(timeout=20)
        assert worker_thread.is_alive()
    if pool == "prefork":
        # The child was not taken down: the retry and the next job ran in one process.
        assert where.split()[0] == retried.result(timeout=5).split()[0]
