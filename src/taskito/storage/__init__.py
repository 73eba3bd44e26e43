"""Storage backends behind one contract (``base.Storage``); ``open_storage`` picks one by name.

This is the only place that knows backend names (DESIGN invariant 2).
"""

from __future__ import annotations

from taskito.storage.base import Storage

BACKENDS = ("sqlite", "postgres", "postgresql", "redis")


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
    if backend in ("postgres", "postgresql", "redis"):
        if not db_url:
            raise ValueError(f"backend={backend!r} requires db_url=")
        raise NotImplementedError(
            f"the {backend} backend is not available in this version of taskito"
        )
    raise ValueError(f"Unknown backend {backend!r}: expected one of {', '.join(BACKENDS)}")


__all__ = ["BACKENDS", "Storage", "open_storage"]
