"""Exit statuses of ``taskito`` and the one-line errors that end a command.

A configuration error (a bad option, a bad ``--app``, an option the worker refuses) is one line
on stderr and status 2; a storage failure is one line and status 1; only a crash of the user's
module while it is imported shows a traceback. ``--log-level DEBUG`` adds where it came from.
"""

from __future__ import annotations

import logging
import sys

import taskito

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

logger = logging.getLogger("taskito.cli")

#: Raised by the user's module while it is imported, these mean its configuration is wrong (a
#: missing dependency, an invalid Queue option or database URL): one line, exit status 2.
_APP_CONFIGURATION_ERRORS = (ImportError, ValueError, TypeError)

#: Raised by a command: a refused option or an unavailable feature (exit 2), or a storage
#: failure (exit 1).
COMMAND_ERRORS = (ValueError, NotImplementedError, taskito.TaskitoError)


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
    print(f"taskito {command}: error: {exc}", file=sys.stderr)
    return EXIT_USAGE if isinstance(exc, ValueError | NotImplementedError) else EXIT_FAILURE


def report_usage_error(message: str) -> int:
    """A usage error found after parsing (argparse reports its own): one line, status 2."""
    print(f"taskito: error: {message}", file=sys.stderr)
    return EXIT_USAGE
