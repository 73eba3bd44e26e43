"""What every subcommand shares: the parser class, the ``--app`` and ``--log-level`` options,
the argument types that turn a bad value into a one-line usage error, the shape of a subcommand.

A subcommand is a module with ``register(commands)``: it adds its parser and sets ``handler``
to a ``Handler``, which gets the loaded Queue, the parsed arguments and the ``--app`` spec, and
returns the exit status.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from typing import NoReturn, TypeAlias

import taskito
from taskito.cli.errors import EXIT_USAGE

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
#: The longest duration an option takes (about 31 years; a thread cannot wait much longer).
MAX_SECONDS = 1e9


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the usage itself is one ``--help`` away).
    Subcommand parsers are of this class too."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


Handler: TypeAlias = Callable[[taskito.Queue, argparse.Namespace, str], int]
Commands: TypeAlias = "argparse._SubParsersAction[Parser]"


def add_app_argument(parser: argparse.ArgumentParser) -> None:
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
    add_log_level_argument(parser, default=argparse.SUPPRESS)


def add_log_level_argument(parser: argparse.ArgumentParser, *, default: str) -> None:
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=LOG_LEVELS,
        default=default,
        help="DEBUG, INFO, WARNING or ERROR (default: $TASKITO_LOG_LEVEL or INFO)",
    )


def env_log_level() -> str:
    return os.environ.get("TASKITO_LOG_LEVEL", "INFO").strip().upper()


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {number}")
    return number


def non_negative_seconds(value: str) -> float:
    seconds = _seconds(value)
    if seconds < 0:
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, got {value!r}")
    return seconds


def positive_seconds(value: str) -> float:
    seconds = _seconds(value)
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"expected seconds > 0, got {value!r}")
    return seconds


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
