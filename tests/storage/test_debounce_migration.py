"""The debounce migration (SQLite 9, Postgres 10): a database written before it, with a pending
job, opens at the current version; the old job is untouched and never slides (it holds no
debounce key), and debounced enqueues then find, slide and insert as on a fresh database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskito.job import JobStatus, now_ms
from taskito.storage.base import Storage
from taskito.storage.postgres import schema as postgres_schema
from taskito.storage.sqlite import schema as sqlite_schema
from tests.helpers import require_postgres
from tests.storage.factories import make_job
from tests.storage.postgres_support import run_sql


def test_debounce_takes_the_migration_numbers_it_was_given() -> None:
    assert sqlite_schema.MIGRATIONS.index(sqlite_schema._MIGRATION_DEBOUNCE) + 1 == 9
    assert postgres_schema.MIGRATIONS.index(postgres_schema._MIGRATION_DEBOUNCE) + 1 == 10


def _before(storage: Storage) -> str:
    """A pending job in a database at the version before (closed after)."""
    try:
        return storage.enqueue(make_job(task_name="tests.debounced")).id
    finally:
        storage.close()


def _after(storage: Storage, old_id: str) -> None:
    now = now_ms()
    job = make_job(task_name="tests.debounced", created_at=now, scheduled_at=now + 1_000)
    record, slid = storage.enqueue_debounced(job, "k", 1_000, 5_000, False, now)
    assert (record.id, slid) == (job.id, False)
    again = make_job(task_name="tests.debounced", created_at=now + 10)
    record, slid = storage.enqueue_debounced(again, "k", 1_000, 5_000, False, now + 10)
    assert (record.id, slid, record.scheduled_at) == (job.id, True, now + 1_010)
    old = storage.get_job(old_id)
    assert old is not None and old.status is JobStatus.PENDING
    assert storage.count_jobs()[JobStatus.PENDING] == 2


def test_a_sqlite_database_from_before_gains_debounce(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from taskito.storage.sqlite import SqliteStorage

    path = str(tmp_path / "taskito.db")
    before = sqlite_schema.MIGRATIONS.index(sqlite_schema._MIGRATION_DEBOUNCE)
    monkeypatch.setattr(sqlite_schema, "MIGRATIONS", sqlite_schema.MIGRATIONS[:before])
    monkeypatch.setattr(sqlite_schema, "SCHEMA_VERSION", before)
    old_id = _before(SqliteStorage(path))
    monkeypatch.undo()
    storage = SqliteStorage(path)
    try:
        _after(storage, old_id)
    finally:
        storage.close()


@pytest.fixture
def schema_name() -> Iterator[str]:
    url = require_postgres()
    name = f"t_{uuid.uuid4().hex[:16]}"
    yield name
    run_sql(url, f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def test_a_postgres_schema_from_before_gains_debounce(
    schema_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from taskito.storage.postgres import PostgresStorage

    url = require_postgres()
    before = postgres_schema.MIGRATIONS.index(postgres_schema._MIGRATION_DEBOUNCE)
    monkeypatch.setattr(postgres_schema, "MIGRATIONS", postgres_schema.MIGRATIONS[:before])
    monkeypatch.setattr(postgres_schema, "SCHEMA_VERSION", before)
    old_id = _before(PostgresStorage(url, schema=schema_name))
    monkeypatch.undo()
    storage = PostgresStorage(url, schema=schema_name)
    try:
        _after(storage, old_id)
    finally:
        storage.close()
