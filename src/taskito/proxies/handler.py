"""What a proxy handler is (``ProxyHandler``): how one kind of live object (an open file, a
logger, an HTTP client) is turned into a JSON-safe recipe at enqueue and rebuilt from it in the
worker; and ``FieldSpec``, one field of a recipe's schema."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One recipe field: its type (or types), and whether it must be present."""

    type: type | tuple[type, ...]
    required: bool = True


@runtime_checkable
class ProxyHandler(Protocol):
    """One kind of object that crosses to the worker as a recipe.

    ``deconstruct`` runs at enqueue and returns plain JSON data (it may raise to refuse the
    object, with a message naming why: a ``PermissionError`` is a refusal no retry can
    change); ``reconstruct`` runs in the worker and returns the new object; ``cleanup`` runs
    after the task (errors are logged, never raised). A handler may
    also have ``schema`` (field name to ``FieldSpec``, checked before ``reconstruct``) and
    ``migrate(recipe, from_version, to_version)`` for recipes of an older ``version``.
    """

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> int: ...

    @property
    def handled_types(self) -> tuple[type, ...]: ...

    def detect(self, obj: Any) -> bool: ...

    def deconstruct(self, obj: Any) -> dict[str, Any]: ...

    def reconstruct(self, recipe: dict[str, Any], version: int) -> Any: ...

    def cleanup(self, obj: Any) -> Any:
        """Release ``obj``; may return an awaitable, which is awaited."""


def schema_of(handler: ProxyHandler) -> Mapping[str, FieldSpec] | None:
    schema = getattr(handler, "schema", None)
    return schema if isinstance(schema, Mapping) else None


__all__ = ["FieldSpec", "ProxyHandler", "schema_of"]
