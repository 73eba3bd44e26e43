"""Storage backends behind one contract (``base.Storage``); ``open_storage`` picks one by name.

This is the only place that knows backend names (DESIGN invariant 2).
"""

from __future__ import annotations

from taskito.storage.base import Storage

BACKENDS = ("sqlite", "postgres", "postgresql", "redis")


def _require_url(backend: str, db_url: str | None) -> str:
    if not db_url:
        raise ValueError(f"backend={backend!r} requires db_url=")
    return db_url


def open_storage(
    backend: str,
    *,
    db_path: str,
    db_url: str | None = None,
    schema: str = "taskito",
    pool_size: int | None = None,
) -> Storage:
    """Open the named backend. Unknown names raise ``ValueError`` listing the known ones."""
    if backend == "sqlite":
        from taskito.storage.sqlite import SqliteStorage

        return SqliteStorage(db_path)
    if backend in ("postgres", "postgresql"):
        from taskito.storage.postgres import PostgresStorage

        return PostgresStorage(_require_url(backend, db_url), schema=schema, pool_size=pool_size)
    if backend == "redis":
        from taskito.storage.redis import RedisStorage

        # ``schema`` names the Postgres schema, or the prefix of every Redis key.
        return RedisStorage(_require_url(backend, db_url), prefix=schema)
    raise ValueError(f"Unknown backend {backend!r}: expected one of {', '.join(BACKENDS)}")


__all__ = ["BACKENDS", "Storage", "open_storage"]
