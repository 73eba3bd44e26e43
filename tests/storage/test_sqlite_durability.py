"""SQLite commits an enqueue with ``synchronous=FULL`` (a returned ``delay()`` survives power
loss) and the worker's state changes with ``NORMAL``; ``durable_enqueue=False`` relaxes
enqueues to ``NORMAL``. ``synchronous`` is a per-connection setting, read here on the very
connection each thread wrote with."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from taskito import Queue
from taskito.job import JobStatus, now_ms
from taskito.storage.sqlite import SqliteStorage
from tests.storage.factories import claim_all, finish, make_job

T = TypeVar("T")
FULL, NORMAL = 2, 1  # what PRAGMA synchronous reports


def _synchronous(storage: SqliteStorage) -> int:
    """``PRAGMA synchronous`` of this thread's connection."""
    with storage._conns.read() as conn:
        return int(conn.execute("PRAGMA synchronous").fetchone()[0])


def _in_thread(work: Callable[[], T]) -> T:
    """Run ``work`` on a thread of its own (so on its own connection); return its result."""
    results: list[T] = []
    thread = threading.Thread(target=lambda: results.append(work()))
    thread.start()
    thread.join(10)
    assert results, "the thread failed"
    return results[0]


def _produce(storage: SqliteStorage) -> int:
    storage.enqueue(make_job())
    storage.enqueue_many([make_job(), make_job()])
    return _synchronous(storage)


def _consume(storage: SqliteStorage) -> int:
    claimed = claim_all(storage)
    assert len(claimed) == 3
    for job in claimed:
        assert finish(storage, job, JobStatus.COMPLETE, result=b"ok")
    storage.extend_leases("worker-1", [], now_ms(), 30_000)
    return _synchronous(storage)


def test_enqueues_commit_full_and_the_workers_writes_normal(tmp_path: Path) -> None:
    storage = SqliteStorage(str(tmp_path / "taskito.db"))
    try:
        assert _in_thread(lambda: _produce(storage)) == FULL
        assert _in_thread(lambda: _consume(storage)) == NORMAL
        # One thread doing both switches at each write, never inside a transaction.
        assert _produce(storage) == FULL
        assert _consume(storage) == NORMAL
        assert storage.count_jobs()[JobStatus.COMPLETE] == 6
    finally:
        storage.close()


def test_durable_enqueue_false_commits_enqueues_normal(tmp_path: Path) -> None:
    storage = SqliteStorage(str(tmp_path / "taskito.db"), durable_enqueue=False)
    try:
        assert _in_thread(lambda: _produce(storage)) == NORMAL
    finally:
        storage.close()


def test_the_queue_option_reaches_storage_and_is_checked(tmp_path: Path) -> None:
    for durable, level in ((True, FULL), (False, NORMAL)):
        with Queue(str(tmp_path / f"{durable}.db"), durable_enqueue=durable) as queue:

            @queue.task()
            def noop() -> None:
                return None

            storage = queue._storage
            assert isinstance(storage, SqliteStorage)
            noop.delay()
            assert _synchronous(storage) == level
    with pytest.raises(TypeError, match="durable_enqueue"):
        Queue(str(tmp_path / "bad.db"), durable_enqueue="yes")  # type: ignore[arg-type]
