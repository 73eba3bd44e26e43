"""Circuit breakers of the SQLite backend: the transaction steps that load a breaker (creating it
closed, storing the latest config) and save it back; the state machine between them is
``storage/breakers.py``.
"""

from __future__ import annotations

import sqlite3

from taskito.storage import control_rows
from taskito.storage.control import BreakerConfig, BreakerState
from taskito.storage.sqlite import control_queries as cq


def load(conn: sqlite3.Connection, task_name: str, config: BreakerConfig) -> BreakerState:
    """The breaker of ``task_name`` with ``config`` stored on it, created closed if new."""
    row = conn.execute(
        cq.UPSERT_BREAKER_CONFIG,
        (
            task_name,
            config.threshold,
            config.window_ms,
            config.cooldown_ms,
            config.half_open_probes,
            float(config.half_open_success_rate),
        ),
    ).fetchone()
    return control_rows.row_to_breaker(row)


def save(conn: sqlite3.Connection, before: BreakerState, after: BreakerState) -> None:
    """Write the state fields of ``after`` when they differ from ``before``."""
    if after == before:
        return
    conn.execute(
        cq.UPDATE_BREAKER,
        (
            after.state,
            after.failure_count,
            after.last_failure_at,
            after.opened_at,
            after.probes_started,
            after.probe_successes,
            after.probe_failures,
            after.task_name,
        ),
    )
