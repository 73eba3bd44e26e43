"""Idempotency keys (docs/operations.md, "Enqueue controls"): which unique key an enqueue call
stores, from ``unique_key``, ``idempotency_key`` or, for an idempotent call, a key hashed from
the call itself.

An automatic key is ``"auto:"`` and the first 32 hex digits of SHA-256 over the task name
(UTF-8), one NUL byte and the call's serialized arguments, taken before any signing,
encryption or payload codec (a serializer that wraps another, ``EncryptedSerializer`` or a
``CodecSerializer`` of the queue's or the task's codecs, is unwrapped): the same call makes the
same key, while encrypted payloads differ on every call.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from taskito.queue import checks as check
from taskito.queue.arguments import serialize_args

if TYPE_CHECKING:
    from taskito.serializers import Serializer

AUTO_PREFIX = "auto:"
_AUTO_HEX_DIGITS = 32


def check_idempotent(name: str, value: object) -> bool | None:
    """``idempotent=``: True, False or None (the task's default)."""
    if value is None or type(value) is bool:
        return value
    raise TypeError(f"{name} must be True, False or None, not {type(value).__name__}")


def innermost(serializer: Serializer) -> Serializer:
    """The serializer that encodes the call: wrappers that encrypt, sign or run codecs expose
    the one they wrap as ``inner``, and are peeled off."""
    seen = 0
    while True:
        inner = getattr(serializer, "inner", None)
        if inner is None or seen > 16:
            return serializer
        serializer, seen = inner, seen + 1


def auto_key(
    serializer: Serializer,
    task_name: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    envelope: dict[str, Any] | None = None,
) -> str:
    """The automatic idempotency key of a call (see the module docstring)."""
    encoded = serialize_args(innermost(serializer), task_name, args, kwargs, envelope=envelope)
    digest = hashlib.sha256(task_name.encode() + b"\0" + encoded).hexdigest()
    return AUTO_PREFIX + digest[:_AUTO_HEX_DIGITS]


def explicit_key(name: str, value: object) -> str | None:
    """An ``idempotency_key`` given by the caller, checked as a unique key is."""
    if value is None:
        return None
    return check.check_storable_name(name, value)


def wants_auto_key(task_default: bool, idempotent: bool | None) -> bool:
    """A call is idempotent when it says so, else when its task is."""
    return task_default if idempotent is None else idempotent


__all__ = ["AUTO_PREFIX", "auto_key", "check_idempotent", "explicit_key", "wants_auto_key"]
