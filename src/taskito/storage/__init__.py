"""Storage backends behind one contract (``base.Storage``); ``open_storage`` picks one by name,
and ``resolve_target`` tells which one a path or URL means.

This is the only place that knows backend names and URL schemes (docs/architecture.md, invariant 2).
"""

from __future__ import annotations

from dataclasses import dataclass

from taskito.redaction import redact_url
from taskito.storage.base import Storage

BACKENDS = ("sqlite", "postgres", "postgresql", "redis")
SERVER_BACKENDS = ("postgres", "redis")
#: URL scheme -> the backend it means.
URL_SCHEMES = {
    "postgres": "postgres",
    "postgresql": "postgres",
    "postgresql+psycopg": "postgres",
    "redis": "redis",
    "rediss": "redis",
    "unix": "redis",
    "sqlite": "sqlite",
}
_ACCEPTED = (
    "a SQLite file path, sqlite:///path, postgres:// or postgresql:// (Postgres),"
    " redis://, rediss:// or unix:// (Redis)"
)


@dataclass(frozen=True, slots=True)
class StorageTarget:
    """Which backend a Queue opens, and where: ``db_path`` for SQLite, ``db_url`` otherwise."""

    backend: str  # "sqlite", "postgres" or "redis"
    db_path: str
    db_url: str | None


def _scheme(value: str) -> str | None:
    """The scheme of ``value`` when it is written as a URL (``scheme://...``), lower-cased."""
    scheme, sep, _ = value.partition("://")
    if not sep or not scheme or any(c.isspace() or c in "/\\" for c in scheme):
        return None
    return scheme.lower()


def _backend_of_url(url: str, what: str) -> str | None:
    """The backend ``url`` names by its scheme; None when it has none (a libpq conninfo);
    ``ValueError`` for a scheme no backend takes."""
    scheme = _scheme(url)
    if scheme is None:
        return None
    backend = URL_SCHEMES.get(scheme)
    if backend is None:
        raise ValueError(
            f"{what} {redact_url(url)!r} has the scheme {scheme!r}, which no taskito backend"
            f" takes; expected {_ACCEPTED}"
        )
    return backend


def _sqlite_path(url: str) -> str:
    """The file of ``sqlite:///relative`` or ``sqlite:////absolute`` (SQLAlchemy's form)."""
    path = url.partition("://")[2]
    if not path.startswith("/") or path == "/":
        raise ValueError(
            f"{url!r} is not a SQLite URL: write sqlite:///relative/path or sqlite:////abs/path"
        )
    return path[1:]


def resolve_target(backend: str | None, db_path: str, db_url: str | None) -> StorageTarget:
    """The backend and location meant by the Queue's ``backend``, ``db_path`` and ``db_url``.

    A URL (in ``db_url``, or in ``db_path`` where a path is expected) names its backend by its
    scheme; ``backend`` may be left out, and when given must agree. An unknown scheme, a
    contradiction, or a server backend without a URL raises ``ValueError``.
    """
    if backend is not None and backend not in BACKENDS:
        raise ValueError(f"Unknown backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    wanted = "postgres" if backend == "postgresql" else backend
    path_backend = _backend_of_url(db_path, "db_path")
    if path_backend is not None:
        if db_url is not None:
            raise ValueError(
                f"db_path {redact_url(db_path)!r} is a URL and db_url= is given too: pass one"
            )
        db_url, db_path = db_path, ""
    url_backend = None if db_url is None else _backend_of_url(db_url, "db_url")
    if db_url is not None and url_backend is None and wanted is None:
        raise ValueError(
            f"cannot tell the backend of db_url {redact_url(db_url)!r}: pass backend="
            f" or a URL whose scheme names it ({_ACCEPTED})"
        )
    chosen = wanted or url_backend or "sqlite"
    if url_backend is not None and url_backend != chosen:
        raise ValueError(
            f"backend={backend!r} contradicts db_url {redact_url(str(db_url))!r},"
            f" which is a {url_backend} URL"
        )
    if chosen == "sqlite":
        if db_url is not None:
            if url_backend != "sqlite":
                raise ValueError(
                    f"backend='sqlite' takes a file path, not db_url {redact_url(db_url)!r}"
                )
            db_path = _sqlite_path(db_url)
        return StorageTarget("sqlite", db_path, None)
    if not db_url:
        raise ValueError(f"backend={backend!r} requires db_url= (the server's URL)")
    scheme = _scheme(db_url)
    if scheme is not None and "+" in scheme:
        # SQLAlchemy's spelling (postgresql+psycopg://): libpq knows the plain scheme only.
        db_url = scheme.partition("+")[0] + db_url[len(scheme) :]
    return StorageTarget(chosen, db_path, db_url)


def open_storage(
    backend: str,
    *,
    db_path: str,
    db_url: str | None = None,
    schema: str = "taskito",
    pool_size: int | None = None,
    durable_enqueue: bool = True,
) -> Storage:
    """Open the named backend. Unknown names raise ``ValueError`` listing the known ones.

    ``durable_enqueue`` (SQLite): enqueues commit with ``synchronous=FULL`` so that a
    returned enqueue survives power loss; False commits them with ``NORMAL``, as the worker's
    writes are. The servers decide durability themselves (Postgres ``synchronous_commit``,
    Redis persistence)."""
    target = resolve_target(backend, db_path, db_url)
    if target.backend == "sqlite":
        from taskito.storage.sqlite import SqliteStorage

        return SqliteStorage(target.db_path, durable_enqueue=durable_enqueue)
    assert target.db_url is not None
    if target.backend == "postgres":
        from taskito.storage.postgres import PostgresStorage

        return PostgresStorage(target.db_url, schema=schema, pool_size=pool_size)
    from taskito.storage.redis import RedisStorage

    # ``schema`` names the Postgres schema, or the prefix of every Redis key.
    return RedisStorage(target.db_url, prefix=schema)


__all__ = [
    "BACKENDS",
    "SERVER_BACKENDS",
    "URL_SCHEMES",
    "Storage",
    "StorageTarget",
    "open_storage",
    "resolve_target",
]
