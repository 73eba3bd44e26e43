"""The storage contract suite runs every test once per backend in ``BACKENDS``.

Adding a backend is one line in ``BACKENDS``: a factory that takes the test's ``tmp_path`` and
returns a ``Backend`` (or calls ``pytest.skip`` when its server is missing, e.g. with
``tests.helpers.require_postgres()``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from taskito.storage.base import Storage
from taskito.storage.sqlite import SqliteStorage
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
    require_postgres()
    pytest.skip("the postgres backend is being written")


def redis(tmp_path: Path) -> Backend:
    """A fresh key prefix on the test server (``tests.helpers.require_redis``), deleted after."""
    require_redis()
    pytest.skip("the redis backend is being written")


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
