"""Circuit breakers of the PostgreSQL backend: ``step`` applies one transition of the state
machine in ``storage/breakers.py`` to the stored breaker under its row lock.

``step`` first upserts the breaker in autocommit mode (creating it closed, storing the latest
config): when the state machine then changes nothing, as for every admission of a closed
breaker, that single statement is the whole operation. Otherwise it runs again in a
transaction that holds the breaker's row lock from the upsert to the write, so concurrent
workers on any host see each transition once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from taskito.storage import control_rows
from taskito.storage.control import BreakerConfig, BreakerState
from taskito.storage.postgres import control_queries as cq

if TYPE_CHECKING:
    from taskito.storage.postgres.connections import Cursor, PgConnections

T = TypeVar("T")
#: A transition: the breaker as loaded -> the breaker to store, and the caller's answer.
Transition = Callable[[BreakerState], tuple[BreakerState, T]]


def step(
    conns: PgConnections,
    stmts: cq.ControlStatements,
    task_name: str,
    config: BreakerConfig,
    transition: Transition[T],
) -> T:
    """Apply ``transition`` to the breaker of ``task_name`` (see the module docstring)."""
    params = _config_params(task_name, config)
    loaded = conns.run(lambda cursor: _load(cursor, stmts, params))
    after, answer = transition(loaded)
    if after == loaded:
        return answer

    def apply(cursor: Cursor) -> T:
        current = _load(cursor, stmts, params)  # locked until commit
        updated, result = transition(current)
        if updated != current:
            cursor.execute(stmts.update_breaker, _state_params(updated))
        return result

    return conns.transact(apply)


def _load(cursor: Cursor, stmts: cq.ControlStatements, params: tuple[object, ...]) -> BreakerState:
    row = cursor.execute(stmts.upsert_breaker, params).fetchone()
    assert row is not None  # an upsert always returns its row
    return control_rows.row_to_breaker(row)


def _config_params(task_name: str, config: BreakerConfig) -> tuple[object, ...]:
    return (
        task_name,
        config.threshold,
        config.window_ms,
        config.cooldown_ms,
        config.half_open_probes,
        float(config.half_open_success_rate),
    )


def _state_params(breaker: BreakerState) -> tuple[object, ...]:
    return (
        breaker.state,
        breaker.failure_count,
        breaker.last_failure_at,
        breaker.opened_at,
        breaker.probes_started,
        breaker.probe_successes,
        breaker.probe_failures,
        breaker.task_name,
    )
