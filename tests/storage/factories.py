"""Builders for the storage contract suite: the ``Backend`` handle the fixtures hand out, and
small factories for new jobs, workers and finishes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest

from taskito.ids import new_job_id
from taskito.job import JobRecord, JobStatus, NewJob, now_ms
from taskito.storage.base import Finish, Storage, WorkerInfo

LEASE_MS = 30_000

T = TypeVar("T")


@dataclass
class Backend:
    """One test database on one backend.

    ``opener`` opens a Storage on it; ``shared`` says whether a second ``opener()`` reaches
    the same database; ``process_opener`` is Python source that binds ``storage`` to it in
    another process (None: the database cannot be reached from another process).
    """

    name: str
    opener: Callable[[], Storage]
    shared: bool = True
    process_opener: str | None = None
    cleanup: Callable[[], None] | None = None  # drops the test database after the test
    opened: list[Storage] = field(default_factory=list)

    def first(self) -> Storage:
        if not self.opened:
            self.opened.append(self.opener())
        return self.opened[0]

    def open_another(self) -> Storage:
        """A second Storage object on the same database (skips when the backend has none)."""
        if not self.shared:
            pytest.skip(f"{self.name}: a database that a second Storage object cannot open")
        self.first()
        another = self.opener()
        self.opened.append(another)
        return another

    def run_in_process(self, code: str, timeout_s: float = 30.0) -> str:
        """Run ``code`` in a fresh interpreter with ``storage`` open on this database; return
        its stdout. Skips when the database is not reachable from another process."""
        process = self.start_process(code)
        out, err = process.communicate(timeout=timeout_s)
        assert process.returncode == 0, f"child failed ({process.returncode}):\n{err}"
        return out

    def start_process(self, code: str) -> subprocess.Popen[str]:
        if self.process_opener is None:
            pytest.skip(f"{self.name}: the database is private to this process")
        source = self.process_opener + textwrap.dedent(code) + "\nstorage.close()\n"
        return subprocess.Popen(
            [sys.executable, "-c", source],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def close_all(self) -> None:
        for storage in self.opened:
            storage.close()
        if self.cleanup is not None:
            self.cleanup()


def make_job(**overrides: Any) -> NewJob:
    """A due job on queue "default" with a fresh id; any field can be overridden."""
    now = now_ms()
    fields: dict[str, Any] = {
        "id": new_job_id(),
        "queue": "default",
        "task_name": "tests.add",
        "payload": b"\x80payload",
        "priority": 0,
        "created_at": now,
        "scheduled_at": now,
        "max_retries": 3,
        "timeout_ms": None,
    }
    fields.update(overrides)
    return NewJob(**fields)


def make_worker(worker_id: str = "worker-1", **overrides: Any) -> WorkerInfo:
    now = now_ms()
    fields: dict[str, Any] = {
        "worker_id": worker_id,
        "hostname": "host-a",
        "pid": 4242,
        "queues": ("default",),
        "pool": "thread",
        "threads": 4,
        "status": "active",
        "started_at": now,
        "last_heartbeat": now,
        "tags": (),
    }
    fields.update(overrides)
    return WorkerInfo(**fields)


def claim_all(
    storage: Storage, worker_id: str = "worker-1", *, now: int | None = None, limit: int = 100
) -> list[JobRecord]:
    """Claim every due job of every queue without a namespace."""
    at = now_ms() if now is None else now
    return storage.claim(worker_id, None, None, limit, at, LEASE_MS)


def claim_job(storage: Storage, job_id: str, worker_id: str = "worker-1") -> JobRecord:
    """Claim ``job_id`` (due, and alone in its queue and namespace); return it running."""
    record = storage.get_job(job_id)
    assert record is not None, f"job {job_id} is missing"
    claimed = storage.claim(worker_id, [record.queue], record.namespace, 100, now_ms(), LEASE_MS)
    assert [job.id for job in claimed] == [job_id], (
        f"claiming {job_id} from queue {record.queue!r} got {[job.id for job in claimed]}:"
        " give the job a queue of its own"
    )
    return claimed[0]


def start_job(storage: Storage, worker_id: str = "worker-1", **overrides: Any) -> JobRecord:
    """Enqueue a job (in a queue of its own unless ``queue`` is given) and claim it."""
    overrides.setdefault("queue", f"solo-{new_job_id()}")
    return claim_job(storage, storage.enqueue(make_job(**overrides)).id, worker_id)


def finish(storage: Storage, job: JobRecord, status: JobStatus, **fields: Any) -> bool:
    """Apply one outcome to a claimed job; return whether it applied."""
    (applied,) = storage.finish_many(
        [Finish(job.id, job.attempt, status, **fields, worker_id=job.worker_id)], now_ms()
    )
    return applied


def status_of(storage: Storage, job_id: str) -> JobStatus:
    record = storage.get_job(job_id)
    assert record is not None, f"job {job_id} is missing"
    return record.status


# --- flow-control helpers (tests/storage/test_control_*.py) ---------------------------------


def start_at(storage: Storage, at: int, worker_id: str = "worker-1", **overrides: Any) -> JobRecord:
    """Enqueue a job (in a queue of its own unless ``queue`` is given) and claim it at ``at``,
    so its ``started_at`` is exactly ``at``."""
    overrides.setdefault("queue", f"solo-{new_job_id()}")
    overrides.setdefault("created_at", at)
    overrides.setdefault("scheduled_at", at)
    job = storage.enqueue(make_job(**overrides))
    claimed = storage.claim(worker_id, [job.queue], job.namespace, 100, at, LEASE_MS)
    assert [record.id for record in claimed] == [job.id], "give the job a queue of its own"
    return claimed[0]


def finish_at(storage: Storage, job: JobRecord, status: JobStatus, at: int, **fields: Any) -> None:
    """Apply one outcome at ``at`` (its ``completed_at`` for a terminal status)."""
    applied = storage.finish_many(
        [Finish(job.id, job.attempt, status, **fields, worker_id=job.worker_id)], at
    )
    assert applied == [True], f"the outcome of {job.id} was dropped"


def open_storages(backend: Backend, count: int) -> list[Storage]:
    """``count`` Storage objects of their own on the backend's database (the backend closes
    them after the test; skips where a second object cannot reach the database)."""
    return [backend.open_another() for _ in range(count)]


def race(storages: list[Storage], action: Callable[[Storage], T]) -> list[T]:
    """Run ``action`` once per Storage, each in a thread of its own, released together by a
    barrier; return the results in the order of ``storages``. Re-raises a thread's error."""
    barrier = threading.Barrier(len(storages))
    results: list[T | None] = [None] * len(storages)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = action(storages[index])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(storages))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads), "a racer did not finish in 30 s"
    if errors:
        raise errors[0]
    return results  # type: ignore[return-value]
