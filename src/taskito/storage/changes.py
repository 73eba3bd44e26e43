"""The in-process half of ``wait_for_change``, shared by every backend: a generation counter
that each change bumps, waking every waiting thread at once."""

from __future__ import annotations

import threading


class ChangeNotifier:
    """A generation counter under a Condition: each change bumps it and wakes every waiter."""

    def __init__(self) -> None:
        self._condition = threading.Condition(threading.Lock())
        self.generation = 0

    def notify(self) -> None:
        with self._condition:
            self.generation += 1
            self._condition.notify_all()

    def wait(self, seen: int, timeout_s: float) -> None:
        """Return when the generation is no longer ``seen``, or after ``timeout_s``."""
        with self._condition:
            if self.generation == seen:
                self._condition.wait(timeout_s)
