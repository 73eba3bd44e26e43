"""What the PostgreSQL-only test files share: ``run_sql`` on a connection of its own, the
``schemas`` fixture that hands out fresh schemas (import it as ``fixture_schemas``; pytest
knows it by the name given), and ``on_postgres`` for tests of the contract suite's fixtures."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from taskito.storage.postgres import PostgresStorage
from tests.helpers import require_postgres

#: Runs a test that takes the ``backend``/``storage`` fixtures on Postgres only.
on_postgres = pytest.mark.parametrize("backend", ["postgres"], indirect=True)


def run_sql(url: str, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run one statement on a fresh autocommit connection; return its rows (if any)."""
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        cursor = conn.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


class Schemas:
    """Hands out fresh schema names and storages on them; drops and closes all afterwards."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.names: list[str] = []
        self.opened: list[PostgresStorage] = []

    def new_name(self) -> str:
        name = f"t_{uuid.uuid4().hex[:16]}"
        self.names.append(name)
        return name

    def open(self, schema: str, url: str | None = None, **options: Any) -> PostgresStorage:
        storage = PostgresStorage(url or self.url, schema=schema, **options)
        self.opened.append(storage)
        return storage

    def close(self) -> None:
        for storage in self.opened:
            storage.close()
        for name in self.names:
            run_sql(self.url, f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture(name="schemas")
def fixture_schemas() -> Iterator[Schemas]:
    handed_out = Schemas(require_postgres())
    try:
        yield handed_out
    finally:
        handed_out.close()
