"""``taskito workers``: the workers registered on the database, with their last heartbeat
(``Queue.workers``)."""

from __future__ import annotations

import argparse
from typing import Any

import taskito
from taskito.cli import options, output
from taskito.cli.errors import EXIT_OK

COLUMNS = (
    output.Column("worker_id", "ID"),
    output.Column("hostname", "HOST", max_width=30),
    output.Column("pid", "PID", right=True),
    output.Column("pool", "POOL"),
    output.Column("threads", "SLOTS", right=True),
    output.Column("queues", "QUEUES", max_width=40),
    output.Column("status", "STATUS"),
    output.Column("last_heartbeat", "HEARTBEAT", output.age),
)


def register(commands: options.Commands) -> None:
    workers = options.add_command(
        commands, "workers", help="list the workers and their last heartbeat", handler=command
    )
    output.add_format_argument(workers)


def command(queue: taskito.Queue, args: argparse.Namespace, app_spec: str) -> int:
    rows = [worker_row(worker) for worker in queue.workers()]
    output.render(rows, COLUMNS, args.format, empty="no workers")
    return EXIT_OK


def worker_row(worker: dict[str, Any]) -> dict[str, Any]:
    """A worker with stable keys; ``pool`` says ``thread`` where ``workers()`` says None (as
    the reference does), and ``queues`` is ``*`` for a worker that consumes every queue."""
    return {
        "worker_id": worker["worker_id"],
        "hostname": worker["hostname"],
        "pid": worker["pid"],
        "pool": worker["pool_type"] or "thread",
        "threads": worker["threads"],
        "queues": worker["queues"],
        "status": worker["status"],
        "tags": worker["tags"],
        "started_at": worker["started_at"],
        "last_heartbeat": worker["last_heartbeat"],
    }
