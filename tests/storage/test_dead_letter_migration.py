"""The dead-letter migration (SQLite and Postgres): a database written before it, with a dead
letter and a running job, opens at the current version; the old letter reads
``dlq_retry_count`` 0, and the automatic retry's count then rides in its own column."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskito.ids import new_job_id
from taskito.job import JobStatus, now_ms
from taskito.storage.base import Storage
from taskito.storage.postgres import schema as postgres_schema
from taskito.storage.sqlite import schema as sqlite_schema
from tests.helpers import require_postgres
from tests.storage.factories import finish, start_job
from tests.storage.postgres_support import run_sql

#: A dead letter as a version before the migration wrote it (its columns, no more).
_OLD_LETTER = (
    "INSERT INTO {table} (id, original_job_id, queue, task_name, payload, error, retry_count,"
    " failed_at, metadata, priority, max_retries, timeout_ms, result_ttl_ms, namespace)"
    " VALUES ('old-letter', 'old-job', 'default', 'tests.before', {payload}, 'boom', 3, 1,"
    " '{{\"m\": 1}}', 0, 3, NULL, NULL, NULL)"
)


def _before(storage: Storage) -> str:
    """A running job in a database at the version before (closed after)."""
    try:
        return start_job(storage, task_name="tests.before").id
    finally:
        storage.close()


def _after(storage: Storage, running_id: str) -> None:
    (letter,) = storage.dead_letters(10, 0)
    assert (letter.original_job_id, letter.dlq_retry_count) == ("old-job", 0)
    job = storage.retry_dead(letter.id, new_job_id(), now_ms(), automatic=True)
    assert job is not None and job.metadata == '{"m": 1}'
    running = storage.get_job(running_id)
    assert running is not None
    assert finish(storage, running, JobStatus.DEAD, error="again")
    (fresh,) = storage.dead_letters_after(10, None, None, None)
    assert (fresh.original_job_id, fresh.dlq_retry_count) == (running_id, 0)


def test_a_sqlite_database_from_before_gains_the_dead_letter_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from taskito.storage.sqlite import SqliteStorage

    path = str(tmp_path / "taskito.db")
    before = sqlite_schema.MIGRATIONS.index(sqlite_schema._MIGRATION_DEAD_LETTERS)
    monkeypatch.setattr(sqlite_schema, "MIGRATIONS", sqlite_schema.MIGRATIONS[:before])
    monkeypatch.setattr(sqlite_schema, "SCHEMA_VERSION", before)
    running_id = _before(SqliteStorage(path))
    conn = sqlite3.connect(path)
    conn.execute(_OLD_LETTER.format(table="dead_letter", payload="x'80'"))
    conn.commit()
    conn.close()
    monkeypatch.undo()
    storage = SqliteStorage(path)
    try:
        _after(storage, running_id)
    finally:
        storage.close()


@pytest.fixture
def schema_name() -> Iterator[str]:
    url = require_postgres()
    name = f"t_{uuid.uuid4().hex[:16]}"
    yield name
    run_sql(url, f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def test_a_postgres_schema_from_before_gains_the_dead_letter_columns(
    schema_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from taskito.storage.postgres import PostgresStorage

    url = require_postgres()
    before = postgres_schema.MIGRATIONS.index(postgres_schema._MIGRATION_DEAD_LETTERS)
    monkeypatch.setattr(postgres_schema, "MIGRATIONS", postgres_schema.MIGRATIONS[:before])
    monkeypatch.setattr(postgres_schema, "SCHEMA_VERSION", before)
    running_id = _before(PostgresStorage(url, schema=schema_name))
    table = f'"{schema_name}".dead_letter'
    run_sql(url, _OLD_LETTER.format(table=table, payload="'\\x80'::bytea"))
    monkeypatch.undo()
    storage = PostgresStorage(url, schema=schema_name)
    try:
        _after(storage, running_id)
    finally:
        storage.close()
