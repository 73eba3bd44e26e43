"""The consuming side: ``Worker`` claims jobs, runs them in a pool and records their outcomes;
``WorkerSettings`` says how.

Both load on first use: the façade imports the table of pool names (``worker.pools``) when
``taskito`` is imported, and a process that only enqueues should not load the worker loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from taskito.worker.settings import WorkerSettings
    from taskito.worker.worker import Worker


def __getattr__(name: str) -> object:
    if name == "Worker":
        from taskito.worker.worker import Worker

        return Worker
    if name == "WorkerSettings":
        from taskito.worker.settings import WorkerSettings

        return WorkerSettings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Worker", "WorkerSettings"]
