"""``taskito worker``: run the Queue's worker with the command-line options.

``Queue.run_worker`` itself handles SIGINT/SIGTERM in the main thread: the first signal drains
(running jobs finish, up to the drain timeout), a second one stops at once.
"""

from __future__ import annotations

import argparse
import logging

import taskito
from taskito.cli import options
from taskito.cli.errors import EXIT_OK

logger = logging.getLogger("taskito.cli")

POOLS = ("thread", "prefork", "async")


def register(commands: options.Commands) -> None:
    worker = options.add_command(
        commands, "worker", help="run a worker until SIGINT/SIGTERM", handler=command
    )
    worker.add_argument(
        "--queues",
        type=_queue_names,
        default=None,
        help="comma-separated queues to consume (default: every queue)",
    )
    worker.add_argument("--pool", choices=POOLS, default="thread", help="default: thread")
    worker.add_argument(
        "--workers", type=options.positive_int, default=None, help="threads or child processes"
    )
    worker.add_argument(
        "--max-tasks-per-child",
        type=options.positive_int,
        default=None,
        metavar="K",
        help="prefork: replace a child process after it ran K jobs",
    )
    worker.add_argument(
        "--drain-timeout",
        type=options.non_negative_seconds,
        default=None,
        metavar="S",
        help="seconds a warm shutdown waits for running jobs",
    )


def command(queue: taskito.Queue, args: argparse.Namespace, app_spec: str) -> int:
    run_worker(
        queue,
        app=app_spec,
        queues=args.queues,
        pool=args.pool,
        workers=args.workers,
        drain_timeout_s=args.drain_timeout,
        max_tasks_per_child=args.max_tasks_per_child,
    )
    return EXIT_OK


def parse_queue_names(value: str) -> list[str]:
    """``"a, b"`` -> ``["a", "b"]``; an empty list or an empty name is an error."""
    names = [name.strip() for name in value.split(",")]
    if not value.strip() or any(not name for name in names):
        raise ValueError(f"invalid --queues {value!r}: expected comma-separated queue names")
    return names


def _queue_names(value: str) -> list[str]:
    try:
        return parse_queue_names(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
    shown_workers = queue.settings.workers if workers is None else workers
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
