"""``TypeRegistry``: which strategy applies to a value, by its type. Each entry names types
(classes, or ``"module:qualname"`` of an optional library, matched only once it is imported), a
strategy, a priority and the strategy's options.

``resolve`` picks, among the entries whose types the value is an instance of, an entry naming
the value's own class first; otherwise the highest priority; on a tie, the earliest registered.
So ``queue.register_type(MySession, ...)`` applies to ``MySession`` even where a built-in entry
of higher priority names its base class. Answers are cached per class.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from taskito.interception.strategy import Strategy
from taskito.proxies.handlers.lazy import loaded_class

#: A class, or ``"module:qualname"`` of one in an optional library.
TypeRef = type | str

DEFAULT_REJECT_REASON = "This type cannot be serialized."


@dataclass(frozen=True, slots=True)
class TypeEntry:
    """One registration: its types, strategy and the options that strategy reads."""

    types: tuple[TypeRef, ...]
    strategy: Strategy
    priority: int = 0
    order: int = 0
    converter: Callable[[Any], Any] | None = None
    type_key: str | None = None
    reconstructor: Callable[[Any], Any] | None = None
    reject_reason: str = DEFAULT_REJECT_REASON
    reject_suggestions: tuple[str, ...] = field(default=())
    redirect_resource: str | None = None
    proxy_handler: str | None = None

    def classes(self) -> tuple[type, ...]:
        """The entry's classes available now (lazy references whose module is imported)."""
        found: list[type] = []
        for ref in self.types:
            cls = ref if isinstance(ref, type) else loaded_class(ref)
            if cls is not None:
                found.append(cls)
        return tuple(found)

    @property
    def detail(self) -> str:
        """What the report shows for this entry."""
        if self.strategy is Strategy.REDIRECT:
            return f"redirect to resource {self.redirect_resource!r}"
        if self.strategy is Strategy.REJECT:
            return self.reject_reason
        if self.strategy is Strategy.CONVERT:
            return f"type_key={self.type_key}"
        if self.strategy is Strategy.PROXY:
            return f"handler={self.proxy_handler}"
        return "passed to the serializer"


def _as_refs(types: TypeRef | Iterable[TypeRef]) -> tuple[TypeRef, ...]:
    if isinstance(types, type | str):
        refs: tuple[Any, ...] = (types,)
    elif isinstance(types, Iterable):
        refs = tuple(types)
    else:
        raise TypeError(f"types must be classes (or 'module:qualname' strings), not {types!r:.60}")
    for ref in refs:
        if not isinstance(ref, type | str) or (isinstance(ref, str) and ":" not in ref):
            raise TypeError(
                f"types must be classes (or 'module:qualname' strings), not {ref!r:.60}"
            )
    if not refs:
        raise ValueError("register() needs at least one type")
    return refs


def _without(entries: list[TypeEntry], refs: set[TypeRef]) -> list[TypeEntry]:
    """``entries`` no longer naming ``refs``: an entry naming only them goes, one naming
    others too keeps those."""
    kept: list[TypeEntry] = []
    for entry in entries:
        remaining = tuple(ref for ref in entry.types if ref not in refs)
        if len(remaining) == len(entry.types):
            kept.append(entry)
        elif remaining:
            kept.append(dataclasses.replace(entry, types=remaining))
    return kept


class TypeRegistry:
    """Entries by priority; ``reconstructors`` holds the ``type_key`` -> reconstructor of the
    CONVERT entries that have one (the worker rebuilds their markers with it)."""

    def __init__(self) -> None:
        self._entries: list[TypeEntry] = []
        self._order = itertools.count()
        self._lock = threading.Lock()
        self._cache: dict[type, TypeEntry | None] = {}
        self.reconstructors: dict[str, Callable[[Any], Any]] = {}

    def register(
        self,
        types: TypeRef | Sequence[TypeRef],
        strategy: Strategy | str,
        *,
        priority: int = 0,
        converter: Callable[[Any], Any] | None = None,
        type_key: str | None = None,
        reconstructor: Callable[[Any], Any] | None = None,
        reject_reason: str | None = None,
        reject_suggestions: Sequence[str] = (),
        redirect_resource: str | None = None,
        proxy_handler: str | None = None,
        replace: bool = False,
    ) -> TypeEntry:
        """Add an entry; with ``replace``, the types it names leave every earlier entry."""
        refs = _as_refs(types)
        entry = TypeEntry(
            types=refs,
            strategy=Strategy.parse(strategy),
            priority=priority,
            order=next(self._order),
            converter=converter,
            type_key=type_key,
            reconstructor=reconstructor,
            reject_reason=reject_reason or DEFAULT_REJECT_REASON,
            reject_suggestions=tuple(reject_suggestions),
            redirect_resource=redirect_resource,
            proxy_handler=proxy_handler,
        )
        with self._lock:
            if replace:
                self._entries = _without(self._entries, set(refs))
            self._entries.append(entry)
            self._cache = {}
            if reconstructor is not None and type_key is not None:
                self.reconstructors[type_key] = reconstructor
        return entry

    def resolve(self, obj: Any) -> TypeEntry | None:
        """The entry for ``obj``, or None when no entry's types match."""
        return self.resolve_type(type(obj))

    def resolve_type(self, cls: type) -> TypeEntry | None:
        cache = (
            self._cache
        )  # replaced (not cleared) by register: a late answer lands in the old one
        try:
            return cache[cls]
        except KeyError:
            pass
        with self._lock:
            entries = list(self._entries)
        matching: list[TypeEntry] = []
        own: list[TypeEntry] = []
        for entry in entries:
            classes = entry.classes()
            if classes and issubclass(cls, classes):
                matching.append(entry)
                if cls in classes:
                    own.append(entry)
        pool = own or matching
        found = max(pool, key=lambda e: (e.priority, -e.order)) if pool else None
        # A class's bases are imported before it, so no lazy entry can match it later.
        cache[cls] = found
        return found

    def entries(self) -> list[TypeEntry]:
        with self._lock:
            return list(self._entries)


__all__ = ["DEFAULT_REJECT_REASON", "TypeEntry", "TypeRef", "TypeRegistry"]
