"""The façade's own argument rules, over the generic checks of ``taskito/_checks.py``: what
every backend can store exactly (names, counts, priorities, durations), and the shapes of the
façade's options (serializers, middleware, exception classes, ``delay``, ``depends_on``). Each
names the parameter and the problem (a ``ConfigurationError`` for a bad value), and returns
the value in the form the caller stores. Generic checks are called from ``_checks`` directly.
"""

from __future__ import annotations

import math
from typing import Any

from taskito import _checks
from taskito._checks import is_number
from taskito.exceptions import ConfigurationError
from taskito.middleware import TaskMiddleware
from taskito.serializers import Serializer
from taskito.storable import check_storable

#: The largest integer every backend stores and compares exactly: Redis keeps times and counts
#: as Lua numbers (doubles); SQLite and Postgres hold 64 bits. Counts stay at or below it.
MAX_EXACT_INT = 2**53 - 1
#: Priorities are 64-bit signed integers everywhere (SQLite INTEGER, Postgres BIGINT, and the
#: 64-bit code Redis orders a queue's priority levels by).
PRIORITY_MIN = -(2**63)
PRIORITY_MAX = 2**63 - 1
#: The longest duration any option takes (about 31,700 years): in milliseconds and added to the
#: current time it stays below ``MAX_EXACT_INT``, so every backend stores the time exactly.
MAX_SECONDS = 1e12
#: Why ``MAX_SECONDS`` is the bound, for the message of a duration past it.
_WHY_MAX_SECONDS = (
    "about 31,700 years; every backend stores times as whole milliseconds below 2**53"
)


def check_exact_count(name: str, value: object) -> int:
    """A count such as ``max_retries``: 0 up to ``MAX_EXACT_INT``, held exactly everywhere."""
    return _checks.check_count(name, value, maximum=MAX_EXACT_INT, error=ConfigurationError)


#: ``Queue.max_payload_bytes`` unless told otherwise: 1 MiB (0 turns the check off).
DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024


def check_max_payload_bytes(name: str, value: object) -> int:
    """A payload size limit in bytes: 0 (no limit) or more."""
    return _checks.check_count(name, value, maximum=MAX_EXACT_INT, error=ConfigurationError)


def check_page(limit: object, offset: object) -> tuple[int, int]:
    """A page of a listing: ``limit`` and ``offset``, each an int of at least 0."""
    return (
        _checks.check_int("limit", limit, minimum=0, error=ConfigurationError),
        _checks.check_int("offset", offset, minimum=0, error=ConfigurationError),
    )


def check_priority(name: str, value: object) -> int:
    """A priority: a 64-bit signed integer, which every backend orders exactly."""
    priority = _checks.check_int(name, value, error=ConfigurationError)
    if not PRIORITY_MIN <= priority <= PRIORITY_MAX:
        raise ConfigurationError(
            f"{name} must be a 64-bit integer, between {PRIORITY_MIN} and {PRIORITY_MAX}, "
            f"got {value}"
        )
    return priority


def check_duration(name: str, value: object, *, allow_zero: bool = True) -> float:
    """A duration in seconds that every backend stores exactly: finite, non-negative (or
    positive when ``allow_zero`` is False), at most ``MAX_SECONDS``."""
    return _checks.check_seconds(
        name,
        value,
        allow_zero=allow_zero,
        maximum=MAX_SECONDS,
        why=_WHY_MAX_SECONDS,
        error=ConfigurationError,
    )


def check_optional_duration(name: str, value: object, *, allow_zero: bool = True) -> float | None:
    """None, or a duration as ``check_duration`` takes it."""
    return None if value is None else check_duration(name, value, allow_zero=allow_zero)


def check_storable_name(name: str, value: object) -> str:
    """A non-empty string (queue names, task names, keys) that storage can keep as it is."""
    return check_storable(name, _checks.check_text(name, value, error=ConfigurationError))


def check_storable_names(name: str, value: object) -> tuple[str, ...]:
    """None or a list/tuple of names as ``check_storable_name`` takes them."""
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise TypeError(f"{name} must be a list of names, not {type(value).__name__}")
    return tuple(check_storable_name(f"{name} entries", item) for item in value)


def check_serializer(name: str, value: object) -> Serializer:
    """Anything with callable ``dumps`` and ``loads``."""
    if not (callable(getattr(value, "dumps", None)) and callable(getattr(value, "loads", None))):
        raise TypeError(
            f"{name} must have dumps(obj) -> bytes and loads(bytes) methods, "
            f"got {type(value).__name__}"
        )
    return value  # type: ignore[return-value]


def check_middleware(name: str, value: object) -> list[TaskMiddleware]:
    """None or a list/tuple of ``TaskMiddleware`` instances, as a new list."""
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise TypeError(f"{name} must be a list of TaskMiddleware, not {type(value).__name__}")
    for item in value:
        if not isinstance(item, TaskMiddleware):
            raise TypeError(
                f"{name} must contain TaskMiddleware instances, got {type(item).__name__}"
            )
    return list(value)


def check_exception_classes(name: str, value: object) -> tuple[type[BaseException], ...]:
    """None or a list/tuple of exception classes."""
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise TypeError(f"{name} must be a list of exception classes, not {type(value).__name__}")
    for item in value:
        if not (isinstance(item, type) and issubclass(item, BaseException)):
            raise TypeError(f"{name} must contain exception classes, got {item!r}")
    return tuple(value)


def check_delay(value: Any) -> float:
    """``delay`` in seconds; the message of a negative or infinite delay is the reference
    package's own."""
    if is_number(value) and (value < 0 or (isinstance(value, float) and not math.isfinite(value))):
        raise ConfigurationError("delay_seconds must be a finite non-negative number")
    return check_duration("delay", value)


def check_depends_on(value: object) -> tuple[str, ...]:
    """``depends_on``: None, one job id or a list of job ids."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (check_storable_name("depends_on", value),)
    if not isinstance(value, list | tuple):
        raise TypeError(
            f"depends_on must be a job id or a list of job ids, not {type(value).__name__}"
        )
    return tuple(check_storable_name("depends_on entries", item) for item in value)
