"""The one validation vocabulary: generic argument checks shared by the façade, the worker and
storage (ints with bounds, finite seconds with bounds, text, bools, bytes, sequences of names).

Each check names the argument and the problem, and returns the value in the form the caller
stores. Messages have one shape: a wrong type says ``"<name> must be <kind>, not <type>"``, a
value out of bounds ``"<name> must be <bound>, got <value>"``. The exception types stay each
caller's own (the façade raises ``ConfigurationError``, storage and the worker ``ValueError``;
some callers report a wrong type as a ``ValueError`` too), so they are keyword arguments:
``error`` for a bad value, ``type_error`` for a wrong type. Callers use these directly; domain
checks (Finish records, storable names, middleware lists, pool names...) stay with their
component, named for the rule they add.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import cast

ErrorType = type[Exception]


def is_number(value: object) -> bool:
    """An int or a float, bools refused."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_int(
    name: str,
    value: object,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    error: ErrorType = ValueError,
    type_error: ErrorType = TypeError,
) -> int:
    """An int (bools refused) of at least ``minimum`` and at most ``maximum``."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise type_error(f"{name} must be an int, not {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise error(f"{name} must be >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise error(f"{name} must be <= {maximum}, got {value!r}")
    return value


def check_optional_int(
    name: str,
    value: object,
    *,
    minimum: int | None = None,
    error: ErrorType = ValueError,
    type_error: ErrorType = TypeError,
) -> int | None:
    """None, or an int (bools refused) of at least ``minimum``."""
    if value is None:
        return None
    return check_int(name, value, minimum=minimum, error=error, type_error=type_error)


def check_count(
    name: str,
    value: object,
    *,
    maximum: int | None = None,
    error: ErrorType = ValueError,
    type_error: ErrorType = TypeError,
) -> int:
    """A count, limit or offset: an int of at least 0."""
    return check_int(name, value, minimum=0, maximum=maximum, error=error, type_error=type_error)


def check_positive(
    name: str, value: object, *, error: ErrorType = ValueError, type_error: ErrorType = TypeError
) -> int:
    """An int of at least 1, such as a lock's ``ttl_ms`` or a worker's ``threads``."""
    return check_int(name, value, minimum=1, error=error, type_error=type_error)


def check_seconds(
    name: str,
    value: object,
    *,
    allow_zero: bool = True,
    maximum: float | None = None,
    why: str = "",
    error: ErrorType = ValueError,
    type_error: ErrorType = TypeError,
) -> float:
    """A finite number of seconds, non-negative (or positive when ``allow_zero`` is False), at
    most ``maximum`` (``why`` the bound is what it is, in parentheses); returned as a float."""
    if not is_number(value):
        raise type_error(f"{name} must be a number of seconds, not {type(value).__name__}")
    number = cast(float, value)
    if (
        (isinstance(number, float) and not math.isfinite(number))
        or number < 0
        or (number == 0 and not allow_zero)
    ):
        bound = "non-negative" if allow_zero else "positive"
        raise error(f"{name} must be a finite {bound} number of seconds, got {value!r}")
    if maximum is not None and number > maximum:  # before float(): a huge int overflows it
        reason = f" ({why})" if why else ""
        raise error(f"{name} must be at most {maximum:.0e} seconds{reason}, got {value!r}")
    return float(number)


def check_fraction(
    name: str, value: object, *, error: ErrorType = ValueError, type_error: ErrorType = TypeError
) -> float:
    """A number between 0 and 1 inclusive, as a float."""
    if not is_number(value):
        raise type_error(f"{name} must be a number, not {type(value).__name__}")
    fraction = float(cast(float, value))
    if not 0.0 <= fraction <= 1.0:
        raise error(f"{name} must be between 0 and 1, got {value!r}")
    return fraction


def check_text(
    name: str, value: object, *, allow_empty: bool = False, error: ErrorType = ValueError
) -> str:
    """A name, key or value kept as text: a str, non-empty unless ``allow_empty``."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if not value and not allow_empty:
        raise error(f"{name} must be a non-empty string")
    return value


def check_optional_text(name: str, value: object, *, error: ErrorType = ValueError) -> str | None:
    """None, or a non-empty str."""
    return None if value is None else check_text(name, value, error=error)


def check_optional_str(name: str, value: object) -> str | None:
    """None, or any str (empty included)."""
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} must be a str or None, not {type(value).__name__}")
    return value


def check_optional_bytes(name: str, value: object) -> bytes | None:
    """None, or bytes (a bytearray or memoryview is copied to bytes)."""
    if value is None or type(value) is bytes:
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"{name} must be bytes or None, not {type(value).__name__}")


def check_bool(name: str, value: object) -> bool:
    """True or False, nothing merely truthy."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {type(value).__name__}")
    return value


def check_names(name: str, value: object, *, error: ErrorType = ValueError) -> tuple[str, ...]:
    """Any iterable of non-empty strings except a single string, as a tuple."""
    if isinstance(value, str | bytes):
        raise TypeError(f"{name} must be a list of names, not a single {type(value).__name__}")
    try:
        names = tuple(cast("Iterable[object]", value))
    except TypeError:
        raise TypeError(f"{name} must be a list of names, not {type(value).__name__}") from None
    for item in names:
        if not isinstance(item, str) or not item:
            raise error(f"{name} must contain non-empty strings, got {item!r}")
    return cast("tuple[str, ...]", names)


__all__ = [
    "check_bool",
    "check_count",
    "check_fraction",
    "check_int",
    "check_names",
    "check_optional_bytes",
    "check_optional_int",
    "check_optional_str",
    "check_optional_text",
    "check_positive",
    "check_seconds",
    "check_text",
    "is_number",
]
