"""``taskito job show|cancel|requeue|watch ID``: one job, every field with its error history
and log; cancelling it (``Queue.cancel``); requeueing it off a hung worker
(``Queue.requeue_job``); following it to its end (``job_watch.py``)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

import taskito
from taskito.cli import job_watch, options, output
from taskito.cli.errors import (
    EXIT_ALREADY_FINISHED,
    EXIT_CANCEL_REQUESTED,
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    not_found,
)

#: Fields of ``JobResult.to_dict()`` that hold ms since the epoch.
TIME_FIELDS = frozenset({"created_at", "scheduled_at", "started_at", "completed_at"})

ERROR_COLUMNS = (
    output.Column("attempt", "ATTEMPT", right=True),
    output.Column("failed_at", "FAILED AT", output.timestamp),
    output.Column("error", "ERROR", output.last_line),
)
LOG_COLUMNS = (
    output.Column("logged_at", "TIME", output.timestamp),
    output.Column("level", "LEVEL"),
    output.Column("message", "MESSAGE", max_width=60),
    output.Column("extra", "EXTRA", max_width=60),
)


def register(commands: options.Commands) -> None:
    group = commands.add_parser("job", help="show, cancel or watch one job")
    actions = options.add_actions(group)
    show = options.add_command(
        actions,
        "show",
        help="every field of a job, its result, its failed attempts and its log",
        handler=show_command,
        command_name="job show",
    )
    show.add_argument("job_id", metavar="ID")
    output.add_format_argument(show)
    cancel = options.add_command(
        actions,
        "cancel",
        help="cancel a pending job, or ask a running one to stop",
        handler=cancel_command,
        command_name="job cancel",
    )
    cancel.add_argument("job_id", metavar="ID")
    cancel.add_argument(
        "--force",
        action="store_true",
        help="stop a running task even if it never checks for cancellation (prefork kills "
        "its child process, async cancels its task; a thread cannot be stopped)",
    )
    requeue = options.add_command(
        actions,
        "requeue",
        help="send a job stuck on a hung worker back to pending as a new attempt (the hung "
        "attempt's late result is refused)",
        handler=requeue_command,
        command_name="job requeue",
    )
    requeue.add_argument("job_id", metavar="ID")
    job_watch.register(actions)
    options.finish_actions(actions)


# --- requeue ------------------------------------------------------------------------------


def requeue_command(queue: taskito.Queue, args: argparse.Namespace, app_spec: str) -> int:
    job_id: str = args.job_id
    if queue.requeue_job(job_id):
        print(f"job {job_id} requeued: pending again as a new attempt")
        return EXIT_OK
    job = queue.get_job(job_id)
    if job is None:
        raise not_found(f"job with id {job_id!r}")
    raise CommandError(f"job {job_id} is {job.status}, not running: nothing to requeue", EXIT_USAGE)


# --- show ---------------------------------------------------------------------------------


def show_command(queue: taskito.Queue, args: argparse.Namespace, app_spec: str) -> int:
    job = queue.get_job(args.job_id)
    if job is None:
        raise not_found(f"job with id {args.job_id!r}")
    document = describe(queue, job)
    if args.format == "json":
        output.print_json(document)
    else:
        print(format_job(document))
    return EXIT_OK


def describe(queue: taskito.Queue, job: taskito.JobResult) -> dict[str, Any]:
    """The job's fields, the repr of its result, its dependencies, failed attempts and log."""
    document = job.to_dict()
    document["result_repr"] = result_repr(job) if job.status == "complete" else None
    document["dependencies"] = job.dependencies
    document["dependents"] = job.dependents
    document["errors"] = job.errors
    document["logs"] = queue.task_logs(job.id)
    return document


def result_repr(job: taskito.JobResult) -> str:
    """``repr`` of a complete job's result, or why it cannot be read here."""
    try:
        return repr(job.result(timeout=1.0))
    except taskito.SerializationError as exc:  # SignatureError included
        return f"<not readable here: {output.printable(str(exc))}>"


def format_job(document: Mapping[str, Any]) -> str:
    """The fields one a line, then the final error in full, the failed attempts and the log."""
    fields = [
        (_LABELS.get(key, key), _shown(key, value))
        for key, value in document.items()
        if key not in _SECTIONS
    ]
    parts = [output.format_fields(fields)]
    if document.get("error"):
        lines = str(document["error"]).splitlines()
        error = "\n".join(f"  {output.printable(line)}" for line in lines)
        parts.append(f"error:\n{error}")
    errors = document.get("errors") or []
    parts.append(_section("failed attempts", errors, ERROR_COLUMNS))
    parts.append(_section("log", document.get("logs") or [], LOG_COLUMNS))
    return "\n\n".join(parts)


def _section(title: str, rows: list[dict[str, Any]], columns: tuple[output.Column, ...]) -> str:
    if not rows:
        return f"{title}: none"
    return f"{title} ({len(rows)}):\n" + output.format_table(rows, columns)


#: Shown after the fields, each in a section of its own.
_SECTIONS = frozenset({"error", "errors", "logs"})
_LABELS = {"result_repr": "result"}


def _shown(key: str, value: Any) -> str:
    if key in TIME_FIELDS:
        return output.timestamp(value)
    if key == "progress":
        return output.percent(value)
    if isinstance(value, list):
        return ", ".join(value) if value else output.NONE
    return output.text(value)


# --- cancel -------------------------------------------------------------------------------


def cancel_command(queue: taskito.Queue, args: argparse.Namespace, app_spec: str) -> int:
    job_id: str = args.job_id
    if not queue.cancel(job_id, force=args.force):
        job = queue.get_job(job_id)
        if job is None:
            raise not_found(f"job with id {job_id!r}")
        raise CommandError(
            f"job {job_id} had already finished ({job.status}); nothing to cancel",
            EXIT_ALREADY_FINISHED,
        )
    # The cancel was one atomic call; reading the job again tells which way it went.
    job = queue.get_job(job_id)
    state = "gone" if job is None else job.status
    if state == "cancelled":
        print(f"job {job_id} cancelled")
        return EXIT_OK
    if state in ("pending", "running"):
        forced = " (forced)" if args.force else ""
        print(f"job {job_id} is running: cancel requested{forced}")
        return EXIT_CANCEL_REQUESTED
    raise CommandError(
        f"job {job_id} finished ({state}) before the cancel request reached it",
        EXIT_ALREADY_FINISHED,
    )
