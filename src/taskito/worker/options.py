"""Validation of the worker's options: each bad value raises a clear TypeError/ValueError."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def validate_queues(queues: Iterable[str] | None) -> tuple[str, ...] | None:
    if queues is None:
        return None
    names = validate_names("queues", queues)
    if not names:
        raise ValueError("queues must name at least one queue, or be None for every queue")
    return names


def validate_names(what: str, names: Iterable[str]) -> tuple[str, ...]:
    if isinstance(names, str | bytes):
        raise TypeError(f"{what} must be a list of names, not a single {type(names).__name__}")
    try:
        result = tuple(names)
    except TypeError:
        raise TypeError(f"{what} must be a list of names, not {type(names).__name__}") from None
    for name in result:
        if not isinstance(name, str) or not name:
            raise ValueError(f"{what} must contain non-empty strings, got {name!r}")
    return result


def positive_int(what: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return value


#: The longest a worker waits for anything (about 31 years): a thread cannot wait longer than
#: ``threading.TIMEOUT_MAX`` (about 292 years on Linux) from now.
MAX_WAIT_S = 1e9


def positive_number(what: str, value: Any, *, zero: bool = False) -> float:
    valid = isinstance(value, int | float) and not isinstance(value, bool)
    if not valid or value != value or value < 0 or (value == 0 and not zero):
        bound = "zero or more" if zero else "a positive number"
        raise ValueError(f"{what} must be {bound} of seconds, got {value!r}")
    if value > MAX_WAIT_S:
        raise ValueError(f"{what} must be at most {MAX_WAIT_S:.0e} seconds, got {value!r}")
    return float(value)


__all__ = ["MAX_WAIT_S", "positive_int", "positive_number", "validate_names", "validate_queues"]
