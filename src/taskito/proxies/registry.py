"""``ProxyRegistry``: a Queue's proxy handlers by name, and ``NoProxy``, the wrapper that sends
a value as it is, without interception."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from taskito.proxies.handler import ProxyHandler


class ProxyRegistry:
    """Handlers by name (registering a name again replaces it), and the names disabled with
    ``Queue(disabled_proxies=...)``, kept so that an error can say why a handler is missing."""

    def __init__(self, disabled: Iterable[str] = ()) -> None:
        self._handlers: dict[str, ProxyHandler] = {}
        self.disabled: frozenset[str] = frozenset(disabled)

    def register(self, handler: ProxyHandler) -> None:
        if not isinstance(handler, ProxyHandler):
            raise TypeError(
                f"a proxy handler needs name, version, handled_types, detect, deconstruct, "
                f"reconstruct and cleanup; {type(handler).__name__} lacks some"
            )
        if not isinstance(handler.name, str) or not handler.name:
            raise ValueError("a proxy handler's name must be a non-empty str")
        self._handlers[handler.name] = handler

    def get(self, name: str) -> ProxyHandler | None:
        return self._handlers.get(name)

    def find_handler(self, obj: Any) -> ProxyHandler | None:
        """The first handler, in registration order, that detects ``obj``."""
        for handler in self._handlers.values():
            if handler.detect(obj):
                return handler
        return None

    def names(self) -> list[str]:
        return list(self._handlers)

    def __contains__(self, name: object) -> bool:
        return name in self._handlers

    def __len__(self) -> int:
        return len(self._handlers)


def _unwrapped(value: Any) -> Any:
    return value


class NoProxy:
    """Send ``value`` as it is: interception neither converts, proxies nor checks it (nor
    anything inside it). Serialized on its own (interception off), it arrives as ``value``."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"NoProxy({self.value!r})"

    def __reduce__(self) -> tuple[Any, tuple[Any]]:
        return (_unwrapped, (self.value,))


__all__ = ["NoProxy", "ProxyRegistry"]
