"""``taskito retention [--dry-run]``: the app's retention windows (``Queue(retention=...)``),
the windows the last worker sweep reported (``effective_retention``), and with ``--dry-run``
how many rows of each kind a sweep would delete now (``dry_run_retention``), deleting nothing.
"""

from __future__ import annotations

import argparse
from typing import Any

import taskito
from taskito.cli import options, output
from taskito.cli.errors import EXIT_OK

_KINDS = ("completed_jobs", "dead_letters", "job_errors", "task_logs", "task_metrics")


def register(commands: options.Commands) -> None:
    parser = options.add_command(
        commands,
        "retention",
        help="show the retention windows, and with --dry-run what a sweep would delete",
        handler=command,
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="count per kind what a sweep would delete now (nothing is deleted)",
    )
    parser.add_argument(
        "--recommended",
        action="store_true",
        help="with --dry-run: count under the recommended windows instead of the app's",
    )
    output.add_format_argument(parser)


def command(queue: taskito.Queue, args: argparse.Namespace, app_spec: str) -> int:
    configured = queue.retention()
    document: dict[str, Any] = {
        "enabled": configured is not None and configured.enabled,
        "windows_s": _windows_s(configured),
        "reported": queue.effective_retention(),
    }
    if args.dry_run:
        candidate = taskito.Retention.recommended() if args.recommended else None
        preview = queue.dry_run_retention(candidate)
        document["dry_run"] = {"counts": preview.counts, "total": preview.total}
    if args.format == "json":
        output.print_json(document)
    else:
        print(_table(document, recommended=args.recommended))
    return EXIT_OK


def _windows_s(retention: taskito.Retention | None) -> dict[str, float]:
    if retention is None:
        return {}
    return {kind: window / 1000 for kind, window in retention.windows_ms().items()}


def _table(document: dict[str, Any], *, recommended: bool) -> str:
    lines = []
    if not document["enabled"]:
        lines.append(
            "retention is off: history is kept forever (Queue(retention=...) sets windows)"
        )
    windows: dict[str, float] = document["windows_s"]
    for kind in _KINDS:
        window = windows.get(kind)
        lines.append(f"{kind:<16} {'keep forever' if window is None else output.duration(window)}")
    reported = document["reported"]
    if reported is None:
        lines.append("no worker has swept yet")
    else:
        when = output.timestamp(reported["reported_at"])
        lines.append(f"last sweep reported at {when}")
    dry_run = document.get("dry_run")
    if dry_run is not None:
        under = "the recommended windows" if recommended else "these windows"
        lines.append(f"a sweep now under {under} would delete:")
        for kind, count in dry_run["counts"].items():
            lines.append(f"  {kind:<16} {count}")
        lines.append(f"  {'total':<16} {dry_run['total']}")
    return "\n".join(lines)
