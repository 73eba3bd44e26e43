"""SIGINT/SIGTERM for ``info --watch`` and ``scaler``: the first signal stops the command, a
second one abandons it."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

logger = logging.getLogger("taskito.cli")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def stop_on_signals(request_stop: Callable[[], None]) -> Iterator[None]:
    """While the block runs, the first SIGINT/SIGTERM calls ``request_stop``; a second one
    raises ``KeyboardInterrupt``. Signals reach only the main thread: elsewhere this does
    nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        if len(received) > 1:
            raise KeyboardInterrupt
        # The handler runs on the main thread, which may be inside Event.wait() holding the
        # Event's lock; setting the Event from here could deadlock, so a thread does it.
        threading.Thread(target=request_stop, name="taskito-cli-stop", daemon=True).start()

    previous = {signum: signal.signal(signum, on_signal) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
