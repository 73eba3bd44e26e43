"""Schema migration 5 (SQLite and Postgres): the task metrics table. A database written at
version 4, with a job running in it, opens at the current version; the job's outcome then
writes its metric row."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskito.job import AttemptMetric, JobStatus, OutcomeKind, now_ms
from taskito.storage.base import Finish, Storage
from taskito.storage.postgres import schema as postgres_schema
from taskito.storage.sqlite import schema as sqlite_schema
from tests.helpers import require_postgres
from tests.storage.factories import start_job
from tests.storage.postgres_support import run_sql


def _start_at_version_4(storage: Storage) -> str:
    """A running job in a database opened at version 4 (closed after)."""
    try:
        return start_job(storage, task_name="tests.before").id
    finally:
        storage.close()


def _finish_after_upgrade(storage: Storage, job_id: str) -> None:
    job = storage.get_job(job_id)
    assert job is not None and job.status is JobStatus.RUNNING
    metric = AttemptMetric(job.task_name, job.queue, OutcomeKind.SUCCESS, job.started_at or 0, 7)
    now = now_ms()
    finish = Finish(job.id, job.attempt, JobStatus.COMPLETE, worker_id="worker-1", metric=metric)
    assert storage.finish_many([finish], now) == [True]
    (row,) = storage.task_metrics(None, 0)
    assert (row.job_id, row.task_name, row.finished_at, row.wall_ns) == (
        job.id,
        "tests.before",
        now,
        7,
    )


def test_a_version_4_sqlite_database_gains_the_metrics_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from taskito.storage.sqlite import SqliteStorage

    path = str(tmp_path / "taskito.db")
    monkeypatch.setattr(sqlite_schema, "MIGRATIONS", sqlite_schema.MIGRATIONS[:4])
    monkeypatch.setattr(sqlite_schema, "SCHEMA_VERSION", 4)
    job_id = _start_at_version_4(SqliteStorage(path))
    monkeypatch.undo()
    storage = SqliteStorage(path)
    try:
        _finish_after_upgrade(storage, job_id)
    finally:
        storage.close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT version FROM schema_version").fetchall() == [
        (sqlite_schema.SCHEMA_VERSION,)
    ]
    conn.close()


@pytest.fixture
def schema_name() -> Iterator[str]:
    url = require_postgres()
    name = f"t_{uuid.uuid4().hex[:16]}"
    yield name
    run_sql(url, f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def test_a_version_4_postgres_schema_gains_the_metrics_table(
    schema_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from taskito.storage.postgres import PostgresStorage

    url = require_postgres()
    monkeypatch.setattr(postgres_schema, "MIGRATIONS", postgres_schema.MIGRATIONS[:4])
    monkeypatch.setattr(postgres_schema, "SCHEMA_VERSION", 4)
    job_id = _start_at_version_4(PostgresStorage(url, schema=schema_name))
    monkeypatch.undo()
    storage = PostgresStorage(url, schema=schema_name)
    try:
        _finish_after_upgrade(storage, job_id)
    finally:
        storage.close()
    version = run_sql(url, f'SELECT version FROM "{schema_name}".schema_version')
    assert version == [(postgres_schema.SCHEMA_VERSION,)]
