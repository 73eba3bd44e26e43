"""Rows of the flow-control tables as records, and records as rows: one mapping for the SQL
backends (SQLite and Postgres store these tables with the same columns in the same order)."""

from __future__ import annotations

from typing import Any

from taskito.storage.control import BreakerState, LockInfo, PeriodicSchedule, ReplayEntry


def schedule_params(schedule: PeriodicSchedule) -> tuple[Any, ...]:
    """The schedule's columns in table order (``enabled`` a bool: SQLite stores it as 1/0)."""
    return (
        schedule.name,
        schedule.task_name,
        schedule.cron,
        schedule.timezone,
        schedule.queue,
        bytes(schedule.payload),
        schedule.next_run,
        schedule.last_run,
        bool(schedule.enabled),
    )


def row_to_schedule(row: tuple[Any, ...]) -> PeriodicSchedule:
    name, task_name, cron, timezone, queue, payload, next_run, last_run, enabled = row
    return PeriodicSchedule(
        name=name,
        task_name=task_name,
        cron=cron,
        timezone=timezone,
        queue=queue,
        payload=bytes(payload),
        next_run=next_run,
        last_run=last_run,
        enabled=bool(enabled),
    )


def row_to_breaker(row: tuple[Any, ...]) -> BreakerState:
    return BreakerState(*row)


def row_to_lock(row: tuple[Any, ...]) -> LockInfo:
    return LockInfo(*row)


def row_to_replay(row: tuple[Any, ...]) -> ReplayEntry:
    return ReplayEntry(*row)
