"""``FrozenResource``: a read-only view of a shared resource (``frozen=True``), so one task
cannot change what every other task of the worker sees."""

from __future__ import annotations

from typing import Any

from taskito.exceptions import ResourceError


class FrozenResourceError(ResourceError, AttributeError):
    """An attribute of a frozen resource was set or deleted."""


class FrozenResource:
    """Forwards reads, calls, subscripts, iteration, ``len`` and comparisons to the instance;
    setting or deleting an attribute raises ``FrozenResourceError`` (a ``ResourceError`` and
    an ``AttributeError``). Mutating methods of the instance itself still work: freezing is a
    guard against accidents, not a sandbox."""

    __slots__ = ("_taskito_instance", "_taskito_name")

    def __init__(self, instance: Any, name: str) -> None:
        object.__setattr__(self, "_taskito_instance", instance)
        object.__setattr__(self, "_taskito_name", name)

    def __getattr__(self, attribute: str) -> Any:
        return getattr(object.__getattribute__(self, "_taskito_instance"), attribute)

    def __setattr__(self, attribute: str, value: Any) -> None:
        raise self._refuse(attribute)

    def __delattr__(self, attribute: str) -> None:
        raise self._refuse(attribute)

    def _refuse(self, attribute: str) -> FrozenResourceError:
        name = object.__getattribute__(self, "_taskito_name")
        return FrozenResourceError(
            f"Cannot modify frozen resource '{name}': attribute '{attribute}' is read-only"
        )

    @property
    def _wrapped(self) -> Any:
        return object.__getattribute__(self, "_taskito_instance")

    def __repr__(self) -> str:
        return f"FrozenResource({self._wrapped!r})"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._wrapped(*args, **kwargs)

    def __getitem__(self, key: Any) -> Any:
        return self._wrapped[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        raise self._refuse(f"[{key!r}]")

    def __delitem__(self, key: Any) -> None:
        raise self._refuse(f"[{key!r}]")

    def __len__(self) -> int:
        return len(self._wrapped)

    def __iter__(self) -> Any:
        return iter(self._wrapped)

    def __contains__(self, item: Any) -> bool:
        return item in self._wrapped

    def __bool__(self) -> bool:
        return bool(self._wrapped)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenResource):
            other = other._wrapped
        return bool(self._wrapped == other)

    def __hash__(self) -> int:
        return hash(self._wrapped)


__all__ = ["FrozenResource", "FrozenResourceError"]
