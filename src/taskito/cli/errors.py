"""Exit statuses of ``taskito`` and the one-line errors that end a command.

Every error is one line on stderr, ``taskito COMMAND: error: ...``, and one of these statuses
(docs/operations.md lists them for a reader):

====  =====================================================================================
0     done (a worker or ``info --watch`` stopped by a signal included)
1     a failure: storage failed, the app's module crashed while it was imported (its
      traceback comes first), ``dead retry --all`` could not retry every letter; no command
2     a usage or configuration error: an unknown command or option, a bad value, a missing
      or bad ``--app``, an option the worker refuses
3     not found: no job (or dead letter, or workflow run or node) has this id
4     ``job cancel``: the job had already finished; ``workflows cancel``: the run had;
      ``workflows approve|reject``: the gate was already decided; nothing changed
5     ``job cancel``: the job is running; a cancel request was sent (it stops when its task
      next checks, or at once with ``--force`` on prefork and async pools)
6     ``job watch``: the job ended failed or dead
7     ``job watch``: the job ended cancelled
130   interrupted (Ctrl-C before ``job watch`` saw the job end, or a second Ctrl-C)
====  =====================================================================================

``--log-level DEBUG`` adds where an error came from; only a crash of the user's module while it
is imported shows a traceback without it.
"""

from __future__ import annotations

import logging
import sys

import taskito

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_ALREADY_FINISHED = 4
EXIT_CANCEL_REQUESTED = 5
EXIT_JOB_FAILED = 6
EXIT_JOB_CANCELLED = 7
EXIT_INTERRUPTED = 130

logger = logging.getLogger("taskito.cli")

#: Raised by the user's module while it is imported, these mean its configuration is wrong (a
#: missing dependency, an invalid Queue option or database URL): one line, exit status 2.
_APP_CONFIGURATION_ERRORS = (ImportError, ValueError, TypeError)


class CommandError(Exception):
    """A command ends with this one-line message and exit status (not found, and the like)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


#: Raised by a command: its own ``CommandError``, a refused option or an unavailable feature
#: (exit 2), or a storage failure (exit 1).
COMMAND_ERRORS = (CommandError, ValueError, NotImplementedError, taskito.TaskitoError)


def not_found(what: str) -> CommandError:
    """``no job with id 'x'``: exit status 3."""
    return CommandError(f"no {what}", EXIT_NOT_FOUND)


def report_load_error(exc: taskito.AppLoadError) -> int:
    """Say why ``--app`` failed on stderr; return the exit status (2 for a configuration
    error, 1 when the module crashed or the storage failed while it was imported)."""
    raised = exc.__cause__ if exc.traceback is not None else None
    crashed = raised is not None and not isinstance(
        raised, (*_APP_CONFIGURATION_ERRORS, taskito.TaskitoError)
    )
    if crashed and exc.traceback:
        print(exc.traceback, file=sys.stderr, end="")
    elif exc.__cause__ is not None:
        logger.debug("loading --app failed", exc_info=exc.__cause__)
    print(f"taskito: error: --app {exc.spec!r}: {exc.reason}", file=sys.stderr)
    if raised is None or isinstance(raised, _APP_CONFIGURATION_ERRORS):
        return EXIT_USAGE
    return EXIT_FAILURE


def report_command_error(command: str, exc: Exception) -> int:
    """One line for an error a command raised (DEBUG shows where); return the exit status."""
    logger.debug("%s failed", command, exc_info=exc)
    print(f"taskito {command}: error: {one_line(str(exc))}", file=sys.stderr)
    if isinstance(exc, CommandError):
        return exc.status
    if isinstance(exc, ValueError | NotImplementedError):
        return EXIT_USAGE
    return EXIT_FAILURE


def report_usage_error(message: str, command: str | None = None) -> int:
    """A usage error found after parsing (argparse reports its own): one line, status 2."""
    prog = "taskito" if command is None else f"taskito {command}"
    print(f"{prog}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def one_line(text: str) -> str:
    """A message that may span lines (a stored traceback) as one line: its last line, which
    names the exception."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""
