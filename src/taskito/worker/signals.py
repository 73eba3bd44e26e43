"""SIGINT/SIGTERM handling for a worker that owns the main thread: the first signal drains,
the second stops at once. Handlers are installed only from the main thread and restored after."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

logger = logging.getLogger("taskito.worker.signals")

SHUTDOWN_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def install_shutdown_handlers(on_signal: Callable[[int], None]) -> Callable[[], None] | None:
    """Route SIGINT and SIGTERM to ``on_signal(signum)``; return a function that restores the
    previous handlers, or None when this is not the main thread (signals cannot be handled)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous: dict[int, Any] = {}

    def handle(signum: int, frame: FrameType | None) -> None:
        # A signal handler may interrupt the main thread while it holds an Event's lock, so
        # the callback runs on a short-lived thread instead of here.
        threading.Thread(
            target=on_signal, args=(signum,), name="taskito-signal", daemon=True
        ).start()

    for signum in SHUTDOWN_SIGNALS:
        previous[signum] = signal.signal(signum, handle)

    def restore() -> None:
        for signum, handler in previous.items():
            try:
                signal.signal(signum, handler)
            except (TypeError, ValueError):
                logger.warning("could not restore the handler of signal %d", signum)

    return restore


__all__ = ["SHUTDOWN_SIGNALS", "install_shutdown_handlers"]
