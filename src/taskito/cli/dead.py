"""``taskito dead list|retry|delete|purge``: the dead-letter queue (``Queue.dead_letters``,
``dead_letters_after`` for ``--task``/``--after``, ``retry_dead``, ``delete_dead``,
``purge_dead``, ``purge_dead_by_task``)."""

from __future__ import annotations

import argparse

import taskito
from taskito.cli import jobs, options, output
from taskito.cli.errors import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, CommandError, not_found

DEFAULT_PURGE_AGE_S = 86400.0
#: Dead letters read per call while collecting them for ``retry --all``.
_PAGE = 200

COLUMNS = (
    output.Column("id", "ID"),
    output.Column("original_job_id", "JOB"),
    output.Column("task_name", "TASK", max_width=40),
    output.Column("queue", "QUEUE", max_width=20),
    output.Column("retry_count", "RETRIES", right=True),
    output.Column("dlq_retry_count", "AUTO", right=True),
    output.Column("failed_at", "FAILED AT", output.timestamp),
    output.Column("error", "ERROR", output.last_line, max_width=50),
)


def register(commands: options.Commands) -> None:
    group = commands.add_parser("dead", help="list, retry or purge dead-lettered jobs")
    actions = options.add_actions(group)
    listing = options.add_command(
        actions,
        "list",
        help="dead letters, newest first",
        handler=list_command,
        command_name="dead list",
    )
    jobs.add_page_arguments(listing, limit=jobs.DEFAULT_LIMIT)
    listing.add_argument("--task", dest="task_name", metavar="NAME", help="only this task's")
    jobs.add_after_argument(listing)
    output.add_format_argument(listing)
    retry = options.add_command(
        actions,
        "retry",
        help="enqueue a fresh copy of a dead letter (or of all) and delete the letter",
        handler=retry_command,
        command_name="dead retry",
    )
    retry.add_argument("dead_id", metavar="ID", nargs="?", help="the dead letter's id")
    retry.add_argument("--all", action="store_true", help="retry every dead letter")
    delete = options.add_command(
        actions,
        "delete",
        help="delete one dead letter (discard a poison message)",
        handler=delete_command,
        command_name="dead delete",
    )
    delete.add_argument("dead_id", metavar="ID", help="the dead letter's id")
    purge = options.add_command(
        actions,
        "purge",
        help="delete dead letters older than --older-than seconds, or every one of --task",
        handler=purge_command,
        command_name="dead purge",
    )
    purge.add_argument(
        "--older-than",
        type=options.non_negative_seconds,
        default=DEFAULT_PURGE_AGE_S,
        metavar="S",
        help="delete letters that failed more than S seconds ago (default: 86400; 0: all)",
    )
    purge.add_argument(
        "--task", dest="task_name", metavar="NAME", help="delete every dead letter of this task"
    )
    options.finish_actions(actions)


def list_command(queue: taskito.Queue, args: argparse.Namespace, app_spec: str) -> int:
    if args.task_name is not None or args.after is not None:
        if args.offset:
            raise CommandError("--offset does not go with --task or --after", EXIT_USAGE)
        page = jobs.keyset_page(
            lambda: queue.dead_letters_after(args.limit, args.after, args.task_name)
        )
        output.render(list(page), COLUMNS, args.format, empty="no dead letters")
        if args.format == "table":
            jobs.print_next_cursor(page.next_cursor)
        return EXIT_OK
    rows = queue.dead_letters(limit=args.limit, offset=args.offset)
    output.render(rows, COLUMNS, args.format, empty="no dead letters")
    if args.format == "table":
        jobs.print_more_hint(len(rows), args.limit, args.offset)
    return EXIT_OK


def retry_command(queue: taskito.Queue, args: argparse.Namespace, app_spec: str) -> int:
    if args.all == (args.dead_id is not None):
        raise CommandError("pass one dead letter ID, or --all", EXIT_USAGE)
    if not args.all:
        new_id = _retry_one(queue, args.dead_id)
        print(f"dead letter {args.dead_id} retried as job {new_id}")
        return EXIT_OK
    letters = _every_letter_id(queue)
    failures: list[str] = []
    retried = 0
    for dead_id in letters:
        try:
            _retry_one(queue, dead_id)
        except CommandError:
            continue  # retried or purged by someone else meanwhile
        except taskito.TaskitoError as exc:
            failures.append(f"{dead_id}: {type(exc).__name__}: {output.last_line(str(exc))}")
        else:
            retried += 1
    print(f"retried {retried} dead letter(s) as new jobs")
    if failures:
        raise CommandError(
            f"{len(failures)} dead letter(s) could not be retried (first: {failures[0]})",
            EXIT_FAILURE,
        )
    return EXIT_OK


def _retry_one(queue: taskito.Queue, dead_id: str) -> str:
    try:
        return queue.retry_dead(dead_id)
    except taskito.StorageError as exc:
        # retry_dead raises the reference's RuntimeError for an unknown id: a plain
        # StorageError saying so (a failing storage raises a subclass, or another message).
        if type(exc) is taskito.StorageError and str(exc).startswith("dead letter not found"):
            raise not_found(f"dead letter with id {dead_id!r}") from None
        raise


def _every_letter_id(queue: taskito.Queue) -> list[str]:
    """The ids of every dead letter now, read before any is retried (a retried letter is
    deleted, which would shift the pages under an offset)."""
    ids: list[str] = []
    while True:
        page = queue.dead_letters(limit=_PAGE, offset=len(ids))
        ids += [letter["id"] for letter in page]
        if len(page) < _PAGE:
            return ids


def delete_command(queue: taskito.Queue, args: argparse.Namespace, app_spec: str) -> int:
    if not queue.delete_dead(args.dead_id):
        raise not_found(f"dead letter with id {args.dead_id!r}")
    print(f"dead letter {args.dead_id} deleted")
    return EXIT_OK


def purge_command(queue: taskito.Queue, args: argparse.Namespace, app_spec: str) -> int:
    if args.task_name is not None:
        deleted = queue.purge_dead_by_task(args.task_name)
        print(f"deleted {deleted} dead letter(s) of task {args.task_name}")
        return EXIT_OK
    older_than_s: float = args.older_than
    deleted = queue.purge_dead(older_than=older_than_s)
    age = f" older than {output.duration(older_than_s)}" if older_than_s else ""
    print(f"deleted {deleted} dead letter(s){age}")
    return EXIT_OK
