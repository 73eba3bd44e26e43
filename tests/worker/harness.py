"""A real worker on a real database (SQLite, Postgres or Redis; see ``tests/backends.py``),
without the Queue façade: tasks, enqueue, and a burst runner that runs a worker in a thread
until a condition holds, then shuts it down and joins."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from taskito.events import EventBus, EventType
from taskito.ids import new_job_id
from taskito.job import JobRecord, JobStatus, NewJob, now_ms
from taskito.middleware import TaskMiddleware
from taskito.registry import ExecutionEnv, Hooks, TaskSpec
from taskito.serializers import CloudpickleSerializer, Serializer
from taskito.worker import Worker, WorkerSettings
from tests.backends import QueueTarget
from tests.helpers import wait_until

WORKER_SCRIPT = Path(__file__).with_name("worker_process.py")

#: Fast timings for tests; each test may override them.
FAST = {"heartbeat_interval_s": 0.2, "reap_interval_s": 0.1}


class EventLog:
    """Collects every event of a bus, for assertions after ``bus.flush()``."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self._lock = threading.Lock()
        self.events: list[tuple[EventType, dict[str, Any]]] = []
        for event_type in EventType:
            bus.on(event_type, self._record)

    def _record(self, event_type: EventType, payload: dict[str, Any]) -> None:
        with self._lock:
            self.events.append((event_type, payload))

    def of(self, event_type: EventType) -> list[dict[str, Any]]:
        self.bus.flush(5.0)
        with self._lock:
            return [payload for kind, payload in self.events if kind is event_type]


class Harness:
    """One database, its task table, middleware, hooks and event bus. ``close()`` closes the
    storage only; whoever made ``target`` drops the database afterwards."""

    def __init__(self, target: QueueTarget, serializer: Serializer | None = None) -> None:
        self.target = target
        self.storage = target.open_storage()
        self.serializer: Serializer = serializer or CloudpickleSerializer()
        self.tasks: dict[str, TaskSpec] = {}
        self.middleware: list[TaskMiddleware] = []
        self.hooks = Hooks()
        self.bus = EventBus()
        self.events = EventLog(self.bus)
        self.env = ExecutionEnv(
            storage=self.storage,
            serializer=self.serializer,
            tasks=self.tasks,
            middleware=self.middleware,
            hooks=self.hooks,
        )

    def close(self) -> None:
        self.bus.shutdown(wait=True)
        self.storage.close()

    def task(self, fn: Callable[..., Any], *, name: str | None = None, **options: Any) -> str:
        task_name = name or fn.__name__
        self.tasks[task_name] = TaskSpec(name=task_name, fn=fn, **options)
        return task_name

    def enqueue(
        self,
        task_name: str,
        *args: Any,
        max_retries: int = 0,
        timeout_ms: int | None = None,
        queue: str = "default",
        delay_ms: int = 0,
        priority: int = 0,
        **kwargs: Any,
    ) -> str:
        now = now_ms()
        job = NewJob(
            id=new_job_id(),
            queue=queue,
            task_name=task_name,
            payload=self.serializer.dumps((args, kwargs)),
            priority=priority,
            created_at=now,
            scheduled_at=now + delay_ms,
            max_retries=max_retries,
            timeout_ms=timeout_ms,
        )
        return self.storage.enqueue(job).id

    def job(self, job_id: str) -> JobRecord:
        record = self.storage.get_job(job_id)
        assert record is not None, f"no job {job_id}"
        return record

    def status(self, job_id: str) -> JobStatus:
        return self.job(job_id).status

    def result(self, job_id: str) -> Any:
        record = self.job(job_id)
        assert record.status is JobStatus.COMPLETE, f"{job_id} is {record.status}: {record.error}"
        return None if record.result is None else self.serializer.loads(record.result)

    def is_terminal(self, *job_ids: str) -> bool:
        return all(self.status(job_id).is_terminal for job_id in job_ids)

    def worker(self, **options: Any) -> Worker:
        settings: dict[str, Any] = {"threads": 2, "install_signals": False, **FAST}
        settings.update(options)
        return Worker(self.env, self.bus, WorkerSettings(**settings))

    @contextmanager
    def running(self, worker: Worker | None = None, **options: Any) -> Iterator[Worker]:
        """Run a worker in a thread for the block; then drain it and join."""
        worker = worker or self.worker(**options)
        errors: list[BaseException] = []

        def target() -> None:
            try:
                worker.run()
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=target, name="test-worker")
        thread.start()
        try:
            yield worker
        finally:
            worker.request_shutdown()
            thread.join(30)
            assert not thread.is_alive(), "the worker did not stop within 30 s"
        if errors:
            raise errors[0]

    def burst(self, until: Callable[[], object], timeout_s: float = 10.0, **options: Any) -> Worker:
        """Run a worker until ``until()`` holds (or fail after ``timeout_s``); return it."""
        with self.running(**options) as worker:
            wait_until(until, timeout_s, message=getattr(until, "__name__", "condition"))
        return worker


@contextmanager
def harness_on(target: QueueTarget) -> Iterator[Harness]:
    """A Harness on ``target`` for the block; then it is closed and the database dropped."""
    try:
        harness = Harness(target)
        try:
            yield harness
        finally:
            harness.close()
    finally:
        target.cleanup()


@contextmanager
def worker_process(harness: Harness, log: Path, **options: Any) -> Iterator[subprocess.Popen[str]]:
    """A worker in its own process on the harness's database; killed and waited for at the
    end of the block."""
    storage_json = json.dumps(harness.target.storage_kwargs())
    process = subprocess.Popen(
        [sys.executable, str(WORKER_SCRIPT), storage_json, str(log), json.dumps(options)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


def log_lines(log: Path) -> list[list[str]]:
    if not log.exists():
        return []
    return [line.split() for line in log.read_text().splitlines()]
