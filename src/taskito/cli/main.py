"""The parser and dispatch of ``taskito``: global options, then one subcommand.

Each subcommand is a module of this package with ``register(commands)`` (see ``options``);
``SUBCOMMANDS`` lists them in the order ``--help`` shows. This is the one place that
configures logging and reads environment variables (``TASKITO_APP``, ``TASKITO_LOG_LEVEL``);
the library itself does neither.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

import taskito
from taskito.cli import (
    dashboard,
    dead,
    info,
    job,
    jobs,
    metrics,
    options,
    overrides,
    periodic,
    queues,
    reload,
    resources,
    retention,
    scaler,
    worker,
    workers,
    workflows,
)
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
    queues.register_pause,
    queues.register_resume,
    jobs.register,
    job.register,
    dead.register,
    workers.register,
    periodic.register,
    overrides.register,
    metrics.register,
    scaler.register,
    dashboard.register,
    resources.register,
    reload.register,
    retention.register,
    workflows.register,
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    try:
        return _run(argv)
    except KeyboardInterrupt:  # Ctrl-C while loading the app or before a command handles it
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `taskito jobs | head -1`: the reader has gone, stop quietly
        _silence_stdout()
        return EXIT_FAILURE


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors end here
        return _exit_status(exc)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_FAILURE
    # A subcommand registered without ``options.add_command`` is named by its parser's name.
    command: str = getattr(args, "command_name", None) or args.command
    if args.log_level not in options.LOG_LEVELS:  # only a bad TASKITO_LOG_LEVEL gets here
        choices = ", ".join(options.LOG_LEVELS)
        return report_usage_error(
            f"TASKITO_LOG_LEVEL={args.log_level!r}: expected one of {choices}"
        )
    standalone: Callable[[argparse.Namespace], int] | None = getattr(args, "standalone", None)
    if standalone is not None:  # a command that needs no Queue (taskito reload)
        return standalone(args)
    app_spec: str | None = getattr(args, "app", None)
    if app_spec is None:
        return report_usage_error(
            "--app is required: pass --app MODULE:ATTR (e.g. --app myproject.tasks:queue) "
            "or set TASKITO_APP",
            command,
        )
    logging.basicConfig(level=args.log_level, format=LOG_FORMAT, stream=sys.stderr)
    try:
        queue = load_queue(app_spec)
    except taskito.AppLoadError as exc:
        return report_load_error(exc)
    handler: options.Handler = args.handler
    try:
        status = handler(queue, args, app_spec)
        sys.stdout.flush()  # a closed pipe is found here, not while the interpreter exits
        return status
    except COMMAND_ERRORS as exc:
        return report_command_error(command, exc)
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


def _silence_stdout() -> None:
    # Python flushes stdout at exit and would report the broken pipe again.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
