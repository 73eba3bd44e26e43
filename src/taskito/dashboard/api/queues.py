"""Routes over counts and queues: job counts by status (overall and per queue), the queue
list with its paused flags, and pausing and resuming a queue."""

from __future__ import annotations

from typing import Any

import taskito
from taskito.dashboard.api.params import checked_text


def stats(queue: taskito.Queue) -> dict[str, int]:
    """Jobs per status over every queue: pending, running, completed, failed, dead,
    cancelled."""
    return queue.stats()


def queue_stats(queue: taskito.Queue, queue_name: str | None) -> dict[str, Any]:
    """One queue's counts, or ``{queue: counts}`` for every queue holding jobs."""
    if queue_name is not None:
        return dict(queue.stats_by_queue(queue_name))
    return dict(queue.stats_all_queues())


#: The counts of ``/api/queues``: a queue's depth and its trouble. Completed jobs are left
#: out: on a big table they are most of it, and counting them per queue visits every one
#: (``/api/stats/queues`` still has them).
QUEUE_COUNTS = ("pending", "running", "failed", "dead", "cancelled")


def list_queues(queue: taskito.Queue) -> list[dict[str, Any]]:
    """Every queue that holds jobs or is paused, by name: its ``QUEUE_COUNTS`` and
    ``paused``."""
    counts = queue.stats_all_queues(include_completed=False)
    paused = set(queue.paused_queues())
    empty = dict.fromkeys(QUEUE_COUNTS, 0)
    return [
        {"name": name, **counts.get(name, empty), "paused": name in paused}
        for name in sorted(set(counts) | paused)
    ]


def paused_queues(queue: taskito.Queue) -> list[str]:
    return queue.paused_queues()


def pause_queue(queue: taskito.Queue, queue_name: str) -> dict[str, str]:
    queue.pause(checked_text("queue name", queue_name))
    return {"paused": queue_name}


def resume_queue(queue: taskito.Queue, queue_name: str) -> dict[str, str]:
    queue.resume(checked_text("queue name", queue_name))
    return {"resumed": queue_name}


__all__ = [
    "QUEUE_COUNTS",
    "list_queues",
    "pause_queue",
    "paused_queues",
    "queue_stats",
    "resume_queue",
    "stats",
]
