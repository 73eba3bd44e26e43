"""The worker's start banner: one INFO line saying what this worker does (the database, the
pool, the queues it consumes, the tasks it knows), and a WARNING for each queue it was told to
consume that no registered task uses by default."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from taskito.registry import ExecutionEnv
    from taskito.worker.pools import Pool

logger = logging.getLogger("taskito.worker")

#: Task names listed in the banner before the rest are summed up as "+N more".
MAX_LISTED_TASKS = 20


def describe_storage(storage: object) -> str:
    """``storage.describe()`` (the backend and its database, any password redacted) when the
    backend has it; else the backend's class name."""
    describe = getattr(storage, "describe", None)
    if callable(describe):
        try:
            return str(describe())
        except Exception:  # the banner must never stop a worker
            logger.debug("describing the storage failed", exc_info=True)
    return type(storage).__name__


def task_list(names: Sequence[str], limit: int = MAX_LISTED_TASKS) -> str:
    ordered = sorted(names)
    if not ordered:
        return "none"
    shown = ", ".join(ordered[:limit])
    return shown if len(ordered) <= limit else f"{shown} +{len(ordered) - limit} more"


def log_start(env: ExecutionEnv, pool: Pool, queues: Sequence[str] | None, worker_id: str) -> None:
    """The banner, then the warnings about queues no task uses."""
    database = describe_storage(env.storage)
    consumed = "all queues" if queues is None else ", ".join(queues)
    tasks = task_list(list(env.tasks))
    logger.info(
        "worker %s started: database %s; pool %s with %d slot(s); consuming %s; "
        "%d task(s) known: %s",
        worker_id,
        database,
        pool.name,
        pool.capacity,
        consumed,
        len(env.tasks),
        tasks,
        extra={
            "worker_id": worker_id,
            "database": database,
            "pool": pool.name,
            "capacity": pool.capacity,
            "queues": None if queues is None else list(queues),
            "tasks": sorted(env.tasks),
        },
    )
    for name in unused_queues(env, queues):
        logger.warning(
            "no registered task uses queue %r by default; this worker consumes it anyway "
            "(jobs enqueued with queue=%r run here)",
            name,
            name,
            extra={"worker_id": worker_id, "queue": name},
        )


def unused_queues(env: ExecutionEnv, queues: Sequence[str] | None) -> list[str]:
    """The named queues that neither a task's default queue nor a periodic schedule uses."""
    if queues is None:
        return []
    used = {spec.queue for spec in env.tasks.values()}
    used.update(periodic.queue for periodic in env.periodic.values())
    return [name for name in queues if name not in used]


__all__ = ["MAX_LISTED_TASKS", "describe_storage", "log_start", "task_list", "unused_queues"]
