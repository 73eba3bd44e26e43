"""The ``max_pending`` caps one Queue read from the shared settings (``admission.py``), each
trusted for ``CAP_REFRESH_S``: a cap set by another producer applies within that time."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from taskito.storage.base import Storage

KEY_PREFIX = "max_pending:"
#: How long a producer trusts the cap it read; a cap set elsewhere applies after at most this.
CAP_REFRESH_S = 1.0


class CapCache:
    """The caps one Queue read from storage, each trusted for ``CAP_REFRESH_S``."""

    def __init__(self) -> None:
        self._read: dict[str, tuple[float, int | None]] = {}
        self._lock = threading.Lock()

    def cap_for(self, storage: Storage, queue: str) -> int | None:
        entry = self._read.get(queue)
        now = time.monotonic()
        if entry is not None and now - entry[0] < CAP_REFRESH_S:
            return entry[1]
        cap = parse_cap(storage.get_setting(KEY_PREFIX + queue))
        with self._lock:
            self._read[queue] = (now, cap)
        return cap

    def remember(self, queue: str, cap: int | None) -> None:
        with self._lock:
            self._read[queue] = (time.monotonic(), cap)


def parse_cap(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None  # not ours to refuse every enqueue over; set_queue_max_pending writes ints


__all__ = ["CAP_REFRESH_S", "KEY_PREFIX", "CapCache", "parse_cap"]
