"""The ``taskito`` command line (the console script and ``python -m taskito``).

``main`` parses and dispatches (``main.py``); each subcommand is a module of its own
(``worker.py``, ``info.py``). This is the one place that configures logging and reads
environment variables (``TASKITO_APP``, ``TASKITO_LOG_LEVEL``); the library itself does neither.
"""

from __future__ import annotations

from taskito.cli.main import main

__all__ = ["main"]
