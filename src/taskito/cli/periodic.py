"""``taskito periodic [list|pause|resume|update|delete]``: the periodic schedules stored on the
database and their next run (``Queue.list_periodic``), and the catalog's changes
(``Queue.pause_periodic`` and the rest). ``taskito periodic`` alone lists."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

import taskito
from taskito.cli import options, output
from taskito.cli.errors import EXIT_OK, not_found


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
        commands,
        "periodic",
        help="list, pause, resume, update or delete the periodic schedules",
        handler=command,
    )
    output.add_format_argument(periodic)
    actions = periodic.add_subparsers(dest="action", required=False)
    listing = _add_action(actions, "list", "list the schedules and their next run", command)
    output.add_format_argument(listing)
    _add_action(actions, "pause", "stop a schedule from firing (kept across restarts)", pause)
    _add_action(actions, "resume", "let a paused schedule fire again from its next slot", resume)
    _add_action(actions, "delete", "delete a stored schedule (its jobs stay)", delete)
    update_parser = _add_action(actions, "update", "give a schedule a new cron", update)
    update_parser.add_argument(
        "--cron", required=True, help="6 fields, seconds first (e.g. '0 */5 * * * *')"
    )
    update_parser.add_argument(
        "--timezone", default=None, help="an IANA name, 'UTC' for none (default: kept)"
    )
    options.finish_actions(actions)


def _add_action(
    actions: options.Commands, name: str, help: str, handler: options.Handler
) -> argparse.ArgumentParser:
    parser = options.add_command(
        actions, name, help=help, handler=handler, command_name=f"periodic {name}"
    )
    if name != "list":
        parser.add_argument("name", metavar="NAME", help="the schedule, as 'periodic' lists it")
    return parser


def command(queue: taskito.Queue, args: argparse.Namespace, app_spec: str) -> int:
    rows: list[dict[str, Any]] = [dataclasses.asdict(info) for info in queue.list_periodic()]
    output.render(rows, COLUMNS, args.format, empty=EMPTY)
    return EXIT_OK


def _stored(queue: taskito.Queue, name: str) -> taskito.PeriodicInfo:
    found = [info for info in queue.list_periodic() if info.name == name]
    if not found:
        raise not_found(f"periodic schedule named {name!r} (see 'taskito periodic')")
    return found[0]


def pause(queue: taskito.Queue, args: argparse.Namespace, app_spec: str) -> int:
    was_enabled = _stored(queue, args.name).enabled
    queue.pause_periodic(args.name)
    state = "is now" if was_enabled else "was already"
    print(f"periodic schedule {args.name!r} {state} paused")
    return EXIT_OK


def resume(queue: taskito.Queue, args: argparse.Namespace, app_spec: str) -> int:
    was_enabled = _stored(queue, args.name).enabled
    queue.resume_periodic(args.name)
    state = "was not paused" if was_enabled else "is resumed"
    print(f"periodic schedule {args.name!r} {state}; next run {_next_run_of(queue, args.name)}")
    return EXIT_OK


def update(queue: taskito.Queue, args: argparse.Namespace, app_spec: str) -> int:
    _stored(queue, args.name)
    if args.timezone is None:
        queue.update_periodic(args.name, args.cron)
    else:
        zone = None if args.timezone.upper() == "UTC" else args.timezone
        queue.update_periodic(args.name, args.cron, zone)
    print(
        f"periodic schedule {args.name!r} now runs on {args.cron!r}; next run "
        f"{_next_run_of(queue, args.name)} (a worker that declares it restores its cron "
        "when it starts)"
    )
    return EXIT_OK


def delete(queue: taskito.Queue, args: argparse.Namespace, app_spec: str) -> int:
    _stored(queue, args.name)
    queue.delete_periodic(args.name)
    print(
        f"periodic schedule {args.name!r} deleted (a worker whose app declares it stores it "
        "again when it starts)"
    )
    return EXIT_OK


def _next_run_of(queue: taskito.Queue, name: str) -> str:
    return _next_run(_stored(queue, name).next_run)
