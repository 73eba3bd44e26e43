"""Argument checks shared by the façade (Queue, task decorator, enqueue): each one names the
parameter and the problem, and returns the value in the form the caller stores."""

from __future__ import annotations

import math
from typing import Any

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


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_int(
    name: str, value: object, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """An int (bools refused) of at least ``minimum`` and at most ``maximum``."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise ConfigurationError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigurationError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_optional_int(name: str, value: object, *, minimum: int | None = None) -> int | None:
    return None if value is None else check_int(name, value, minimum=minimum)


def check_count(name: str, value: object) -> int:
    """A count such as ``max_retries``: 0 up to ``MAX_EXACT_INT``, held exactly everywhere."""
    return check_int(name, value, minimum=0, maximum=MAX_EXACT_INT)


def check_priority(name: str, value: object) -> int:
    """A priority: a 64-bit signed integer, which every backend orders exactly."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not PRIORITY_MIN <= value <= PRIORITY_MAX:
        raise ConfigurationError(
            f"{name} must be a 64-bit integer, between {PRIORITY_MIN} and {PRIORITY_MAX}, "
            f"got {value}"
        )
    return value


def check_seconds(
    name: str, value: object, *, allow_zero: bool = True, maximum: float = MAX_SECONDS
) -> float:
    """A finite number of seconds, non-negative (or positive when ``allow_zero`` is False), at
    most ``maximum``."""
    if not _is_number(value):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    number: float = value  # type: ignore[assignment]
    if (
        (isinstance(number, float) and not math.isfinite(number))
        or number < 0
        or (number == 0 and not allow_zero)
    ):
        bound = "non-negative" if allow_zero else "positive"
        raise ConfigurationError(
            f"{name} must be a finite {bound} number of seconds, got {value!r}"
        )
    if number > maximum:  # compared before float(): a huge int would overflow it
        raise _too_long(name, value, maximum)
    return float(number)


def _too_long(name: str, value: object, maximum: float = MAX_SECONDS) -> ConfigurationError:
    if maximum != MAX_SECONDS:
        return ConfigurationError(f"{name} must be at most {maximum:.0e} seconds, got {value!r}")
    return ConfigurationError(
        f"{name} must be at most {MAX_SECONDS:.0e} seconds (about 31,700 years; every backend "
        f"stores times as whole milliseconds below 2**53), got {value!r}"
    )


def check_optional_seconds(name: str, value: object, *, allow_zero: bool = True) -> float | None:
    return None if value is None else check_seconds(name, value, allow_zero=allow_zero)


def check_fraction(name: str, value: object) -> float:
    """A number between 0 and 1 inclusive."""
    if not _is_number(value):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    fraction = float(value)  # type: ignore[arg-type]
    if not 0.0 <= fraction <= 1.0:
        raise ConfigurationError(f"{name} must be between 0 and 1, got {value!r}")
    return fraction


def check_name(name: str, value: object) -> str:
    """A non-empty string (queue names, task names, keys) that storage can keep as it is."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if not value:
        raise ConfigurationError(f"{name} must be a non-empty string")
    return check_storable(name, value)


def check_optional_str(name: str, value: object) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} must be a str or None, not {type(value).__name__}")
    return value


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


def check_names(name: str, value: object) -> tuple[str, ...]:
    """None or a list/tuple of non-empty strings."""
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise TypeError(f"{name} must be a list of names, not {type(value).__name__}")
    return tuple(check_name(f"{name} entries", item) for item in value)


def check_delay(value: Any) -> float:
    """``delay`` in seconds; the message is the reference package's own."""
    if not _is_number(value):
        raise TypeError(f"delay must be a number of seconds, not {type(value).__name__}")
    if value < 0 or (isinstance(value, float) and not math.isfinite(value)):
        raise ConfigurationError("delay_seconds must be a finite non-negative number")
    if value > MAX_SECONDS:
        raise _too_long("delay", value)
    return float(value)


def check_depends_on(value: object) -> tuple[str, ...]:
    """``depends_on``: None, one job id or a list of job ids."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (check_name("depends_on", value),)
    if not isinstance(value, list | tuple):
        raise TypeError(
            f"depends_on must be a job id or a list of job ids, not {type(value).__name__}"
        )
    return tuple(check_name("depends_on entries", item) for item in value)
