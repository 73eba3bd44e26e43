"""Schema migration 4 (SQLite and Postgres): locks gain a fencing token. A database written at
version 2, with a held lock and an expired one in it, opens at the current version; the held
lock stays held, and the next acquisitions count their tokens up from there."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskito.job import now_ms
from taskito.storage.base import Storage
from taskito.storage.postgres import schema as postgres_schema
from taskito.storage.sqlite import schema as sqlite_schema
from tests.helpers import require_postgres, wait_until
from tests.storage.postgres_support import run_sql

LOCK_ROWS = (
    "INSERT INTO {table} (name, owner_id, acquired_at, expires_at) VALUES"
    " ('held', 'old-owner', {now}, {now} + 600000), ('stale', 'old-owner', 1, 2)"
)


def _check_migrated(storage: Storage) -> None:
    held = storage.lock_info("held")
    assert held is not None and held.owner_id == "old-owner" and held.fencing_token == 0
    assert storage.acquire_lock("held", "new-owner", 10_000) is None
    assert storage.lock_info("stale") is None
    assert storage.acquire_lock("stale", "new-owner", 300) == 1
    wait_until(lambda: storage.lock_info("stale") is None, 5)
    assert storage.acquire_lock("stale", "other-owner", 10_000) == 2


def test_a_version_2_sqlite_database_gains_fencing_tokens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from taskito.storage.sqlite import SqliteStorage

    path = str(tmp_path / "taskito.db")
    monkeypatch.setattr(sqlite_schema, "MIGRATIONS", sqlite_schema.MIGRATIONS[:2])
    monkeypatch.setattr(sqlite_schema, "SCHEMA_VERSION", 2)
    SqliteStorage(path).close()
    monkeypatch.undo()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(LOCK_ROWS.format(table="locks", now=now_ms()))
    conn.close()
    storage = SqliteStorage(path)
    try:
        _check_migrated(storage)
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


def test_a_version_2_postgres_schema_gains_fencing_tokens(
    schema_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from taskito.storage.postgres import PostgresStorage

    url = require_postgres()
    monkeypatch.setattr(postgres_schema, "MIGRATIONS", postgres_schema.MIGRATIONS[:2])
    monkeypatch.setattr(postgres_schema, "SCHEMA_VERSION", 2)
    PostgresStorage(url, schema=schema_name).close()
    monkeypatch.undo()
    server_now = run_sql(url, "SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint")
    run_sql(url, LOCK_ROWS.format(table=f'"{schema_name}".locks', now=server_now[0][0]))
    storage = PostgresStorage(url, schema=schema_name)
    try:
        _check_migrated(storage)
    finally:
        storage.close()
    version = run_sql(url, f'SELECT version FROM "{schema_name}".schema_version')
    assert version == [(postgres_schema.SCHEMA_VERSION,)]
