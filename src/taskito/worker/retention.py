"""Retention windows per kind of history, what a sweep would delete (the dry run), and the
sweep the worker runs on its cleanup timer.

Off by default: taskito 0.12 kept every history row unless ``result_ttl`` was set, and a
default window would delete what its users kept. A Queue without ``retention=`` logs one
notice (once per process) naming the recommended windows and how to turn them on.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, fields

from taskito.storage.base import Storage
from taskito.storage.operations import HistoryKind

logger = logging.getLogger("taskito.retention")

#: Rows deleted per storage call: a few ms of work, so a backlog never holds the database.
PURGE_CHUNK = 5_000
#: The windows the notice recommends (seconds): the reference's defaults.
RECOMMENDED_S = {
    "completed_jobs": 7 * 86_400,
    "dead_letters": 30 * 86_400,
    "job_errors": 7 * 86_400,
    "task_logs": 3 * 86_400,
    "task_metrics": 7 * 86_400,
}

_notice_lock = threading.Lock()
_notice_given = False


@dataclass(frozen=True, slots=True)
class Retention:
    """How long each kind of history is kept, in seconds; None keeps it forever, 0 deletes it
    at the next sweep. ``Retention()`` keeps everything."""

    completed_jobs: float | None = None
    dead_letters: float | None = None
    job_errors: float | None = None
    task_logs: float | None = None
    task_metrics: float | None = None

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(
                    f"retention window {field.name} must be seconds (a number) or None,"
                    f" not {type(value).__name__}"
                )
            if value != value or value < 0 or value == float("inf"):
                raise ValueError(
                    f"retention window {field.name} must be 0 or more seconds, got {value!r}"
                )

    @classmethod
    def recommended(cls) -> Retention:
        """The windows the reference uses by default: jobs, errors and metrics 7 days, logs 3
        days, dead letters 30 days."""
        return cls(**RECOMMENDED_S)

    def windows_ms(self) -> dict[str, int]:
        """The set windows in ms, by kind (kinds kept forever are left out)."""
        return {
            field.name: int(getattr(self, field.name) * 1000)
            for field in fields(self)
            if getattr(self, field.name) is not None
        }

    @property
    def enabled(self) -> bool:
        return bool(self.windows_ms())


@dataclass(frozen=True, slots=True)
class RetentionPreview:
    """What a sweep at ``reference_time`` would delete under ``windows`` (ms), per kind."""

    enabled: bool
    namespace: str | None
    reference_time: int
    windows: dict[str, int]
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


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


def dlq_auto_retry_options(delay_s: object, max_retries: object) -> tuple[int | None, int]:
    """``Queue(dlq_auto_retry_delay=, dlq_auto_retry_max=)`` checked: the delay in ms (None:
    the automatic dead-letter retry is off) and the most automatic retries per job."""
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ValueError(f"dlq_auto_retry_max must be an int of 0 or more, got {max_retries!r}")
    if delay_s is None:
        return None, max_retries
    if isinstance(delay_s, bool) or not isinstance(delay_s, (int, float)):
        raise TypeError(f"dlq_auto_retry_delay must be seconds or None, not {delay_s!r}")
    if delay_s != delay_s or delay_s < 0 or delay_s == float("inf"):
        raise ValueError(f"dlq_auto_retry_delay must be 0 or more seconds, got {delay_s!r}")
    return int(delay_s * 1000), max_retries


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


__all__ = [
    "Retention",
    "RetentionPreview",
    "announce_off_once",
    "dlq_auto_retry_options",
    "preview",
    "sweep",
]
