"""The worker loop's alarm clock: when jobs it wrote back to pending (retries, jobs held back
by limits) become due, so the loop claims them then instead of at its next idle poll."""

from __future__ import annotations

import heapq
import time

from taskito.job import now_ms

#: Past this many pending alarms new ones are dropped: the idle poll still finds those jobs.
MAX_ALARMS = 1024


class Alarms:
    """Due times on the monotonic clock; used by the worker loop's thread only."""

    def __init__(self) -> None:
        self._due: list[float] = []

    def add(self, at_ms: int) -> None:
        """Ring at ``at_ms`` (ms since the epoch), one ms late so that the claim's
        ``now_ms()`` (floored) has reached it."""
        if len(self._due) >= MAX_ALARMS:
            return
        due = time.monotonic() + (max(0, at_ms - now_ms()) + 1) / 1000.0
        heapq.heappush(self._due, due)

    def add_all(self, times_ms: list[int]) -> None:
        for at_ms in sorted(set(times_ms)):
            self.add(at_ms)

    def seconds_left(self, now_mono: float) -> float | None:
        """Seconds until the next alarm (dropping those that rang), or None when none is set."""
        while self._due and self._due[0] <= now_mono:
            heapq.heappop(self._due)
        return self._due[0] - now_mono if self._due else None


__all__ = ["Alarms"]
