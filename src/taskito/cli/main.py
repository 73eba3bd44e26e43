"""The parser and dispatch of ``taskito``: global options, then one subcommand.

Each subcommand is a module of this package with ``register(commands)`` (see ``options``);
``SUBCOMMANDS`` lists them in the order ``--help`` shows. This is the one place that
configures logging and reads environment variables (``TASKITO_APP``, ``TASKITO_LOG_LEVEL``);
the library itself does neither.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

import taskito
from taskito.cli import info, metrics, options, worker
from taskito.cli.app import load_queue
from taskito.cli.errors import (
    COMMAND_ERRORS,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    report_command_error,
    report_load_error,
    report_usage_error,
)

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

#: Each adds its parser and handler; a new subcommand is a new module listed here.
SUBCOMMANDS: tuple[Callable[[options.Commands], None], ...] = (
    worker.register,
    info.register,
    metrics.register,
)


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
    if args.log_level not in options.LOG_LEVELS:  # only a bad TASKITO_LOG_LEVEL gets here
        choices = ", ".join(options.LOG_LEVELS)
        return report_usage_error(
            f"TASKITO_LOG_LEVEL={args.log_level!r}: expected one of {choices}"
        )
    logging.basicConfig(level=args.log_level, format=LOG_FORMAT, stream=sys.stderr)
    app_spec: str = args.app
    try:
        queue = load_queue(app_spec)
    except taskito.AppLoadError as exc:
        return report_load_error(exc)
    handler: options.Handler = args.handler
    try:
        return handler(queue, args, app_spec)
    except COMMAND_ERRORS as exc:
        return report_command_error(args.command, exc)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    finally:
        queue.close()


def build_parser() -> argparse.ArgumentParser:
    parser = options.Parser(
        prog="taskito",
        description="taskito: run workers for a taskito Queue and inspect it.",
        epilog="--app takes 'module:attribute', the module importable from the current directory.",
    )
    parser.add_argument("--version", action="version", version=f"taskito {taskito.__version__}")
    options.add_log_level_argument(parser, default=options.env_log_level())
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in SUBCOMMANDS:
        register(commands)
    return parser


def _exit_status(exc: SystemExit) -> int:
    if exc.code is None:
        return EXIT_OK
    return exc.code if isinstance(exc.code, int) else EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
