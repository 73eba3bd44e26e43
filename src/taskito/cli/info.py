"""``taskito info``: the queue statistics table, once or refreshed with ``--watch``."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import TextIO

import taskito
from taskito.cli import options
from taskito.cli.errors import EXIT_OK
from taskito.cli.signals import stop_on_signals

#: The rows of the table, in the order ``Queue.stats()`` documents them.
STAT_KEYS = ("pending", "running", "completed", "failed", "dead", "cancelled")

TITLE = "taskito queue statistics"
_LABEL_WIDTH = 12
_VALUE_WIDTH = 12
_RULE = "-" * (_LABEL_WIDTH + _VALUE_WIDTH)


def register(commands: options.Commands) -> None:
    info = commands.add_parser("info", help="print job counts by status")
    options.add_app_argument(info)
    info.add_argument("--watch", action="store_true", help="refresh until interrupted")
    info.add_argument(
        "--interval",
        type=options.positive_seconds,
        default=2.0,
        metavar="S",
        help="seconds between refreshes with --watch (default: 2)",
    )
    info.set_defaults(handler=command)


def command(queue: taskito.Queue, args: argparse.Namespace, app_spec: str) -> int:
    if not args.watch:
        show_once(queue, sys.stdout)
        return EXIT_OK
    stop = threading.Event()
    with stop_on_signals(stop.set):
        watch(queue, sys.stdout, interval_s=args.interval, stop=stop)
    return EXIT_OK


def format_stats(stats: Mapping[str, int], *, throughput_per_s: float | None = None) -> str:
    """Render the table: a title, one row per status key, then the total."""
    counts = [int(stats.get(key, 0)) for key in STAT_KEYS]
    lines = [TITLE, _RULE]
    lines += [_row(key, str(count)) for key, count in zip(STAT_KEYS, counts, strict=True)]
    lines += [_RULE, _row("total", str(sum(counts)))]
    if throughput_per_s is not None:
        lines.append(_row("throughput", f"{throughput_per_s:,.1f} jobs/s"))
    return "\n".join(lines)


def _row(label: str, value: str) -> str:
    return f"{label:<{_LABEL_WIDTH}}{value:>{_VALUE_WIDTH}}"


def show_once(queue: taskito.Queue, out: TextIO) -> None:
    print(format_stats(queue.stats()), file=out, flush=True)


def watch(
    queue: taskito.Queue,
    out: TextIO,
    *,
    interval_s: float,
    stop: threading.Event,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Print the table every ``interval_s`` until ``stop`` is set.

    Throughput is the number of jobs that finished as completed since the previous refresh,
    per second. On a terminal the screen is cleared between refreshes; otherwise (a pipe, a
    log file) the tables follow each other separated by a blank line.
    """
    clear_screen = out.isatty()
    previous: tuple[float, int] | None = None
    while True:
        stats = queue.stats()
        now = clock()
        completed = int(stats.get("completed", 0))
        throughput = None
        if previous is not None and now > previous[0]:
            throughput = max(0, completed - previous[1]) / (now - previous[0])
        previous = (now, completed)
        prefix = "\x1b[2J\x1b[H" if clear_screen else ""
        print(prefix + format_stats(stats, throughput_per_s=throughput), file=out, flush=True)
        if stop.wait(interval_s):
            return
        if not clear_screen:
            print(file=out, flush=True)
