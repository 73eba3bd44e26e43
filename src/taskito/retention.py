"""Retention windows per kind of history (``Queue(retention=Retention(...))``), the report of
what a sweep would delete, and the options of the automatic dead-letter retry.

Off by default: taskito 0.12 kept every history row unless ``result_ttl`` was set, and a
default window would delete what its users kept (the worker logs one notice naming the
recommended windows). The sweep itself is the worker's (``worker/retention.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

#: The windows ``Retention.recommended()`` sets (seconds): the reference's defaults.
RECOMMENDED_S = {
    "completed_jobs": 7 * 86_400,
    "dead_letters": 30 * 86_400,
    "job_errors": 7 * 86_400,
    "task_logs": 3 * 86_400,
    "task_metrics": 7 * 86_400,
}


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


__all__ = ["RECOMMENDED_S", "Retention", "RetentionPreview", "dlq_auto_retry_options"]
