"""The worker's walk over decoded arguments: containers are followed (dicts, lists, tuples,
sets, and their subclasses), every marker dict is handed to a callback, and a container is
rebuilt, as its own type, only when something inside it changed. The walk stops descending past
the depth the producer's envelope says its deepest marker sits at, and follows no container
twice on one path (a self-referencing structure ends there)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from taskito.interception.markers import marker_kind

#: Restores one nested value: ``restore(value, path)``.
RestoreAt = Callable[[Any, str], Any]
#: Called for each marker: ``on_marker(kind, marker, path, restore_nested)`` returns the value
#: that replaces it (``restore_nested`` restores the values a marker holds).
OnMarker = Callable[[str, dict[str, Any], str, RestoreAt], Any]

_ATOMS = frozenset({str, int, float, bool, bytes, type(None)})


class Traversal:
    """One walk's state: the callback, the depth bound and the containers on the path."""

    def __init__(self, on_marker: OnMarker, max_depth: int | None = None) -> None:
        self._on_marker = on_marker
        self._max_depth = max_depth
        self._active: set[int] = set()

    def call(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """``args`` and ``kwargs`` restored, paths ``args[i]`` and ``kwargs.name``."""
        new_args = tuple(self.value(value, f"args[{i}]", 0) for i, value in enumerate(args))
        new_kwargs = {key: self.value(value, f"kwargs.{key}", 0) for key, value in kwargs.items()}
        return new_args, new_kwargs

    def value(self, value: Any, path: str, depth: int = 0) -> Any:
        kind = type(value)
        if kind in _ATOMS or (self._max_depth is not None and depth > self._max_depth):
            return value
        if kind is dict:
            marker = marker_kind(value)
            if marker is not None:
                return self._on_marker(
                    marker,
                    value,
                    path,
                    lambda inner, suffix: self.value(inner, path + suffix, depth + 1),
                )
        if (
            not isinstance(value, dict | list | tuple | set | frozenset)
            or id(value) in self._active
        ):
            return value
        self._active.add(id(value))
        try:
            if isinstance(value, dict):
                return _rebuilt_dict(
                    value, {k: self.value(v, f"{path}.{k}", depth + 1) for k, v in value.items()}
                )
            items = [self.value(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]
            return _rebuilt_collection(value, items)
        finally:
            self._active.discard(id(value))


def _rebuilt_dict(original: dict[Any, Any], values: dict[Any, Any]) -> dict[Any, Any]:
    if all(values[key] is original[key] for key in original):
        return original
    if type(original) is dict:
        return values
    rebuilt = copy.copy(original)  # keeps a subclass and its state (a defaultdict's factory)
    rebuilt.clear()
    rebuilt.update(values)
    return rebuilt


def _rebuilt_collection(original: Any, items: list[Any]) -> Any:
    if all(new is old for new, old in zip(items, original, strict=True)):
        return original
    kind = type(original)
    if kind in (list, tuple, set, frozenset):
        return kind(items)
    if isinstance(original, list):
        rebuilt = copy.copy(original)
        rebuilt[:] = items
        return rebuilt
    if isinstance(original, set):
        rebuilt_set = copy.copy(original)
        rebuilt_set.clear()
        rebuilt_set.update(items)
        return rebuilt_set
    try:
        return kind(items)
    except TypeError:
        return tuple(items) if isinstance(original, tuple) else frozenset(items)


__all__ = ["OnMarker", "RestoreAt", "Traversal"]
