"""The storage contract suite runs every test once per backend in ``BACKENDS``.

Adding a backend is one line in ``BACKENDS``: a factory that takes the test's ``tmp_path`` and
returns a ``Backend`` (or calls ``pytest.skip`` when its server is missing, e.g. with
``tests.helpers.require_postgres()``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from taskito.storage.base import Storage
from taskito.storage.postgres import PostgresStorage
from taskito.storage.sqlite import SqliteStorage
from taskito.storage.workflow_contract import WorkflowStorage
from tests.helpers import require_postgres, require_redis
from tests.storage.factories import Backend


def sqlite_file(tmp_path: Path) -> Backend:
    path = str(tmp_path / "taskito.db")
    return Backend(
        name="sqlite-file",
        opener=lambda: SqliteStorage(path),
        process_opener=(
            f"from taskito.storage.sqlite import SqliteStorage\nstorage = SqliteStorage({path!r})\n"
        ),
    )


def sqlite_memory(tmp_path: Path) -> Backend:
    # Every ":memory:" connection is its own database: nothing else can share this one.
    return Backend(name="sqlite-memory", opener=lambda: SqliteStorage(":memory:"), shared=False)


def postgres(tmp_path: Path) -> Backend:
    """A fresh schema on the test server (``tests.helpers.require_postgres``), dropped after."""
    url = require_postgres()
    schema = f"t_{uuid.uuid4().hex[:16]}"

    def drop_schema() -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))

    return Backend(
        name="postgres",
        opener=lambda: PostgresStorage(url, schema=schema),
        process_opener=(
            "from taskito.storage.postgres import PostgresStorage\n"
            f"storage = PostgresStorage({url!r}, schema={schema!r})\n"
        ),
        cleanup=drop_schema,
    )


def redis(tmp_path: Path) -> Backend:
    """A fresh key prefix on the test server (``tests.helpers.require_redis``), deleted after."""
    url = require_redis()
    from taskito.storage.redis import RedisStorage  # after the skip: needs the redis extra

    prefix = f"t{uuid.uuid4().hex}"

    def delete_keys() -> None:
        import redis as redis_py

        client = redis_py.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=10)
        try:
            batch = list(client.scan_iter(match=f"{prefix}:*", count=1000))
            while batch:
                client.unlink(*batch[:1000])
                del batch[:1000]
        finally:
            client.close()

    return Backend(
        name="redis",
        opener=lambda: RedisStorage(url, prefix=prefix),
        process_opener=(
            "from taskito.storage.redis import RedisStorage\n"
            f"storage = RedisStorage({url!r}, prefix={prefix!r})\n"
        ),
        cleanup=delete_keys,
    )


BACKENDS: dict[str, Callable[[Path], Backend]] = {
    "sqlite-file": sqlite_file,
    "sqlite-memory": sqlite_memory,
    "postgres": postgres,
    "redis": redis,
}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A fresh, empty database on one backend; every Storage opened on it is closed after."""
    opened = BACKENDS[request.param](tmp_path)
    try:
        yield opened
    finally:
        opened.close_all()


@pytest.fixture
def storage(backend: Backend) -> Storage:
    return backend.first()


@pytest.fixture
def backend_storage_pair(backend: Backend) -> tuple[Storage, Storage]:
    """Two Storage objects on the same database (skips where that cannot exist)."""
    return backend.first(), backend.open_another()


@pytest.fixture
def wf(storage: Storage) -> Storage:
    """The storage as a ``WorkflowStorage`` (the workflow suite); skips a backend that does not
    implement that half yet."""
    if not isinstance(storage, WorkflowStorage):
        pytest.skip(f"{type(storage).__name__} does not implement WorkflowStorage yet")
    return storage
