"""The worker registry of the PostgreSQL backend: one row per worker, upserted on register,
touched by heartbeats, deleted on unregister or when its heartbeats stopped (``reap``).

Functions over the backend's pool and statements, called by ``PostgresStorage``; like
``reads``, this module imports no driver module at import time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from taskito.storage.base import WorkerInfo
from taskito.storage.postgres import queries as q
from taskito.storage.postgres import records as convert
from taskito.storage.worker_resources import encode_health

if TYPE_CHECKING:
    from taskito.storage.postgres.connections import PgConnections


def register(conns: PgConnections, stmts: q.Statements, worker: WorkerInfo) -> None:
    if not isinstance(worker, WorkerInfo):
        raise TypeError(f"expected a WorkerInfo, got {type(worker).__name__}")
    params = convert.worker_params(worker)
    conns.run(lambda cursor: cursor.execute(stmts.upsert_worker, params), idempotent=True)


def heartbeat(
    conns: PgConnections,
    stmts: q.Statements,
    worker_id: str,
    status: str,
    now: int,
    resource_health: Mapping[str, str] | None = None,
) -> None:
    params = (now, status, encode_health(resource_health), worker_id)
    conns.run(lambda cursor: cursor.execute(stmts.heartbeat, params), idempotent=True)


def unregister(conns: PgConnections, stmts: q.Statements, worker_id: str) -> None:
    conns.run(lambda cursor: cursor.execute(stmts.delete_worker, (worker_id,)), idempotent=True)


def reap(conns: PgConnections, stmts: q.Statements, stale_before: int) -> list[str]:
    rows = conns.run(lambda cursor: cursor.execute(stmts.reap_workers, (stale_before,)).fetchall())
    return [row[0] for row in rows]


def list_all(conns: PgConnections, stmts: q.Statements) -> list[WorkerInfo]:
    rows = conns.run(
        lambda cursor: cursor.execute(stmts.select_workers, ()).fetchall(), idempotent=True
    )
    return [convert.row_to_worker(row) for row in rows]
