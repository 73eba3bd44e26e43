"""``taskito overrides list|task|queue|clear-task|clear-queue`` and ``taskito middleware
list|disable|enable``: the runtime overrides running workers apply within a second
(``Queue.set_task_override`` and the rest; docs/operations.md)."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

import taskito
from taskito.cli import options, output
from taskito.cli.errors import EXIT_OK

#: What ``--rate-limit none`` and the like clear.
CLEAR = "none"

COLUMNS = (
    output.Column("kind", "KIND"),
    output.Column("name", "NAME", max_width=40),
    output.Column("rate_limit", "RATE LIMIT", output.text),
    output.Column("max_concurrent", "MAX CONCURRENT", output.text),
    output.Column("timeout", "TIMEOUT", output.text),
    output.Column("paused", "PAUSED", lambda paused: "yes" if paused else "no"),
)
MIDDLEWARE_COLUMNS = (
    output.Column("name", "NAME", max_width=60),
    output.Column("scope", "SCOPE", max_width=40),
    output.Column("disabled_for", "DISABLED FOR", lambda names: ", ".join(names) or "-"),
)


def _optional(kind: type) -> Any:
    def parse(value: str) -> object:
        if value.lower() == CLEAR:
            return None
        try:
            return kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__} or 'none'") from None

    return parse


def _yes_no(value: str) -> bool:
    if value.lower() not in ("yes", "no"):
        raise argparse.ArgumentTypeError(f"expected yes or no, got {value!r}")
    return value.lower() == "yes"


def register(commands: options.Commands) -> None:
    group = commands.add_parser("overrides", help="runtime overrides of tasks and queues")
    actions = options.add_actions(group)
    listing = _action(actions, "list", "every stored override", list_command)
    output.add_format_argument(listing)
    task = _action(actions, "task", "override a task's options on every worker", task_command)
    task.add_argument("name", metavar="TASK")
    _limit_arguments(task)
    task.add_argument(
        "--timeout", type=_optional(float), default=argparse.SUPPRESS, help="seconds, or 'none'"
    )
    queue = _action(actions, "queue", "override a queue's limits on every worker", queue_command)
    queue.add_argument("name", metavar="QUEUE")
    _limit_arguments(queue)
    for kind in ("task", "queue"):
        clear = _action(actions, f"clear-{kind}", f"drop every override of a {kind}", clear_command)
        clear.add_argument("name", metavar=kind.upper())
    options.finish_actions(actions)

    middleware = commands.add_parser("middleware", help="switch a middleware off for a task")
    mw_actions = options.add_actions(middleware)
    mw_list = options.add_command(
        mw_actions,
        "list",
        help="every middleware and where it is off",
        handler=mw_list_command,
        command_name="middleware list",
    )
    output.add_format_argument(mw_list)
    for action, handler in (("disable", mw_disable_command), ("enable", mw_enable_command)):
        parser = options.add_command(
            mw_actions,
            action,
            help=f"{action} a middleware for a task's jobs",
            handler=handler,
            command_name=f"middleware {action}",
        )
        parser.add_argument("task", metavar="TASK")
        parser.add_argument("middleware", metavar="MIDDLEWARE", help="its name (middleware list)")
    options.finish_actions(mw_actions)


def _action(
    actions: options.Commands, name: str, help: str, handler: options.Handler
) -> argparse.ArgumentParser:
    return options.add_command(
        actions, name, help=help, handler=handler, command_name=f"overrides {name}"
    )


def _limit_arguments(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: an option left out is absent from the namespace and keeps its override.
    parser.add_argument(
        "--rate-limit",
        type=_optional(str),
        default=argparse.SUPPRESS,
        help="'N/s', 'N/m', 'N/h' or 'none'",
    )
    parser.add_argument(
        "--max-concurrent",
        type=_optional(int),
        default=argparse.SUPPRESS,
        help="a number, or 'none'",
    )
    parser.add_argument("--paused", type=_yes_no, default=argparse.SUPPRESS, help="yes or no")


def _given(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    given = {name: getattr(args, name) for name in names if hasattr(args, name)}
    if not given:
        flags = ", ".join("--" + name.replace("_", "-") for name in names)
        raise ValueError(f"nothing to change: give at least one of {flags}")
    return given


def list_command(queue: taskito.Queue, args: argparse.Namespace, app_spec: str) -> int:
    rows: list[dict[str, Any]] = [
        {"kind": "task", "name": name, **dataclasses.asdict(override)}
        for name, override in sorted(queue.list_task_overrides().items())
    ]
    rows += [
        {
            "kind": "queue",
            "name": name,
            "timeout": None,
            "paused": name in paused,
            **dataclasses.asdict(override),
        }
        for paused in [set(queue.paused_queues())]
        for name, override in sorted(queue.list_queue_overrides().items())
    ]
    output.render(rows, COLUMNS, args.format, empty="no overrides stored")
    return EXIT_OK


def task_command(queue: taskito.Queue, args: argparse.Namespace, app_spec: str) -> int:
    fields = _given(args, "rate_limit", "max_concurrent", "timeout", "paused")
    stored = queue.set_task_override(args.name, **fields)
    print(f"task {args.name!r}: {_describe(stored)} (workers apply it within a second)")
    return EXIT_OK


def queue_command(queue: taskito.Queue, args: argparse.Namespace, app_spec: str) -> int:
    fields = _given(args, "rate_limit", "max_concurrent", "paused")
    stored = queue.set_queue_override(args.name, **fields)
    paused = args.name in queue.paused_queues()
    print(f"queue {args.name!r}: {_describe(stored)}, paused={'yes' if paused else 'no'}")
    return EXIT_OK


def clear_command(queue: taskito.Queue, args: argparse.Namespace, app_spec: str) -> int:
    kind = args.command_name.rsplit("-", 1)[1]
    clear = queue.clear_task_override if kind == "task" else queue.clear_queue_override
    cleared = clear(args.name)
    print(f"{kind} {args.name!r}: {'overrides cleared' if cleared else 'had no override'}")
    return EXIT_OK


def _describe(override: object) -> str:
    fields = dataclasses.asdict(override)  # type: ignore[call-overload]
    return ", ".join(f"{name}={value}" for name, value in fields.items())


def mw_list_command(queue: taskito.Queue, args: argparse.Namespace, app_spec: str) -> int:
    disabled = {task["name"]: task["disabled_middleware"] for task in queue.registered_tasks()}
    rows = [
        {
            **entry,
            "disabled_for": sorted(t for t, names in disabled.items() if entry["name"] in names),
        }
        for entry in queue.list_middleware()
    ]
    output.render(rows, MIDDLEWARE_COLUMNS, args.format, empty="no middleware on this queue")
    return EXIT_OK


def mw_disable_command(queue: taskito.Queue, args: argparse.Namespace, app_spec: str) -> int:
    off = queue.disable_middleware_for_task(args.task, args.middleware)
    print(f"task {args.task!r}: middleware off: {', '.join(off)}")
    return EXIT_OK


def mw_enable_command(queue: taskito.Queue, args: argparse.Namespace, app_spec: str) -> int:
    off = queue.enable_middleware_for_task(args.task, args.middleware)
    print(f"task {args.task!r}: middleware off: {', '.join(off) or 'none'}")
    return EXIT_OK
