"""``taskito worker``: apply the command-line options to the Queue and run its worker.

``Queue.run_worker`` itself handles SIGINT/SIGTERM in the main thread: the first signal drains
(running jobs finish, up to the drain timeout), a second one stops at once.
"""

from __future__ import annotations

import logging

import taskito

logger = logging.getLogger("taskito.cli")

POOLS = ("thread", "prefork", "async")


def parse_queue_names(value: str) -> list[str]:
    """``"a, b"`` -> ``["a", "b"]``; an empty list or an empty name is an error."""
    names = [name.strip() for name in value.split(",")]
    if not value.strip() or any(not name for name in names):
        raise ValueError(f"invalid --queues {value!r}: expected comma-separated queue names")
    return names


def run_worker(
    queue: taskito.Queue,
    *,
    app: str,
    queues: list[str] | None,
    pool: str,
    workers: int | None,
    drain_timeout_s: float | None,
    max_tasks_per_child: int | None = None,
) -> None:
    """Configure ``queue`` from the options that were given and block in ``run_worker``.

    ``max_tasks_per_child`` (``--max-tasks-per-child``) applies to ``--pool prefork`` only.
    """
    if workers is not None:
        queue._workers = workers
    if drain_timeout_s is not None:
        queue._drain_timeout = drain_timeout_s
    queue_names = ",".join(queues) if queues else "all"
    logger.info(
        "starting worker app=%s queues=%s pool=%s workers=%s",
        app,
        queue_names,
        pool,
        queue._workers,
        extra={"app": app, "queues": queue_names, "pool": pool, "workers": queue._workers},
    )
    recycle_after = max_tasks_per_child or 0
    queue.run_worker(queues=queues, pool=pool, app=app, max_tasks_per_child=recycle_after)
    logger.info("worker stopped app=%s", app, extra={"app": app})
