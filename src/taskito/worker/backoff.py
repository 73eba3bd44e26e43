"""Back-off for a helper that keeps talking to storage while storage fails: the wait doubles
from ``first_s`` (0.1 s) up to ``max_s`` (5 s) and resets on the first success; each failure
is logged as one WARNING line (the error on one line, the traceback at DEBUG) and the return
as one INFO line, "storage reachable again". During an outage that is one line per back-off
step, not ten tracebacks a second.

Not thread-safe: each loop or helper thread keeps a ``Backoff`` of its own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from taskito.storable import error_line

FIRST_S = 0.1
MAX_S = 5.0


class Backoff:
    """When ``what`` (e.g. "claiming jobs") may be tried again, and the log lines about it."""

    def __init__(
        self,
        what: str,
        logger: logging.Logger,
        *,
        first_s: float = FIRST_S,
        max_s: float = MAX_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < first_s <= max_s:
            raise ValueError(f"need 0 < first_s <= max_s, got {first_s!r} and {max_s!r}")
        self._what = what
        self._logger = logger
        self._first_s = first_s
        self._max_s = max_s
        self._clock = clock
        self._delay_s = 0.0
        self._failures = 0
        self._retry_at = 0.0

    @property
    def failing(self) -> bool:
        """True from a failure until the next success."""
        return self._failures > 0

    @property
    def delay_s(self) -> float:
        """The wait after the latest failure (0 while not failing)."""
        return self._delay_s

    @property
    def retry_at(self) -> float:
        """The clock time before which the next try should not start (0: any time)."""
        return self._retry_at

    def ready(self) -> bool:
        """True when no wait is pending."""
        return self._clock() >= self._retry_at

    def seconds_left(self) -> float:
        return max(0.0, self._retry_at - self._clock())

    def failed(self, error: BaseException, what: str | None = None) -> float:
        """Record a failure of ``what`` (default: the constructor's): log it on one line,
        double the wait, and return the wait."""
        what = what or self._what
        self._failures += 1
        self._delay_s = (
            self._first_s if self._delay_s == 0.0 else min(self._max_s, self._delay_s * 2)
        )
        self._retry_at = self._clock() + self._delay_s
        self._logger.warning(
            "%s failed (%d in a row); next try in %.1f s: %s",
            what,
            self._failures,
            self._delay_s,
            error_line(error),
            extra={"failures": self._failures, "retry_in_s": self._delay_s},
        )
        self._logger.debug("%s failed", what, exc_info=error)
        return self._delay_s

    def failed_quietly(self) -> None:
        """Count a failure between two back-off steps without logging it: for a caller that
        keeps its own schedule and uses the back-off only to pace its log lines."""
        self._failures += 1

    def succeeded(self) -> None:
        """Record a success: reset the wait; after failures, say storage is back (once)."""
        if self._failures == 0:
            return
        self._logger.info(
            "storage reachable again: %s works after %d failure(s)",
            self._what,
            self._failures,
            extra={"failures": self._failures},
        )
        self._failures = 0
        self._delay_s = 0.0
        self._retry_at = 0.0


__all__ = ["FIRST_S", "MAX_S", "Backoff"]
