"""Retention at work: what a sweep would delete (the dry run), the sweep the worker runs on
its cleanup timer, the report it publishes, and the one notice that retention is off
(``taskito.retention`` holds the windows).
"""

from __future__ import annotations

import logging
import threading

from taskito.retention import RECOMMENDED_S, Retention, RetentionPreview
from taskito.storage.base import Storage
from taskito.storage.operations import HistoryKind

logger = logging.getLogger("taskito.retention")

#: Rows deleted per storage call: a few ms of work, so a backlog never holds the database.
PURGE_CHUNK = 5_000

_notice_lock = threading.Lock()
_notice_given = False


def preview(
    storage: Storage, retention: Retention, namespace: str | None, now: int
) -> RetentionPreview:
    """Count, deleting nothing, what ``sweep`` would delete at ``now``."""
    windows = retention.windows_ms()
    counts = {
        kind: storage.count_history(HistoryKind(kind), now - window)
        for kind, window in windows.items()
    }
    return RetentionPreview(retention.enabled, namespace, now, windows, counts)


def sweep(
    storage: Storage, retention: Retention, now: int, stop: threading.Event | None = None
) -> dict[str, int]:
    """Delete every row older than its window, chunk by chunk; return how many per kind.
    Setting ``stop`` ends it between chunks."""
    deleted: dict[str, int] = {}
    for kind, window in retention.windows_ms().items():
        total = 0
        while True:
            chunk = storage.purge_history(HistoryKind(kind), now - window, PURGE_CHUNK)
            total += chunk
            if chunk < PURGE_CHUNK or (stop is not None and stop.is_set()):
                break
        deleted[kind] = total
        if total:
            logger.info("retention deleted %d %s row(s) older than %d ms", total, kind, window)
    return deleted


def announce_off_once() -> None:
    """The one notice that retention is off, naming the recommended windows and the opt-in."""
    global _notice_given
    with _notice_lock:
        if _notice_given:
            return
        _notice_given = True
    windows = ", ".join(f"{kind} {seconds // 86_400} d" for kind, seconds in RECOMMENDED_S.items())
    logger.info(
        "retention is off: history is kept forever (as in taskito 0.12). Recommended windows:"
        " %s; turn them on with Queue(retention=Retention.recommended()), and see what they"
        " would delete first with queue.dry_run_retention(Retention.recommended())",
        windows,
    )


__all__ = ["announce_off_once", "preview", "sweep"]
