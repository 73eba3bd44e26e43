"""Task metrics on Redis: reading a window of the ``metrics`` sorted set and purging its oldest
members. ``finish.lua`` adds a member (``records.encode_metric``, scored by ``finished_at``)
for each outcome it applies, in the same script.

Reads walk the window in chunks, so a large window never asks the server for one huge reply;
a task filter is applied here (one key holds every task's rows).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from taskito.job import TaskMetric
from taskito.storage.redis.connections import RedisConnection
from taskito.storage.redis.keys import Keys, require_time
from taskito.storage.redis.records import metric_from_member
from taskito.storage.validation import metric_purge, metric_query

#: Members read per round trip.
READ_CHUNK = 5000


def task_metrics(
    conn: RedisConnection, keys: Keys, task_name: str | None, since: int
) -> list[TaskMetric]:
    """``Storage.task_metrics``: oldest first (ties in member order)."""
    task, low = metric_query(task_name, since)
    require_time("since", low)
    found: list[TaskMetric] = []
    skip = 0  # members at score ``low`` already read
    while True:
        chunk = _chunk(conn, keys.metrics, low, skip)
        for member, score in chunk:
            metric = metric_from_member(member, int(score))
            if task is None or metric.task_name == task:
                found.append(metric)
        if len(chunk) < READ_CHUNK:
            return found
        # Go on from the last score read, past the members at that score already seen.
        last = chunk[-1][1]
        at_last = sum(1 for _, score in chunk if score == last)
        skip = at_last + skip if last == low else at_last
        low = int(last)


def purge_metrics(run: Callable[..., Any], before: int, limit: int) -> int:
    """``Storage.purge_metrics``: one ``purge_metrics.lua`` call (``run`` runs a script)."""
    before, limit = metric_purge(before, limit)
    return int(run("purge_metrics", require_time("before", before), limit))


def _chunk(conn: RedisConnection, key: str, low: int, skip: int) -> list[tuple[bytes, float]]:
    reply = conn.call(
        lambda client: client.zrange(
            key, low, "+inf", byscore=True, offset=skip, num=READ_CHUNK, withscores=True
        ),
        idempotent=True,
    )
    return cast("list[tuple[bytes, float]]", reply)


__all__ = ["READ_CHUNK", "purge_metrics", "task_metrics"]
