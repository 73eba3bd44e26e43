"""Runtime overrides: per task and per queue limits, a task pause and middleware switched off
for a task, stored as JSON in settings and applied by running workers without a restart.

The records and their checks live here (the Queue writes them, the worker reads them), with
``OverrideSnapshot``: the worker's cached copy, re-read from settings at most once per
``refresh_s`` from its claim loop, so a claim costs no storage read. A change reaches every
worker within ``refresh_s`` (default 1 s). Keys: ``overrides:task:<name>``,
``overrides:queue:<name>``, ``middleware:disabled:<task>`` (docs/operations.md).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from taskito.registry import QueueLimits, parse_rate_limit

if TYPE_CHECKING:
    from taskito.middleware import TaskMiddleware
    from taskito.registry import ClaimedJob
    from taskito.storage.base import Storage

logger = logging.getLogger("taskito.worker.overrides")

TASK_PREFIX = "overrides:task:"
QUEUE_PREFIX = "overrides:queue:"
MIDDLEWARE_PREFIX = "middleware:disabled:"
#: How often a worker re-reads the overrides (seconds): the longest a change takes to apply.
REFRESH_S = 1.0
#: A claimed job of a paused task goes back to pending for this long, then is looked at again.
PAUSED_RECHECK_MS = 1_000
#: The longest timeout an override takes (seconds): as long as any duration option.
MAX_TIMEOUT_S = 1e9


@dataclass(frozen=True, slots=True)
class TaskOverride:
    """What overrides a task's own options while set (None: the task's own value).
    ``timeout`` is in seconds; ``paused`` keeps its pending jobs from being claimed."""

    rate_limit: str | None = None
    max_concurrent: int | None = None
    timeout: float | None = None
    paused: bool = False


@dataclass(frozen=True, slots=True)
class QueueOverride:
    """What overrides a queue's limits while set (None: the Queue's own setting)."""

    rate_limit: str | None = None
    max_concurrent: int | None = None


TASK_FIELDS = tuple(field.name for field in dataclasses.fields(TaskOverride))
QUEUE_FIELDS = tuple(field.name for field in dataclasses.fields(QueueOverride))


def check_field(name: str, value: object) -> object:
    """``value`` for override field ``name`` (None clears it); a wrong type or range raises
    ``ValueError`` naming the field."""
    if value is None:
        return None
    if name == "rate_limit":
        if not isinstance(value, str):
            raise ValueError(f"rate_limit must be a string like '10/s', got {value!r}")
        parse_rate_limit(value)
        return value
    if name == "max_concurrent":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"max_concurrent must be a whole number >= 1, got {value!r}")
        return value
    if name == "timeout":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"timeout must be a number of seconds, got {value!r}")
        if not math.isfinite(value) or not 0 < value <= MAX_TIMEOUT_S:
            raise ValueError(
                f"timeout must be > 0 and <= {MAX_TIMEOUT_S:.0e} seconds, got {value!r}"
            )
        return float(value)
    if name == "paused":
        if not isinstance(value, bool):
            raise ValueError(f"paused must be True or False, got {value!r}")
        return value
    raise ValueError(f"unknown override field {name!r}")


def checked_fields(fields: Mapping[str, object], known: tuple[str, ...]) -> dict[str, object]:
    unknown = sorted(set(fields) - set(known))
    if unknown:
        raise ValueError(
            f"unknown override field(s) {', '.join(unknown)}: expected {', '.join(known)}"
        )
    return {name: check_field(name, value) for name, value in fields.items()}


def task_override_from_json(text: str) -> TaskOverride:
    return TaskOverride(**_known(json.loads(text), TASK_FIELDS))


def queue_override_from_json(text: str) -> QueueOverride:
    return QueueOverride(**_known(json.loads(text), QUEUE_FIELDS))


def _known(data: object, known: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValueError("an override must be a JSON object")
    return {name: check_field(name, value) for name, value in data.items() if name in known}


def override_json(override: TaskOverride | QueueOverride) -> str:
    return json.dumps(dataclasses.asdict(override), sort_keys=True)


def middleware_name(middleware: TaskMiddleware) -> str:
    """A middleware's name: its ``name`` attribute when it has a non-empty one, else its
    class path (``module.Class``)."""
    name = getattr(middleware, "name", None)
    if isinstance(name, str) and name:
        return name
    kind = type(middleware)
    return f"{kind.__module__}.{kind.__qualname__}"


@dataclass(frozen=True, slots=True)
class Overrides:
    """Every stored override, parsed (a record that does not parse is skipped and logged)."""

    tasks: Mapping[str, TaskOverride] = dataclasses.field(default_factory=dict)
    queues: Mapping[str, QueueOverride] = dataclasses.field(default_factory=dict)
    disabled_middleware: Mapping[str, frozenset[str]] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Mapping[str, str]) -> Overrides:
        tasks: dict[str, TaskOverride] = {}
        queues: dict[str, QueueOverride] = {}
        disabled: dict[str, frozenset[str]] = {}
        for key, value in settings.items():
            try:
                if key.startswith(TASK_PREFIX):
                    tasks[key[len(TASK_PREFIX) :]] = task_override_from_json(value)
                elif key.startswith(QUEUE_PREFIX):
                    queues[key[len(QUEUE_PREFIX) :]] = queue_override_from_json(value)
                elif key.startswith(MIDDLEWARE_PREFIX):
                    disabled[key[len(MIDDLEWARE_PREFIX) :]] = frozenset(json.loads(value))
            except (ValueError, TypeError) as exc:
                logger.warning("ignoring the stored override %r: %s", key, exc)
        return cls(tasks, queues, disabled)


class OverrideSnapshot:
    """The worker's cached overrides. ``refresh`` re-reads settings once ``refresh_s`` has
    passed (a failed read keeps the last copy); ``resolve`` applies them to a claimed job;
    ``paused`` and ``queue_limits`` answer the flow gate. One thread (the worker loop)."""

    def __init__(
        self,
        storage: Storage,
        *,
        refresh_s: float = REFRESH_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._storage = storage
        self._refresh_s = refresh_s
        self._clock = clock
        self._next_read = float("-inf")
        self.current = Overrides()

    def refresh(self) -> None:
        now = self._clock()
        if now < self._next_read:
            return
        self._next_read = now + self._refresh_s
        try:
            self.current = Overrides.from_settings(self._storage.list_settings())
        except Exception as exc:
            logger.warning("reading the runtime overrides failed; keeping the last ones: %s", exc)

    def resolve(self, claimed: ClaimedJob) -> ClaimedJob:
        """``claimed`` with its task's overridden options and middleware left out."""
        spec, job = claimed.spec, claimed.job
        override = self.current.tasks.get(job.task_name)
        disabled = self.current.disabled_middleware.get(job.task_name)
        if spec is None or (override is None and not disabled):
            return claimed
        middleware = claimed.middleware
        if disabled:
            middleware = tuple(m for m in middleware if middleware_name(m) not in disabled)
        if override is not None:
            changes: dict[str, Any] = {}
            if override.rate_limit is not None:
                changes["rate_limit"] = parse_rate_limit(override.rate_limit)
            if override.max_concurrent is not None:
                changes["max_concurrent"] = override.max_concurrent
            if changes:
                spec = dataclasses.replace(spec, **changes)
            if override.timeout is not None:
                job = dataclasses.replace(job, timeout_ms=round(override.timeout * 1000))
        return dataclasses.replace(
            claimed,
            job=job,
            spec=spec,
            middleware=middleware,
            disabled_middleware=disabled or frozenset(),
        )

    def paused(self, task_name: str) -> bool:
        override = self.current.tasks.get(task_name)
        return override is not None and override.paused

    def queue_limits(self, queue: str, own: QueueLimits | None) -> QueueLimits | None:
        """The queue's limits: its override's fields over the Queue's own."""
        override = self.current.queues.get(queue)
        if override is None:
            return own
        base = own or QueueLimits()
        return QueueLimits(
            rate_limit=base.rate_limit
            if override.rate_limit is None
            else parse_rate_limit(override.rate_limit),
            max_concurrent=base.max_concurrent
            if override.max_concurrent is None
            else override.max_concurrent,
        )


__all__ = [
    "MIDDLEWARE_PREFIX",
    "PAUSED_RECHECK_MS",
    "QUEUE_FIELDS",
    "QUEUE_PREFIX",
    "TASK_FIELDS",
    "TASK_PREFIX",
    "OverrideSnapshot",
    "Overrides",
    "QueueOverride",
    "TaskOverride",
    "checked_fields",
    "middleware_name",
    "override_json",
]
