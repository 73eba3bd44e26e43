"""What every subcommand shares: the parser class, the ``--app`` and ``--log-level`` options,
the argument types that turn a bad value into a one-line usage error, the shape of a subcommand.

A subcommand is a module with ``register(commands)``: it adds its parser (``add_command``) and
sets ``handler`` to a ``Handler``, which gets the loaded Queue, the parsed arguments and the
``--app`` spec, and returns the exit status. A group of commands (``job show``, ``job cancel``)
adds its actions with ``add_actions``.
"""

from __future__ import annotations

import argparse
import difflib
import math
import os
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeAlias

import taskito
from taskito.cli.errors import EXIT_USAGE

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
#: The longest duration an option takes (about 31 years; a thread cannot wait much longer).
MAX_SECONDS = 1e9


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the usage itself is one ``--help`` away), an
    unknown command, choice or option says what was expected and suggests the closest one
    ("did you mean ...?"), and each (sub)parser refuses the arguments it does not know itself,
    so the error names the command it belongs to. Subcommand parsers are of this class too."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(self._unrecognized(extras))
        return parsed, extras

    def _unrecognized(self, extras: list[str]) -> str:
        message = f"unrecognized arguments: {' '.join(extras)}"
        unknown = next((arg.split("=", 1)[0] for arg in extras if arg.startswith("-")), None)
        if unknown is None:
            return message
        known = sorted(option for option in self._option_string_actions if option != "-h")
        return f"{message}; {expected(unknown, known)}"

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        choices = action.choices
        if choices is not None and value not in choices:
            known = [str(choice) for choice in choices]
            message = f"invalid choice {value!r}; {expected(str(value), known)}"
            raise argparse.ArgumentError(action, message)


def expected(given: str, known: Sequence[str]) -> str:
    """``expected one of a, b, c; did you mean 'b'?`` (the question when one is close)."""
    text = f"expected one of {', '.join(known)}"
    close = difflib.get_close_matches(given, known, n=1, cutoff=0.6)
    return f"{text}; did you mean {close[0]!r}?" if close else text


Handler: TypeAlias = Callable[[taskito.Queue, argparse.Namespace, str], int]
Commands: TypeAlias = "argparse._SubParsersAction[Parser]"


def add_command(
    commands: Commands, name: str, *, help: str, handler: Handler, command_name: str | None = None
) -> Parser:
    """A subcommand's parser with ``--app`` and ``--log-level``, dispatching to ``handler``;
    ``command_name`` (default: ``name``) is how its errors name it (``job cancel``)."""
    parser = commands.add_parser(name, help=help, description=help)
    add_app_argument(parser)
    parser.set_defaults(handler=handler, command_name=command_name or name)
    return parser


def add_actions(parser: Parser) -> Commands:
    """The actions of a group of commands (``taskito job ACTION``); one is required."""
    return parser.add_subparsers(dest="action", required=True)


def finish_actions(actions: Commands) -> None:
    """Show the actions as ``{show,cancel,watch}`` in usage and in the error without one."""
    actions.metavar = "{" + ",".join(actions.choices) + "}"


def add_app_argument(parser: argparse.ArgumentParser) -> None:
    """``--app`` for a command (default: TASKITO_APP). ``main`` says so when neither is set,
    so that the error can name the variable too."""
    parser.add_argument(
        "--app",
        default=os.environ.get("TASKITO_APP") or None,
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
    return _whole_number(value, minimum=1)


def non_negative_int(value: str) -> int:
    return _whole_number(value, minimum=0)


def _whole_number(value: str, *, minimum: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < minimum:
        raise argparse.ArgumentTypeError(f"expected a number >= {minimum}, got {number}")
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
