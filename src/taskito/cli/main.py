"""The parser and dispatch of ``taskito``: ``worker`` and ``info``, each given ``--app``.

This is the one place that configures logging and reads environment variables
(``TASKITO_APP``, ``TASKITO_LOG_LEVEL``); the library itself does neither.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import threading
from collections.abc import Callable, Sequence
from typing import NoReturn

import taskito
from taskito.cli.app import load_queue, report_load_error
from taskito.cli.info import show_once, watch
from taskito.cli.signals import stop_on_signals
from taskito.cli.worker import POOLS, parse_queue_names, run_worker

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
#: The longest duration an option takes (about 31 years; a thread cannot wait much longer).
MAX_SECONDS = 1e9

logger = logging.getLogger("taskito.cli")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors end here
        return _exit_status(exc)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_FAILURE
    if args.log_level not in LOG_LEVELS:  # only a bad TASKITO_LOG_LEVEL gets here
        choices = ", ".join(LOG_LEVELS)
        print(
            f"taskito: error: TASKITO_LOG_LEVEL={args.log_level!r}: expected one of {choices}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    logging.basicConfig(level=args.log_level, format=LOG_FORMAT, stream=sys.stderr)
    app_spec: str = args.app
    try:
        queue = load_queue(app_spec)
    except taskito.AppLoadError as exc:
        return report_load_error(exc, usage=EXIT_USAGE, failure=EXIT_FAILURE)
    command: Callable[[taskito.Queue, argparse.Namespace, str], int] = args.handler
    try:
        return command(queue, args, app_spec)
    except (ValueError, NotImplementedError, taskito.TaskitoError) as exc:
        # A refused option or an unavailable feature (exit 2), or a storage failure (exit 1):
        # one line says it; DEBUG shows where.
        logger.debug("%s failed", args.command, exc_info=True)
        print(f"taskito {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, ValueError | NotImplementedError) else EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    finally:
        queue.close()


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the usage itself is one ``--help`` away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="taskito",
        description="taskito: run workers for a taskito Queue and inspect it.",
        epilog="--app takes 'module:attribute', the module importable from the current directory.",
    )
    parser.add_argument("--version", action="version", version=f"taskito {taskito.__version__}")
    _add_log_level_argument(parser, default=_env_log_level())
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    worker = commands.add_parser("worker", help="run a worker until SIGINT/SIGTERM")
    _add_app_argument(worker)
    worker.add_argument(
        "--queues",
        type=_queue_names,
        default=None,
        help="comma-separated queues to consume (default: every queue)",
    )
    worker.add_argument("--pool", choices=POOLS, default="thread", help="default: thread")
    worker.add_argument(
        "--workers", type=_positive_int, default=None, help="threads or child processes"
    )
    worker.add_argument(
        "--max-tasks-per-child",
        type=_positive_int,
        default=None,
        metavar="K",
        help="prefork: replace a child process after it ran K jobs",
    )
    worker.add_argument(
        "--drain-timeout",
        type=_non_negative_seconds,
        default=None,
        metavar="S",
        help="seconds a warm shutdown waits for running jobs",
    )
    worker.set_defaults(handler=_worker_command)

    info = commands.add_parser("info", help="print job counts by status")
    _add_app_argument(info)
    info.add_argument("--watch", action="store_true", help="refresh until interrupted")
    info.add_argument(
        "--interval",
        type=_positive_seconds,
        default=2.0,
        metavar="S",
        help="seconds between refreshes with --watch (default: 2)",
    )
    info.set_defaults(handler=_info_command)
    return parser


def _add_app_argument(parser: argparse.ArgumentParser) -> None:
    """``--app`` for a command: required unless TASKITO_APP is set."""
    from_env = os.environ.get("TASKITO_APP") or None
    parser.add_argument(
        "--app",
        default=from_env,
        required=from_env is None,
        metavar="MODULE:ATTR",
        help="the Queue to use, e.g. 'myproject.tasks:queue' (default: $TASKITO_APP)",
    )
    # Accept the log level after the command as well; SUPPRESS keeps the top-level value.
    _add_log_level_argument(parser, default=argparse.SUPPRESS)


def _add_log_level_argument(parser: argparse.ArgumentParser, *, default: str) -> None:
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=LOG_LEVELS,
        default=default,
        help="DEBUG, INFO, WARNING or ERROR (default: $TASKITO_LOG_LEVEL or INFO)",
    )


def _worker_command(queue: taskito.Queue, args: argparse.Namespace, app_spec: str) -> int:
    run_worker(
        queue,
        app=app_spec,
        queues=args.queues,
        pool=args.pool,
        workers=args.workers,
        drain_timeout_s=args.drain_timeout,
        max_tasks_per_child=args.max_tasks_per_child,
    )
    return EXIT_OK


def _info_command(queue: taskito.Queue, args: argparse.Namespace, app_spec: str) -> int:
    if not args.watch:
        show_once(queue, sys.stdout)
        return EXIT_OK
    stop = threading.Event()
    with stop_on_signals(stop.set):
        watch(queue, sys.stdout, interval_s=args.interval, stop=stop)
    return EXIT_OK


def _exit_status(exc: SystemExit) -> int:
    if exc.code is None:
        return EXIT_OK
    return exc.code if isinstance(exc.code, int) else EXIT_FAILURE


def _env_log_level() -> str:
    return os.environ.get("TASKITO_LOG_LEVEL", "INFO").strip().upper()


def _queue_names(value: str) -> list[str]:
    try:
        return parse_queue_names(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {number}")
    return number


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {value!r}") from None
    if not math.isfinite(seconds):
        raise argparse.ArgumentTypeError(f"expected a finite number of seconds, got {value!r}")
    if seconds > MAX_SECONDS:  # longer than a thread can wait
        raise argparse.ArgumentTypeError(
            f"expected at most {MAX_SECONDS:.0e} seconds, got {value!r}"
        )
    return seconds


def _non_negative_seconds(value: str) -> float:
    seconds = _seconds(value)
    if seconds < 0:
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, got {value!r}")
    return seconds


def _positive_seconds(value: str) -> float:
    seconds = _seconds(value)
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"expected seconds > 0, got {value!r}")
    return seconds


if __name__ == "__main__":
    sys.exit(main())
