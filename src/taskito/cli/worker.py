"""``taskito worker``: run the Queue's worker with the command-line options.

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
    """Block in ``queue.run_worker`` with the options that were given; the Queue's own
    ``workers=`` and ``drain_timeout=`` apply to those that were not.

    ``max_tasks_per_child`` (``--max-tasks-per-child``) applies to ``--pool prefork`` only.
    """
    queue_names = ",".join(queues) if queues else "all"
    shown_workers = "default" if workers is None else workers
    logger.info(
        "starting worker app=%s queues=%s pool=%s workers=%s",
        app,
        queue_names,
        pool,
        shown_workers,
        extra={"app": app, "queues": queue_names, "pool": pool, "workers": workers},
    )
    queue.run_worker(
        queues=queues,
        pool=pool,
        app=app,
        max_tasks_per_child=max_tasks_per_child or 0,
        workers=workers,
        drain_timeout=drain_timeout_s,
    )
    logger.info("worker stopped app=%s", app, extra={"app": app})
