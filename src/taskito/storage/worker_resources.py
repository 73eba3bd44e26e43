"""How every backend stores a worker's resource names and their health: JSON text (a sorted
list; an object of name -> health), NULL for none. Checked on the way in, so what is stored
can always be read back."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping


def encode_names(names: Iterable[str] | None) -> str | None:
    if names is None:
        return None
    listed = sorted(names)
    if not all(isinstance(name, str) for name in listed):
        raise TypeError("resource names must be strings")
    return json.dumps(listed, ensure_ascii=False)


def encode_health(health: Mapping[str, str] | None) -> str | None:
    if health is None:
        return None
    if not isinstance(health, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in health.items()
    ):
        raise TypeError("resource_health must map resource names to health strings")
    return json.dumps(dict(sorted(health.items())), ensure_ascii=False)


def decode_names(text: str | bytes | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(json.loads(text))


def decode_health(text: str | bytes | None) -> dict[str, str] | None:
    return None if text is None else dict(json.loads(text))


__all__ = ["decode_health", "decode_names", "encode_health", "encode_names"]
