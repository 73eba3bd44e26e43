"""The ``taskito`` command line (the console script and ``python -m taskito``).

``main`` parses and dispatches (``main.py``); each subcommand is a module of its own
(``worker.py``, ``info.py``, ``jobs.py``, ...). This is the one place that configures logging
and reads environment variables (``TASKITO_APP``, ``TASKITO_LOG_LEVEL``); the library itself
does neither. ``_load_queue`` and ``_print_stats`` are the reference package's helpers.
"""

from __future__ import annotations

import sys

import taskito
from taskito.cli.app import load_queue
from taskito.cli.errors import report_load_error
from taskito.cli.info import format_stats
from taskito.cli.main import main


def _load_queue(app_path: str) -> taskito.Queue:
    """The Queue ``app_path`` (``module:attribute``) names, the current directory on
    ``sys.path``; ``SystemExit`` (after one line on stderr) when the spec has no colon, the
    module cannot be imported, the attribute is missing or is not a Queue."""
    try:
        return load_queue(app_path)
    except taskito.AppLoadError as exc:
        raise SystemExit(report_load_error(exc)) from None


def _print_stats(queue: taskito.Queue) -> None:
    """Print the statistics table of ``taskito info`` to stdout."""
    print(format_stats(queue.stats()), file=sys.stdout, flush=True)


__all__ = ["main"]
