"""``taskito job watch ID``: follow one job to its end, polling storage, and end with its
result or its error.

On a terminal a progress bar is redrawn in place from the job's progress (what its task sets
with ``current_job.update_progress``); elsewhere (a pipe, a log file) a line is printed each
time the status or the progress changes. The last line is the outcome: ``complete: <repr of
the result>``, or ``failed``/``dead``/``cancelled`` with the error's last line; the exit
status says which (errors.py).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from typing import TextIO

import taskito
from taskito.cli import options, output
from taskito.cli.errors import (
    EXIT_INTERRUPTED,
    EXIT_JOB_CANCELLED,
    EXIT_JOB_FAILED,
    EXIT_NOT_FOUND,
    EXIT_OK,
    CommandError,
    not_found,
)
from taskito.cli.signals import stop_on_signals

FINISHED = frozenset({"complete", "failed", "dead", "cancelled"})
DEFAULT_INTERVAL_S = 0.2
_BAR_WIDTH = 30


def register(actions: options.Commands) -> None:
    watch = options.add_command(
        actions,
        "watch",
        help="follow a job's progress until it ends; exit 0 when it completes",
        handler=command,
        command_name="job watch",
    )
    watch.add_argument("job_id", metavar="ID")
    watch.add_argument(
        "--interval",
        type=options.positive_seconds,
        default=DEFAULT_INTERVAL_S,
        metavar="S",
        help=f"seconds between reads of the job (default: {DEFAULT_INTERVAL_S})",
    )


def command(queue: taskito.Queue, args: argparse.Namespace, app_spec: str) -> int:
    stop = threading.Event()
    with stop_on_signals(stop.set):
        return watch_job(queue, args.job_id, sys.stdout, interval_s=args.interval, stop=stop)


def watch_job(
    queue: taskito.Queue,
    job_id: str,
    out: TextIO,
    *,
    interval_s: float,
    stop: threading.Event,
) -> int:
    """Show the job until it ends (or ``stop`` is set: exit 130); return the exit status."""
    job = queue.get_job(job_id)
    if job is None:
        raise not_found(f"job with id {job_id!r}")
    display = _Bar(out) if out.isatty() else _Lines(out)
    print(f"job {job.id} ({output.printable(job.to_dict()['task_name'])})", file=out, flush=True)
    started = time.monotonic()
    while True:
        display.show(job.status, job.progress, time.monotonic() - started)
        if job.status in FINISHED:
            break
        if stop.wait(interval_s):
            display.close()
            print(f"interrupted; job {job_id} is still {job.status}", file=sys.stderr)
            return EXIT_INTERRUPTED
        current = queue.get_job(job_id)
        if current is None:
            display.close()
            raise CommandError(
                f"job {job_id} is gone (purged or archived) before it ended", EXIT_NOT_FOUND
            )
        job = current
    display.close()
    return _report_outcome(job, out)


def _report_outcome(job: taskito.JobResult, out: TextIO) -> int:
    if job.status == "complete":
        value = job.result(timeout=1.0)  # already complete: read and decoded at once
        print(f"complete: {value!r}", file=out, flush=True)
        return EXIT_OK
    print(f"{job.status}: {output.last_line(job.error)}", file=out, flush=True)
    return EXIT_JOB_CANCELLED if job.status == "cancelled" else EXIT_JOB_FAILED


class _Lines:
    """A line each time the status or the progress changes: ``running   40%``."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._last: tuple[str, int | None] | None = None

    def show(self, status: str, progress: int | None, elapsed_s: float) -> None:
        if (status, progress) == self._last:
            return
        self._last = (status, progress)
        print(f"{status:<9} {output.percent(progress):>4}", file=self._out, flush=True)

    def close(self) -> None:
        pass


class _Bar:
    """One line redrawn in place: ``[#######-----]  40%  running  3.2s``."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def show(self, status: str, progress: int | None, elapsed_s: float) -> None:
        bar = output.progress_bar(progress, _BAR_WIDTH)
        line = f"{bar}  {status:<9}  {output.duration(elapsed_s)}"
        self._out.write(f"\r\x1b[K{line}")
        self._out.flush()

    def close(self) -> None:
        self._out.write("\n")
        self._out.flush()
