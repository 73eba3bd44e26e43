"""``taskito periodic``: every periodic schedule stored on the database and its next run
(``Queue.list_periodic``)."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

import taskito
from taskito.cli import options, output
from taskito.cli.errors import EXIT_OK


def _next_run(ms: object) -> str:
    if ms is None:
        return "never"
    return f"{output.timestamp(ms)} ({output.age(ms)})"


COLUMNS = (
    output.Column("name", "NAME", max_width=40),
    output.Column("task_name", "TASK", max_width=40),
    output.Column("cron_expr", "CRON"),
    output.Column("timezone", "TIMEZONE", lambda zone: output.text(zone or "UTC")),
    output.Column("queue", "QUEUE", max_width=20),
    output.Column("enabled", "ENABLED", lambda enabled: "yes" if enabled else "no"),
    output.Column("last_run", "LAST RUN", output.timestamp),
    output.Column("next_run", "NEXT RUN", _next_run),
)

EMPTY = "no periodic schedules stored (a worker stores its app's schedules when it starts)"


def register(commands: options.Commands) -> None:
    periodic = options.add_command(
        commands, "periodic", help="list the periodic schedules and their next run", handler=command
    )
    output.add_format_argument(periodic)


def command(queue: taskito.Queue, args: argparse.Namespace, app_spec: str) -> int:
    rows: list[dict[str, Any]] = [dataclasses.asdict(info) for info in queue.list_periodic()]
    output.render(rows, COLUMNS, args.format, empty=EMPTY)
    return EXIT_OK
