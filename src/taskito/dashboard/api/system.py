"""Routes over the rest of the system: workers, circuit breakers, log lines across jobs, the
worker resources, and the proxy and interception figures of this process."""

from __future__ import annotations

from typing import Any

import taskito


def workers(queue: taskito.Queue) -> list[dict[str, Any]]:
    """Registered workers with the reference's keys."""
    return queue.workers()


def circuit_breakers(queue: taskito.Queue) -> list[dict[str, Any]]:
    return queue.circuit_breakers()


def logs(
    queue: taskito.Queue,
    task: str | None,
    level: str | None,
    since_s: float,
    limit: int,
    after_id: int | None,
) -> list[dict[str, Any]]:
    """Log lines of the last ``since_s`` seconds, newest first. ``after_id`` keeps only
    lines newer than the one with that id (a live tail asks for what it has not shown)."""
    entries = queue.query_logs(task_name=task, level=level, since=since_s, limit=limit)
    if after_id is None:
        return entries
    return [entry for entry in entries if entry["id"] > after_id]


def resources(queue: taskito.Queue) -> list[dict[str, Any]]:
    """Each worker resource (``queue.resource_status()``): a live runtime's view when a worker
    runs in this process, else what the workers' heartbeats report."""
    return queue.resource_status()


def proxy_stats(queue: taskito.Queue) -> list[dict[str, Any]]:
    """Per proxy handler, what this process rebuilt (``queue.proxy_stats()``): a dashboard
    embedded in a thread or async worker shows that worker's figures."""
    return queue.proxy_stats()


def interception_stats(queue: taskito.Queue) -> dict[str, Any]:
    """What this process's interceptor did (``queue.interception_stats()``; ``{}`` when
    interception is off)."""
    return queue.interception_stats()


def health() -> dict[str, str]:
    """Always ``{"status": "ok"}`` while the server answers (readiness checks storage)."""
    return {"status": "ok"}


__all__ = [
    "circuit_breakers",
    "health",
    "interception_stats",
    "logs",
    "proxy_stats",
    "resources",
    "workers",
]
