"""``taskito jobs``: the jobs of this app's namespace, newest first, filtered by status, queue
and task, a page at a time (``Queue.list_jobs``, or ``list_jobs_after`` with ``--after``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import taskito
from taskito.cli import options, output
from taskito.cli.errors import EXIT_OK, EXIT_USAGE, CommandError

STATUSES = ("pending", "running", "complete", "failed", "dead", "cancelled")
DEFAULT_LIMIT = 20

COLUMNS = (
    output.Column("id", "ID"),
    output.Column("task_name", "TASK", max_width=40),
    output.Column("queue", "QUEUE", max_width=20),
    output.Column("status", "STATUS"),
    output.Column("retry_count", "RETRIES", right=True),
    output.Column("progress", "PROGRESS", output.percent, right=True),
    output.Column("created_at", "CREATED", output.timestamp),
    output.Column("error", "ERROR", output.last_line, max_width=50),
)


def status(value: str) -> str:
    """A status filter; ``completed`` (as ``info`` spells it) means ``complete``."""
    name = value.strip().lower()
    return "complete" if name == "completed" else name


def add_page_arguments(parser: argparse.ArgumentParser, *, limit: int) -> None:
    parser.add_argument(
        "--limit",
        type=options.positive_int,
        default=limit,
        metavar="N",
        help=f"show at most N (default: {limit})",
    )
    parser.add_argument(
        "--offset",
        type=options.non_negative_int,
        default=0,
        metavar="N",
        help="skip the first N (default: 0)",
    )


def add_after_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--after",
        metavar="CURSOR",
        help="keyset paging: the page after CURSOR (printed below a full page)",
    )


def keyset_page(read: Callable[[], Any]) -> Any:
    """A keyset page; a malformed cursor is a usage error naming it."""
    try:
        return read()
    except ValueError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None


def print_next_cursor(cursor: str | None) -> None:
    if cursor is not None:
        print(f"(more: --after {cursor} for the next page)")


def register(commands: options.Commands) -> None:
    jobs = options.add_command(commands, "jobs", help="list jobs, newest first", handler=command)
    jobs.add_argument("--status", type=status, choices=STATUSES, help="only jobs in this state")
    jobs.add_argument("--queue", dest="queue_name", metavar="NAME", help="only this queue's jobs")
    jobs.add_argument("--task", dest="task_name", metavar="NAME", help="only this task's jobs")
    add_page_arguments(jobs, limit=DEFAULT_LIMIT)
    add_after_argument(jobs)
    output.add_format_argument(jobs)


def command(queue: taskito.Queue, args: argparse.Namespace, app_spec: str) -> int:
    if args.after is not None:
        return _keyset_command(queue, args)
    found = queue.list_jobs(
        status=args.status,
        queue=args.queue_name,
        task_name=args.task_name,
        limit=args.limit,
        offset=args.offset,
    )
    rows = [job.to_dict() for job in found]
    filtered = any((args.status, args.queue_name, args.task_name))
    output.render(rows, COLUMNS, args.format, empty="no jobs match" if filtered else "no jobs")
    if args.format == "table":
        print_more_hint(len(rows), args.limit, args.offset)
    return EXIT_OK


def _keyset_command(queue: taskito.Queue, args: argparse.Namespace) -> int:
    if args.offset:
        raise CommandError("--offset does not go with --after", EXIT_USAGE)
    page = keyset_page(
        lambda: queue.list_jobs_after(
            args.status, args.queue_name, args.task_name, args.limit, args.after
        )
    )
    output.render(list(page), COLUMNS, args.format, empty="no more jobs")
    if args.format == "table":
        print_next_cursor(page.next_cursor)
    return EXIT_OK


def print_more_hint(shown: int, limit: int, offset: int) -> None:
    """Below a full page: how to see the next one."""
    if shown and shown == limit:
        next_page = f"--offset {offset + limit} for the next page (or --after, by key)"
        print(f"(showing {limit} from offset {offset}; {next_page})")
