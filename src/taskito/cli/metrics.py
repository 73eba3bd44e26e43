"""``taskito metrics``: per-task figures of the attempts that finished recently
(``queue.metrics()``), as a table or as JSON."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import taskito
from taskito.cli import options
from taskito.cli.errors import EXIT_OK

DEFAULT_SINCE_S = 3600
#: (heading, key of ``queue.metrics()``), in column order after the task name.
COLUMNS = (
    ("count", "count"),
    ("ok", "success_count"),
    ("failed", "failure_count"),
    ("avg ms", "avg_ms"),
    ("p50 ms", "p50_ms"),
    ("p95 ms", "p95_ms"),
    ("p99 ms", "p99_ms"),
    ("min ms", "min_ms"),
    ("max ms", "max_ms"),
)


def register(commands: options.Commands) -> None:
    metrics = commands.add_parser(
        "metrics", help="print per-task counts and wall times of recent attempts"
    )
    options.add_app_argument(metrics)
    metrics.add_argument("--task", metavar="NAME", help="one task only (default: every task)")
    metrics.add_argument(
        "--since",
        type=whole_seconds,
        default=DEFAULT_SINCE_S,
        metavar="S",
        help=f"attempts that finished in the last S seconds (default: {DEFAULT_SINCE_S})",
    )
    metrics.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        help="a table (default) or the JSON of queue.metrics()",
    )
    metrics.set_defaults(handler=command)


def whole_seconds(value: str) -> int:
    """A whole number of seconds, 0 or more, at most ``options.MAX_SECONDS``."""
    try:
        seconds = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of seconds, got {value!r}"
        ) from None
    if not 0 <= seconds <= options.MAX_SECONDS:
        raise argparse.ArgumentTypeError(
            f"expected seconds from 0 to {options.MAX_SECONDS:.0e}, got {value!r}"
        )
    return seconds


def command(queue: taskito.Queue, args: argparse.Namespace, app_spec: str) -> int:
    figures = queue.metrics(task_name=args.task, since=args.since)
    show(figures, sys.stdout, fmt=args.format, since_s=args.since)
    return EXIT_OK


def show(figures: Mapping[str, Mapping[str, Any]], out: TextIO, *, fmt: str, since_s: int) -> None:
    if fmt == "json":
        print(json.dumps(figures, indent=2), file=out, flush=True)
    else:
        print(format_table(figures, since_s=since_s), file=out, flush=True)


def format_table(figures: Mapping[str, Mapping[str, Any]], *, since_s: int) -> str:
    """A title, then one row per task (name order) with the ``COLUMNS``; times with three
    decimals (microseconds)."""
    title = f"taskito task metrics (attempts finished in the last {since_s} s)"
    if not figures:
        return f"{title}\nno finished attempts"
    rows = [
        [task, *(_cell(summary[key]) for _, key in COLUMNS)] for task, summary in figures.items()
    ]
    headings = ["task", *(heading for heading, _ in COLUMNS)]
    widths = [max(len(row[i]) for row in [headings, *rows]) for i in range(len(headings))]
    lines = [title, _line(headings, widths), "-" * (sum(widths) + 2 * (len(widths) - 1))]
    lines += [_line(row, widths) for row in rows]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _line(cells: list[str], widths: list[int]) -> str:
    first = f"{cells[0]:<{widths[0]}}"
    rest = [f"{cell:>{width}}" for cell, width in zip(cells[1:], widths[1:], strict=True)]
    return "  ".join([first, *rest])
