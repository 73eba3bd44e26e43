"""``Queue(...)``: defaults, every parameter's checks, storage opened (and refused) at
construction, close(), the execution environment, and run_worker's argument checks."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import sqlite3
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from taskito import (
    ConfigurationError,
    DatabaseCorruptError,
    JsonSerializer,
    Queue,
    SchemaVersionError,
    StorageError,
    TaskMiddleware,
)
from tests.api.driving import MakeQueue
from tests.helpers import wait_until


def test_defaults_are_stored_where_the_reference_keeps_them(queue: Queue) -> None:
    assert queue._workers == (os.cpu_count() or 1)
    assert queue._drain_timeout == 30
    assert queue._max_rescues == queue._execution_env().max_rescues == 5
    assert queue._async_concurrency == 100
    assert queue._event_bus._executor._max_workers == 4
    assert queue._global_middleware == []
    assert queue._task_registry == {}
    assert queue._test_mode_active is False
    assert queue.namespace is None


def test_explicit_settings_are_kept(make_queue: MakeQueue) -> None:
    mw = TaskMiddleware()
    serializer = JsonSerializer()
    queue = make_queue(
        workers=3,
        drain_timeout=2.5,
        async_concurrency=7,
        event_workers=2,
        middleware=[mw],
        serializer=serializer,
        namespace="tenant-a",
    )
    assert queue._workers == 3
    assert queue._drain_timeout == 2.5
    assert queue._async_concurrency == 7
    assert queue._event_bus._executor._max_workers == 2
    assert queue._global_middleware == [mw]
    assert queue._serializer is serializer
    assert queue.namespace == "tenant-a"


def test_the_unknown_task_window_reaches_the_worker(make_queue: MakeQueue) -> None:
    assert make_queue()._execution_env().unknown_task_window_ms == 3_600_000  # 1 h by default
    assert make_queue(unknown_task_window=2.5)._execution_env().unknown_task_window_ms == 2_500
    assert make_queue(unknown_task_window=0)._execution_env().unknown_task_window_ms == 0


def test_parent_directories_of_db_path_are_created(make_queue: MakeQueue, tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "jobs.db"
    make_queue(db_path=path)
    assert path.exists()


def test_context_manager_closes_and_close_is_idempotent(tmp_path: Path) -> None:
    with Queue(db_path=str(tmp_path / "q.db")) as queue:
        queue.enqueue("some.task")
    queue.close()  # a second close does nothing
    with pytest.raises(StorageError):
        queue.stats()  # storage is closed


BAD_ARGUMENTS: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"workers": -1}, ValueError, "workers"),
    ({"workers": "2"}, TypeError, "workers"),
    ({"workers": True}, TypeError, "workers"),
    ({"default_retry": -1}, ValueError, "default_retry"),
    ({"default_timeout": 0}, ValueError, "default_timeout"),
    ({"default_timeout": float("nan")}, ValueError, "default_timeout"),
    ({"default_timeout": float("inf")}, ValueError, "default_timeout"),
    ({"default_priority": 1.5}, TypeError, "default_priority"),
    ({"result_ttl": -5}, ValueError, "result_ttl"),
    ({"serializer": object()}, TypeError, "serializer"),
    ({"middleware": TaskMiddleware()}, TypeError, "middleware"),
    ({"middleware": [object()]}, TypeError, "middleware"),
    ({"backend": "mysql"}, ValueError, "Unknown backend"),
    ({"backend": 3}, TypeError, "backend"),
    ({"backend": "postgres"}, ValueError, "db_url"),
    ({"backend": "redis"}, ValueError, "db_url"),
    ({"schema": ""}, ValueError, "schema"),
    ({"pool_size": 0}, ValueError, "pool_size"),
    ({"drain_timeout": -1}, ValueError, "drain_timeout"),
    ({"max_rescues": -1}, ValueError, "max_rescues"),
    ({"max_rescues": 1.5}, TypeError, "max_rescues"),
    ({"async_concurrency": 0}, ValueError, "async_concurrency"),
    ({"event_workers": 0}, ValueError, "event_workers"),
    ({"scheduler_poll_interval_ms": 0}, ValueError, "scheduler_poll_interval_ms"),
    ({"scheduler_reap_interval": 0}, ValueError, "scheduler_reap_interval"),
    ({"scheduler_cleanup_interval": -1}, ValueError, "scheduler_cleanup_interval"),
    ({"namespace": ""}, ValueError, "namespace"),
    ({"namespace": 5}, TypeError, "namespace"),
    ({"unknown_task_window": -1}, ValueError, "unknown_task_window"),
    ({"unknown_task_window": float("nan")}, ValueError, "unknown_task_window"),
    ({"unknown_task_window": "1h"}, TypeError, "unknown_task_window"),
    ({"default_priority": 2**63}, ValueError, "64-bit"),
    ({"default_retry": 2**53}, ValueError, "default_retry"),
    ({"default_timeout": 1e300}, ValueError, "at most"),
    ({"drain_timeout": 1e11}, ValueError, "drain_timeout must be at most 1e\\+09 seconds"),
    ({"db_path": 123}, TypeError, "db_path"),
]


@pytest.mark.parametrize(("kwargs", "error", "fragment"), BAD_ARGUMENTS)
def test_bad_arguments_raise_naming_the_parameter_and_create_nothing(
    tmp_path: Path, kwargs: dict[str, Any], error: type[Exception], fragment: str
) -> None:
    path = tmp_path / "never.db"
    kwargs.setdefault("db_path", str(path))
    with pytest.raises(error, match=fragment) as caught:
        Queue(**kwargs)
    if error is ValueError:  # bad values are taskito errors too
        assert isinstance(caught.value, ConfigurationError)
    assert not path.exists()


def test_a_corrupt_database_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.db"
    garbage = b"this is not a database at all" * 100
    path.write_bytes(garbage)
    with pytest.raises(DatabaseCorruptError, match="not a SQLite database"):
        Queue(db_path=str(path))
    assert path.read_bytes() == garbage


def test_a_database_from_a_newer_taskito_is_refused_and_keeps_its_jobs(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    with Queue(db_path=str(path)) as queue:
        job_id = queue.enqueue("some.task", (1,)).id
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE schema_version SET version = 999")
    conn.close()

    with pytest.raises(SchemaVersionError, match="999"):
        Queue(db_path=str(path))

    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(999,)]
        assert conn.execute("SELECT id FROM jobs").fetchall() == [(job_id,)]
    conn.close()


def test_a_directory_as_db_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DatabaseCorruptError, match="directory"):
        Queue(db_path=str(tmp_path))


def test_execution_env_shares_the_queue_lists(queue: Queue) -> None:
    env = queue._execution_env()
    mw = TaskMiddleware()
    queue._global_middleware.append(mw)

    @queue.task()
    def later() -> None: ...

    assert env.middleware == [mw]
    assert later.name in env.tasks
    assert env.hooks is queue._hooks
    assert env.storage is queue._storage
    assert env.serializer is queue._serializer


def test_prefork_on_windows_is_refused_before_app_is_checked(
    queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "platform", "win32")
    with pytest.raises(NotImplementedError, match="Windows"):
        queue.run_worker(pool="prefork")


def test_prefork_needs_app(queue: Queue) -> None:
    with pytest.raises(ValueError, match="app="):
        queue.run_worker(pool="prefork")


def test_unknown_pool_lists_the_known_ones(queue: Queue) -> None:
    with pytest.raises(ValueError, match="thread, prefork, async"):
        queue.run_worker(pool="gevent")


def test_run_worker_checks_queues_and_tags(queue: Queue) -> None:
    with pytest.raises(ValueError, match="queues"):
        queue.run_worker(queues=[])
    with pytest.raises(TypeError, match="queues"):
        queue.run_worker(queues="default")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tags"):
        queue.run_worker(tags=[1])  # type: ignore[list-item]


def test_settings_are_one_frozen_checked_object(make_queue: MakeQueue) -> None:
    queue = make_queue(workers=3, drain_timeout=2.5, default_priority=4, result_ttl=60)
    settings = queue.settings
    assert (settings.workers, settings.drain_timeout) == (3, 2.5)
    assert (settings.default_priority, settings.result_ttl_ms) == (4, 60_000)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.workers = 5  # type: ignore[misc]
    assert "signer" not in repr(make_queue(signing_key="k" * 32).settings)


def test_worker_overrides_are_checked_and_leave_the_queue_alone(queue: Queue) -> None:
    with pytest.raises(ValueError, match="workers"):
        queue.run_worker(workers=-1)
    with pytest.raises(TypeError, match="drain_timeout"):
        queue.run_worker(drain_timeout="soon")  # type: ignore[arg-type]
    before = queue.settings
    overridden = before.for_worker(workers=2, drain_timeout=0.5)
    assert (overridden.workers, overridden.drain_timeout) == (2, 0.5)
    assert before.for_worker() is before
    assert queue.settings is before


def test_request_shutdown_without_workers_does_nothing(queue: Queue) -> None:
    queue.request_shutdown()


@pytest.mark.parametrize("stop", ["request_shutdown", "shutdown"])
def test_run_worker_runs_jobs_until_request_shutdown(queue: Queue, stop: str) -> None:
    """``shutdown()`` is the reference's later name for ``request_shutdown()``."""

    @queue.task()
    def add(a: int, b: int) -> int:
        return a + b

    errors: list[BaseException] = []

    def run() -> None:
        try:
            queue.run_worker()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=run, name="test-worker")
    thread.start()
    try:
        assert add.delay(2, 3).result(timeout=10) == 5
    finally:
        wait_until(lambda: queue._running_workers, message="worker registered")
        getattr(queue, stop)()
        thread.join(timeout=15)
    assert not thread.is_alive()
    assert errors == []
    assert not queue._running_workers


def test_a_memory_database_can_be_constructed() -> None:
    with Queue(db_path=":memory:") as queue:
        assert queue.stats()["pending"] == 0


def test_arun_worker_runs_jobs_and_stops_when_cancelled(queue: Queue) -> None:
    @queue.task()
    def square(x: int) -> int:
        return x * x

    async def scenario() -> int:
        worker = asyncio.create_task(queue.arun_worker())
        job = await queue.aenqueue(square.name, args=(7,))
        value = await job.aresult(timeout=10)
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
        return value  # type: ignore[no-any-return]

    assert asyncio.run(scenario()) == 49
    assert not queue._running_workers


def test_arun_worker_checks_max_tasks_per_child_like_run_worker(queue: Queue) -> None:
    async def scenario() -> None:
        await queue.arun_worker(pool="thread", max_tasks_per_child=5)

    with pytest.raises(ConfigurationError, match="max_tasks_per_child applies to pool='prefork'"):
        asyncio.run(scenario())


def test_request_shutdown_reaches_a_worker_that_is_still_starting(
    queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The request lands while run_worker is building its Worker: it must not be lost."""
    import taskito.worker as worker_module

    building = threading.Event()
    proceed = threading.Event()
    real_worker = worker_module.Worker

    def slow_worker(*args: Any, **kwargs: Any) -> Any:
        building.set()
        assert proceed.wait(10), "the test never let the worker finish starting"
        return real_worker(*args, **kwargs)

    monkeypatch.setattr(worker_module, "Worker", slow_worker)
    thread = threading.Thread(target=queue.run_worker, name="test-worker")
    thread.start()
    try:
        assert building.wait(10)
        queue.request_shutdown()  # no worker registered yet
        proceed.set()
        thread.join(timeout=15)
        assert not thread.is_alive(), "the shutdown requested during start-up was lost"
    finally:
        proceed.set()
        if thread.is_alive():
            queue.request_shutdown()
            thread.join(timeout=15)
    assert not queue._running_workers
