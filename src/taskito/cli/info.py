"""``taskito info``: the queue statistics table, once (or as JSON), or refreshed with
``--watch`` with the change of each count per second and the running jobs' progress."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import taskito
from taskito.cli import options, output
from taskito.cli.errors import EXIT_OK, EXIT_USAGE, CommandError
from taskito.cli.signals import stop_on_signals

#: The rows of the table, in the order ``Queue.stats()`` documents them.
STAT_KEYS = ("pending", "running", "completed", "failed", "dead", "cancelled")
#: How many running jobs ``--watch`` lists at most (those created last).
RUNNING_SHOWN = 10

TITLE = "taskito queue statistics"
_LABEL_WIDTH = 12
_VALUE_WIDTH = 12
_RATE_WIDTH = 12


def register(commands: options.Commands) -> None:
    info = options.add_command(commands, "info", help="print job counts by status", handler=command)
    info.add_argument(
        "--watch",
        action="store_true",
        help="refresh until interrupted, with the change per second and the running jobs",
    )
    info.add_argument(
        "--interval",
        type=options.positive_seconds,
        default=2.0,
        metavar="S",
        help="seconds between refreshes with --watch (default: 2)",
    )
    output.add_format_argument(info)


def command(queue: taskito.Queue, args: argparse.Namespace, app_spec: str) -> int:
    if not args.watch:
        show_once(queue, sys.stdout, fmt=args.format)
        return EXIT_OK
    if args.format == "json":
        raise CommandError("--watch draws a live table; --format json prints once", EXIT_USAGE)
    stop = threading.Event()
    with stop_on_signals(stop.set):
        watch(queue, sys.stdout, interval_s=args.interval, stop=stop)
    return EXIT_OK


def format_stats(
    stats: Mapping[str, int],
    *,
    throughput_per_s: float | None = None,
    rates: Mapping[str, float] | None = None,
) -> str:
    """Render the table: a title, one row per status key, then the total. With ``rates``
    (per status key: the change of its count per second), each row shows it too."""
    counts = [int(stats.get(key, 0)) for key in STAT_KEYS]
    rule = "-" * (_LABEL_WIDTH + _VALUE_WIDTH + (_RATE_WIDTH if rates is not None else 0))
    lines = [TITLE, rule]
    if rates is not None:
        lines.append(_row("", "count", "change/s"))
    for key, count in zip(STAT_KEYS, counts, strict=True):
        rate = None if rates is None else _rate(rates.get(key, 0.0))
        lines.append(_row(key, str(count), rate))
    lines += [rule, _row("total", str(sum(counts)))]
    if throughput_per_s is not None:
        lines.append(_row("throughput", f"{throughput_per_s:,.1f} jobs/s"))
    return "\n".join(lines)


def _row(label: str, value: str, rate: str | None = None) -> str:
    line = f"{label:<{_LABEL_WIDTH}}{value:>{_VALUE_WIDTH}}"
    return line if rate is None else f"{line}{rate:>{_RATE_WIDTH}}"


def _rate(per_s: float) -> str:
    return "0.0/s" if round(per_s, 1) == 0 else f"{per_s:+,.1f}/s"


def show_once(queue: taskito.Queue, out: TextIO, *, fmt: str = "table") -> None:
    """The table (and the paused queues, when any), or them as one JSON document."""
    stats = queue.stats()
    paused = queue.paused_queues()
    if fmt == "json":
        counts = {key: int(stats.get(key, 0)) for key in STAT_KEYS}
        document = {**counts, "total": sum(counts.values()), "paused_queues": paused}
        output.print_json(document, out)
        return
    print(format_stats(stats), file=out, flush=True)
    if paused:
        print(f"paused queues: {', '.join(paused)}", file=out, flush=True)


@dataclass(frozen=True)
class _Sample:
    at_s: float
    stats: dict[str, int]


def watch(
    queue: taskito.Queue,
    out: TextIO,
    *,
    interval_s: float,
    stop: threading.Event,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Print the table every ``interval_s`` until ``stop`` is set.

    From the second table on, each count shows how much it changed per second since the
    previous one, and ``throughput`` the jobs that completed per second. Below it, the
    running jobs with their progress. On a terminal the screen is cleared between refreshes;
    otherwise (a pipe, a log file) the screens follow each other separated by a blank line.
    """
    clear_screen = out.isatty()
    previous: _Sample | None = None
    while True:
        sample = _Sample(clock(), queue.stats())
        running = [job.to_dict() for job in _running_jobs(queue)]
        screen = _screen(sample, previous, running, queue.paused_queues())
        prefix = "\x1b[2J\x1b[H" if clear_screen else ""
        print(prefix + screen, file=out, flush=True)
        previous = sample
        if stop.wait(interval_s):
            return
        if not clear_screen:
            print(file=out, flush=True)


def _running_jobs(queue: taskito.Queue) -> list[taskito.JobResult]:
    return queue.list_jobs(status="running", limit=RUNNING_SHOWN, namespace=None)


def _screen(
    sample: _Sample,
    previous: _Sample | None,
    running: Sequence[Mapping[str, Any]],
    paused: Sequence[str],
) -> str:
    rates: dict[str, float] | None = None
    throughput = None
    if previous is not None and sample.at_s > previous.at_s:
        elapsed_s = sample.at_s - previous.at_s
        rates = {
            key: (sample.stats.get(key, 0) - previous.stats.get(key, 0)) / elapsed_s
            for key in STAT_KEYS
        }
        throughput = max(0.0, rates["completed"])
    parts = [format_stats(sample.stats, throughput_per_s=throughput, rates=rates)]
    if paused:
        parts.append(f"paused queues: {', '.join(paused)}")
    parts.append(_running_table(running))
    return "\n".join(parts)


_RUNNING_COLUMNS = (
    output.Column("id", "ID"),
    output.Column("task_name", "TASK", max_width=40),
    output.Column("queue", "QUEUE"),
    output.Column("progress", "PROGRESS", output.progress_bar),
    output.Column("started_at", "STARTED", output.age),
)


def _running_table(running: Sequence[Mapping[str, Any]]) -> str:
    if not running:
        return "\nno running jobs"
    heading = "\nrunning jobs"
    if len(running) >= RUNNING_SHOWN:
        heading += f" (the {RUNNING_SHOWN} created last)"
    oldest_first = sorted(running, key=lambda job: job.get("started_at") or 0)
    return heading + "\n" + output.format_table(oldest_first, _RUNNING_COLUMNS)
