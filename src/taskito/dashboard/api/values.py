"""What a route function returns besides plain JSON data with status 200: ``PlainText``
(the Prometheus exposition) and ``Answer`` (JSON with another status); and decoded Python
values (job arguments and results) made into JSON: plain JSON types pass through, anything
else becomes its ``repr`` (bounded), so a page can show every value."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PlainText:
    """A route answer that is not JSON (the Prometheus exposition at ``/metrics``)."""

    content: str | bytes
    media_type: str = "text/plain; charset=utf-8"
    status: int = 200


@dataclass(frozen=True)
class Answer:
    """JSON ``data`` with a status other than 200 (``/readiness`` answers 503 when not
    ready, with the same body)."""

    data: Any
    status: int = 200


#: Nesting deeper than this is shown as the ``repr`` of the inner value.
MAX_DEPTH = 16
#: The longest text a converted value may take (a longer one is cut, with a marker).
MAX_TEXT = 10_000
#: The most items of one list or dict shown.
MAX_ITEMS = 1000


def to_jsonable(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON data: dicts with str keys, lists, str, int, finite float, bool and
    None stay; tuples and sets become lists; anything else its ``repr``."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, str):
        return _cut(value)
    if depth >= MAX_DEPTH:
        return _repr(value)
    if isinstance(value, dict):
        items = list(value.items())[:MAX_ITEMS]
        return {_key(key): to_jsonable(item, depth + 1) for key, item in items}
    if isinstance(value, list | tuple | set | frozenset):
        items = list(value)[:MAX_ITEMS]
        return [to_jsonable(item, depth + 1) for item in items]
    return _repr(value)


def _key(key: object) -> str:
    return _cut(key) if isinstance(key, str) else _repr(key)


def _repr(value: object) -> str:
    try:
        shown = repr(value)
    except Exception as exc:  # a broken __repr__ must not break the page
        shown = f"<{type(value).__name__} (repr failed: {type(exc).__name__})>"
    return _cut(shown)


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "...[cut]"


__all__ = ["Answer", "PlainText", "to_jsonable"]
