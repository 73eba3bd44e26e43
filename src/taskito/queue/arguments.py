"""Argument handling shared by the enqueue paths: args/kwargs coercion, payload encoding, and
the per-job list checks of ``enqueue_many``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from taskito.exceptions import ConfigurationError, SerializationError
from taskito.serializers import dumps_bound

if TYPE_CHECKING:
    from taskito.serializers import Serializer


def as_args(args: object) -> tuple[Any, ...]:
    if isinstance(args, tuple):
        return args
    if isinstance(args, list):
        return tuple(args)
    raise TypeError(f"args must be a tuple or list, not {type(args).__name__}")


def as_kwargs(kwargs: object) -> dict[str, Any]:
    if kwargs is None:
        return {}
    if not isinstance(kwargs, dict):
        raise TypeError(f"kwargs must be a dict or None, not {type(kwargs).__name__}")
    return kwargs


def serialize_args(
    serializer: Serializer,
    task_name: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    context: bytes = b"",
    envelope: dict[str, Any] | None = None,
) -> bytes:
    """``(args, kwargs)`` encoded, or ``(args, kwargs, envelope)`` when interception left
    markers in them; ``context`` (the job's bound context) goes to a serializer that binds
    one (``EncryptedSerializer``)."""
    call = (args, kwargs) if envelope is None else (args, kwargs, envelope)
    try:
        payload = dumps_bound(serializer, call, context) if context else serializer.dumps(call)
    except Exception as exc:
        raise SerializationError(
            f"arguments of task {task_name!r} could not be serialized: {type(exc).__name__}: {exc}"
        ) from exc
    if type(payload) is not bytes:
        if not isinstance(payload, bytes | bytearray | memoryview):
            raise SerializationError(
                f"{type(serializer).__name__}.dumps() returned {type(payload).__name__}, not bytes"
            )
        payload = bytes(payload)
    return payload


def to_ms(seconds: float) -> int:
    return round(seconds * 1000)


def check_same_length(name: str, values: object, expected: int) -> None:
    if values is None:
        return
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise TypeError(f"{name} must be a list, not {type(values).__name__}")
    if len(values) != expected:
        raise ConfigurationError(
            f"{name} has {len(values)} entries but args_list has {expected}: they must match"
        )
