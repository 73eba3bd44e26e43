"""``--app module:attribute``: the user's ``taskito.Queue``, and how a failure to load it ends.

``taskito.loading`` imports it and words every failure as an ``AppLoadError``; this module
checks that it is a Queue and decides what the person at the terminal sees. A configuration
error (a bad ``--app``, a missing module or dependency, an invalid Queue option) is one line
and exit status 2; only a crash of the user's module while importing shows its traceback.
"""

from __future__ import annotations

import logging
import sys

import taskito
from taskito import loading

logger = logging.getLogger("taskito.cli")

#: Raised by the user's module while it is imported, these mean its configuration is wrong (a
#: missing dependency, an invalid Queue option or database URL): one line, exit status 2.
_CONFIGURATION_ERRORS = (ImportError, ValueError, TypeError)


def load_queue(spec: str) -> taskito.Queue:
    """Import the module named by ``spec`` (from the current directory too) and return its
    Queue; raise ``taskito.AppLoadError`` when that fails."""
    target = loading.load_attr(spec)
    if not isinstance(target, taskito.Queue):
        raise loading.wrong_type(spec, target, "a taskito.Queue")
    return target


def report_load_error(exc: taskito.AppLoadError, *, usage: int, failure: int) -> int:
    """Say why ``--app`` failed on stderr; return the exit status (``usage`` for a
    configuration error, ``failure`` when the module crashed or the storage failed)."""
    raised = exc.__cause__ if exc.traceback is not None else None
    crashed = raised is not None and not isinstance(
        raised, (*_CONFIGURATION_ERRORS, taskito.TaskitoError)
    )
    if crashed and exc.traceback:
        print(exc.traceback, file=sys.stderr, end="")
    elif exc.__cause__ is not None:
        logger.debug("loading --app failed", exc_info=exc.__cause__)
    print(f"taskito: error: --app {exc.spec!r}: {exc.reason}", file=sys.stderr)
    if raised is None or isinstance(raised, _CONFIGURATION_ERRORS):
        return usage
    return failure
