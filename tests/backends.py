"""Queue settings for each backend, so one test can run on SQLite, Postgres and Redis alike.

``queue_target(name, tmp_path)`` gives the keyword arguments of ``Queue(...)`` for a fresh,
empty database on that backend (a file in ``tmp_path``; a new Postgres schema; a new Redis key
prefix) and a ``cleanup`` that drops it. Server backends skip on a laptop without the server
and fail under ``CI`` (``tests.helpers.require_postgres`` / ``require_redis``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.helpers import require_postgres, require_redis

if TYPE_CHECKING:
    from taskito.storage.base import Storage

BACKEND_NAMES = ("sqlite", "postgres", "redis")


@dataclass
class QueueTarget:
    """Where a test's queues live: ``Queue(**target.kwargs)`` opens it from any process."""

    name: str
    kwargs: dict[str, Any]
    cleanup: Callable[[], None] = field(default=lambda: None)

    def as_json(self) -> str:
        """The kwargs for another process (``Queue(**json.loads(...))``)."""
        return json.dumps(self.kwargs)

    def storage_kwargs(self) -> dict[str, Any]:
        """The same database as keyword arguments of ``taskito.storage.open_storage``."""
        return {
            "backend": self.kwargs.get("backend", "sqlite"),
            "db_path": self.kwargs.get("db_path", ""),
            "db_url": self.kwargs.get("db_url"),
            "schema": self.kwargs.get("schema", "taskito"),
        }

    def open_storage(self) -> Storage:
        """A Storage of its own on this database (the caller closes it)."""
        from taskito.storage import open_storage

        return open_storage(**self.storage_kwargs())


def queue_target(name: str, tmp_path: Path) -> QueueTarget:
    if name == "sqlite":
        return QueueTarget("sqlite", {"db_path": str(tmp_path / "taskito.db")})
    if name == "postgres":
        return _postgres_target()
    if name == "redis":
        return _redis_target()
    raise ValueError(f"unknown backend {name!r}")


def _postgres_target() -> QueueTarget:
    url = require_postgres()
    schema = f"t_{uuid.uuid4().hex[:16]}"

    def drop() -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))

    return QueueTarget(
        "postgres", {"backend": "postgres", "db_url": url, "schema": schema}, cleanup=drop
    )


def _redis_target() -> QueueTarget:
    url = require_redis()
    prefix = f"t{uuid.uuid4().hex[:16]}"

    def delete_keys() -> None:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=5)
        try:
            keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
            for start in range(0, len(keys), 500):
                client.unlink(*keys[start : start + 500])
        finally:
            client.close()

    return QueueTarget(
        "redis", {"backend": "redis", "db_url": url, "schema": prefix}, cleanup=delete_keys
    )
