"""Where a benchmark's queue lives: the ``--backend`` and ``--db-url`` options every script
takes, and a fresh database per run that is dropped at the end (a SQLite file in the run's
temporary directory, a new Postgres schema, or a new Redis key prefix).

    with fresh_database(args, directory) as queue_kwargs:
        queue = Queue(**queue_kwargs)

Not a benchmark itself: the scripts next to it import it (they run with this directory first
on ``sys.path``).
"""

from __future__ import annotations

import argparse
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

BACKENDS = ("sqlite", "postgres", "redis")
DEFAULT_URLS = {
    "postgres": "postgresql://postgres@127.0.0.1:5432/test",
    "redis": "redis://127.0.0.1:6379/15",
}
LABELS = {"sqlite": "SQLite", "postgres": "Postgres", "redis": "Redis"}


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend", choices=BACKENDS, default="sqlite", help="where the queue lives (sqlite)"
    )
    parser.add_argument(
        "--db-url",
        default=None,
        help=(
            "server URL for --backend postgres or redis (default: "
            f"{DEFAULT_URLS['postgres']} or {DEFAULT_URLS['redis']})"
        ),
    )


def server_url(args: argparse.Namespace) -> str | None:
    """The URL the run uses: ``--db-url`` or the default for its backend; None for SQLite."""
    if args.backend == "sqlite":
        if args.db_url:
            raise SystemExit("--db-url applies to --backend postgres or redis, not sqlite")
        return None
    url: str = args.db_url or DEFAULT_URLS[args.backend]
    return url


def describe(args: argparse.Namespace, sqlite_label: str = "SQLite file") -> str:
    """The backend for a header line: ``sqlite_label`` for SQLite, else name and URL (with any
    password masked, as headers end up in logs and docs)."""
    url = server_url(args)
    if url is None:
        return sqlite_label
    return f"{LABELS[args.backend]} at {masked(url)}"


def masked(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


@contextmanager
def fresh_database(
    args: argparse.Namespace, directory: str, filename: str = "bench.db"
) -> Iterator[dict[str, Any]]:
    """``Queue(**kwargs)`` arguments for an empty database, dropped when the block ends.

    SQLite puts its file in ``directory`` (the caller's temporary directory removes it).
    """
    url = server_url(args)
    if url is None:
        yield {"db_path": os.path.join(directory, filename)}
        return
    namespace = f"bench{uuid.uuid4().hex[:12]}"
    try:
        yield {"backend": args.backend, "db_url": url, "schema": namespace}
    finally:
        if args.backend == "postgres":
            drop_postgres_schema(url, namespace)
        else:
            delete_redis_keys(url, namespace)


def remove_sqlite_files(path: str) -> None:
    """A SQLite database file and its WAL and shared-memory files, where they exist."""
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)


def drop_postgres_schema(url: str, schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True, connect_timeout=10) as connection:
        connection.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
        )


def delete_redis_keys(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=10)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        for start in range(0, len(keys), 500):
            client.unlink(*keys[start : start + 500])
    finally:
        client.close()
