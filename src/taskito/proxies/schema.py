"""``validate_recipe``: a recipe checked against its handler's schema before the handler sees
it, so a malformed or tampered recipe fails with a message naming the field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from taskito.exceptions import ProxyReconstructionError
from taskito.proxies.handler import FieldSpec


def validate_recipe(
    handler_name: str, recipe: object, schema: Mapping[str, FieldSpec] | None
) -> None:
    """Raise ``ProxyReconstructionError`` for unexpected keys, a missing required key or a
    value of the wrong type; None and an omitted optional key are fine."""
    if not isinstance(recipe, dict):
        raise ProxyReconstructionError(
            f"recipe of proxy {handler_name!r} must be a dict, not {type(recipe).__name__}",
            retryable=False,
        )
    if schema is None:
        return
    unexpected = sorted(str(key) for key in recipe if key not in schema)
    if unexpected:
        raise ProxyReconstructionError(
            f"recipe of proxy {handler_name!r} has unexpected keys {unexpected}",
            retryable=False,
        )
    for name, spec in schema.items():
        _check_field(handler_name, recipe, name, spec)


def _check_field(handler_name: str, recipe: dict[str, Any], name: str, spec: FieldSpec) -> None:
    if name not in recipe:
        if spec.required:
            raise ProxyReconstructionError(
                f"recipe of proxy {handler_name!r} is missing required key {name!r}",
                retryable=False,
            )
        return
    value = recipe[name]
    if value is None or isinstance(value, spec.type):
        return
    expected = (
        " or ".join(t.__name__ for t in spec.type)
        if isinstance(spec.type, tuple)
        else spec.type.__name__
    )
    raise ProxyReconstructionError(
        f"recipe of proxy {handler_name!r}: {name!r} expected {expected}, "
        f"got {type(value).__name__}",
        retryable=False,
    )


__all__ = ["validate_recipe"]
