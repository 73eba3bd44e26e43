"""Query-string and body parsing for the route table: text in, typed values out, and a 400
``ApiError`` naming the parameter for anything else. Framework-free (a mapping of strings)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from taskito.dashboard.api.errors import bad_request

#: The longest page any list route answers (a bigger ``limit`` is a 400, not a slow query).
MAX_LIMIT = 1000
#: The longest text filter or name taken from a URL.
MAX_TEXT = 256
#: The longest duration a ``since`` may span (about 31 years).
MAX_SECONDS = 1e9
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_INT = re.compile(r"[+-]?\d{1,19}")


def text(query: Mapping[str, str], name: str) -> str | None:
    """An optional text parameter: at most ``MAX_TEXT`` characters, no control characters;
    an empty value counts as absent."""
    value = query.get(name)
    if value is None or value == "":
        return None
    return checked_text(name, value)


def checked_text(name: str, value: str) -> str:
    if len(value) > MAX_TEXT:
        raise bad_request(f"{name} must be at most {MAX_TEXT} characters")
    if _CONTROL.search(value):
        raise bad_request(f"{name} must not contain control characters")
    return value


def integer(
    query: Mapping[str, str],
    name: str,
    default: int | None,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int | None:
    """An optional integer parameter within ``[minimum, maximum]``."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if not _INT.fullmatch(raw.strip()):
        raise bad_request(f"{name} must be an integer, got {shorten(raw)!r}")
    value = int(raw)
    return bounded(name, value, minimum, maximum)


def required_integer(
    query: Mapping[str, str],
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    value = integer(query, name, default, minimum=minimum, maximum=maximum)
    assert value is not None
    return value


def bounded(name: str, value: int, minimum: int | None, maximum: int | None) -> int:
    if minimum is not None and value < minimum:
        raise bad_request(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise bad_request(f"{name} must be at most {maximum}, got {value}")
    return value


def seconds(query: Mapping[str, str], name: str, default: float) -> float:
    """A positive, finite number of seconds."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise bad_request(f"{name} must be a number of seconds, got {shorten(raw)!r}") from None
    if not math.isfinite(value) or value <= 0 or value > MAX_SECONDS:
        raise bad_request(f"{name} must be a number of seconds in (0, {MAX_SECONDS:.0e}]")
    return value


@dataclass(frozen=True)
class Cursor:
    """A position in a list sorted newest first: the ``(time_ms, id)`` of the last row seen.
    The next page holds the rows strictly after it in that order."""

    time_ms: int
    id: str

    def __str__(self) -> str:
        return f"{self.time_ms},{self.id}"

    def is_before(self, time_ms: int, row_id: str) -> bool:
        """Whether a row comes after this cursor in newest-first order."""
        return (time_ms, row_id) < (self.time_ms, self.id)


@dataclass(frozen=True)
class Page:
    """``limit`` rows after ``offset`` rows, or after ``cursor`` (never both)."""

    limit: int
    offset: int = 0
    cursor: Cursor | None = None
    #: ``after=<id>`` alone: the route looks the row up to find its time.
    after_id: str | None = None


def page(query: Mapping[str, str], default_limit: int) -> Page:
    """``limit`` (0..MAX_LIMIT), ``offset`` (>= 0) and ``after``: ``<time_ms>,<id>`` (the
    cursor of the last row seen) or a bare ``<id>``."""
    limit = required_integer(query, "limit", default_limit, minimum=0, maximum=MAX_LIMIT)
    offset = required_integer(query, "offset", 0, minimum=0)
    after = text(query, "after")
    if after is None:
        return Page(limit, offset)
    if offset:
        raise bad_request("after and offset cannot be combined: page by one or the other")
    time_part, comma, row_id = after.partition(",")
    if not comma:
        return Page(limit, after_id=after)
    if not _INT.fullmatch(time_part) or not row_id:
        raise bad_request(f"after must be '<time_ms>,<id>' or an id, got {shorten(after)!r}")
    return Page(limit, cursor=Cursor(int(time_part), row_id))


def body_object(body: Any) -> dict[str, Any]:
    """A JSON body that must be an object (an absent body counts as ``{}``)."""
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise bad_request(f"the request body must be a JSON object, not {json_type(body)}")
    return body


def body_bool(body: dict[str, Any], name: str, default: bool) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise bad_request(f"{name} must be true or false, not {json_type(value)}")
    return value


def body_text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise bad_request(f"{name} must be a non-empty string")
    return checked_text(name, value)


def json_type(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)


def shorten(value: str, length: int = 40) -> str:
    return value if len(value) <= length else value[:length] + "..."


__all__ = [
    "MAX_LIMIT",
    "MAX_TEXT",
    "Cursor",
    "Page",
    "body_bool",
    "body_object",
    "body_text",
    "bounded",
    "checked_text",
    "integer",
    "page",
    "required_integer",
    "seconds",
    "text",
]
