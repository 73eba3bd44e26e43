"""``ArgumentWalker``: one call's arguments walked at enqueue, each value given its strategy
(the registry's, or a rule of its own kind), containers rebuilt around what changed.

Rules, the first that matches wins, for a value at ``depth`` (top-level arguments are at 0):
None stays; ``NoProxy(x)`` becomes ``x``, unchecked; a non-primitive deeper than
``max_depth`` is a failure that leaves it as it is; a container already on the path stays (no
loop); a lambda and a ``tempfile`` object are refused; a NamedTuple and a dataclass become
convert markers holding their walked fields (a dataclass with a registry entry takes the
entry); a registry entry applies its strategy; dicts, lists, tuples, sets and frozensets are
walked; anything else goes to the serializer as it is (unknown types never fail).

A refused value is replaced by ``REJECTED``, which its container drops (a dict entry) or turns
into None (a sequence item): lenient mode sends what is left, strict mode raises.
"""

from __future__ import annotations

import copy
import dataclasses
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from taskito.exceptions import ArgumentFailure
from taskito.interception import converters
from taskito.interception.markers import (
    RESERVED_KEYS,
    convert_marker,
    proxy_marker,
    redirect_marker,
    ref_marker,
)
from taskito.interception.strategy import Strategy
from taskito.proxies.registry import NoProxy
from taskito.proxies.signing import sign_recipe

if TYPE_CHECKING:
    from taskito.interception.registry import TypeEntry, TypeRegistry
    from taskito.proxies.registry import ProxyRegistry


class _Rejected:
    __slots__ = ()

    def __repr__(self) -> str:
        return "REJECTED"


#: Stands for a refused value until its container drops it.
REJECTED: Final = _Rejected()

_ATOMS = frozenset({str, int, float, bool, bytes, type(None)})


@dataclass(slots=True)
class Decision:
    """What the walker did with one value, for ``analyze``."""

    path: str
    type_name: str
    strategy: Strategy
    detail: str


@dataclass(slots=True)
class WalkResult:
    """What one walk found: failures, redirects (path -> resource), values per strategy, the
    deepest depth visited; whether markers (and proxies) were made and how deep the deepest
    sits; the failures lenient mode drops (``dropped``); each decision (``decisions``)."""

    failures: list[ArgumentFailure] = field(default_factory=list)
    redirects: dict[str, str] = field(default_factory=dict)
    strategy_counts: Counter[Strategy] = field(default_factory=Counter)
    max_depth: int = 0
    markers: bool = False
    proxies: bool = False
    marker_depth: int = 0
    dropped: set[str] = field(default_factory=set)
    decisions: list[Decision] = field(default_factory=list)


class ArgumentWalker:
    """Walks calls with one registry; ``signing_secret`` signs every proxy recipe. With
    ``dry_run`` nothing is deconstructed (``analyze``): proxies are only named."""

    def __init__(
        self,
        registry: TypeRegistry,
        max_depth: int = 10,
        proxy_registry: ProxyRegistry | None = None,
        *,
        signing_secret: str | bytes | None = None,
    ) -> None:
        self._registry = registry
        self.max_depth = max_depth
        self._proxies = proxy_registry
        self._secret = signing_secret

    def walk(
        self, args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any], *, dry_run: bool = False
    ) -> tuple[tuple[Any, ...], dict[str, Any], WalkResult]:
        walk = _Walk(self._registry, self.max_depth, self._proxies, self._secret, dry_run)
        new_args = tuple(walk.value(v, f"args[{i}]", 0) for i, v in enumerate(args))
        new_kwargs = {k: walk.value(v, f"kwargs.{k}", 0) for k, v in kwargs.items()}
        return new_args, new_kwargs, walk.result


class _Walk:
    """The state of one walk."""

    def __init__(
        self,
        registry: TypeRegistry,
        max_depth: int,
        proxies: ProxyRegistry | None,
        secret: str | bytes | None,
        dry_run: bool,
    ) -> None:
        self._registry = registry
        self._max_depth = max_depth
        self._proxies = proxies
        self._secret = secret
        self._dry_run = dry_run
        self._active: set[int] = set()
        # id -> identity; the objects are held so that no id is reused during the walk.
        self._identities: dict[int, tuple[str, Any]] = {}
        self.result = WalkResult()

    def value(self, value: Any, path: str, depth: int) -> Any:
        result = self.result
        if depth > result.max_depth:
            result.max_depth = depth
        kind = type(value)
        if kind in _ATOMS and depth <= self._max_depth:
            if value is None:
                if depth == 0:
                    self._decide(path, value, Strategy.PASS, "None")
                return value
            entry = self._registry.resolve_type(kind)
            return value if entry is None else self._apply(entry, value, path, depth)
        if value is None:
            return value
        if isinstance(value, NoProxy):
            self._decide(path, value.value, Strategy.PASS, "NoProxy: sent as it is")
            return value.value
        if depth > self._max_depth:
            return value if kind in _ATOMS else self._too_deep(value, path)
        if id(value) in self._active:
            return value
        return self._by_kind(value, path, depth)

    def _by_kind(self, value: Any, path: str, depth: int) -> Any:
        kind = type(value)
        if callable(value) and getattr(value, "__name__", None) == "<lambda>":
            return self._fail(
                path,
                "lambda",
                "A lambda cannot be imported by a worker.",
                ("Define a function at module level and pass it, or pass its name",),
            )
        if kind.__module__ == "tempfile":
            return self._fail(
                path,
                kind.__name__,
                "Temporary file handles are deleted when closed and cannot reach a worker.",
                ("Write the data to a regular file and pass the file", "Pass the data itself"),
            )
        if isinstance(value, tuple) and converters.is_named_tuple_class(kind):
            fields = dict(zip(kind._fields, value, strict=True))
            return self._structured(value, path, depth, "named_tuple", fields)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            entry = self._registry.resolve_type(kind)
            if entry is not None:
                return self._apply(entry, value, path, depth)
            fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
            return self._structured(value, path, depth, "dataclass", fields)
        entry = self._registry.resolve_type(kind)
        if entry is not None:
            return self._apply(entry, value, path, depth)
        if isinstance(value, dict | list | tuple | set | frozenset):
            if depth == 0:
                self._decide(path, value, Strategy.PASS, "container: its contents are checked")
            return self._container(value, path, depth)
        if depth == 0:
            self._decide(path, value, Strategy.PASS, "unknown type, passed to serializer")
        return value

    # --- strategies -------------------------------------------------------------------------

    def _apply(self, entry: TypeEntry, value: Any, path: str, depth: int) -> Any:
        strategy = entry.strategy
        if strategy is Strategy.PASS:
            self.result.strategy_counts[strategy] += 1
            if depth == 0:
                self._decide(path, value, strategy, entry.detail)
            return value
        if strategy is Strategy.REJECT:
            self.result.strategy_counts[strategy] += 1
            return self._fail(
                path, type(value).__name__, entry.reject_reason, entry.reject_suggestions
            )
        if strategy is Strategy.REDIRECT:
            resource = entry.redirect_resource or "unknown"
            self.result.strategy_counts[strategy] += 1
            self.result.redirects[path] = resource
            self._decide(path, value, strategy, entry.detail)
            return self._marked(redirect_marker(resource), depth)
        if strategy is Strategy.PROXY:
            return self._proxy(entry, value, path, depth)
        return self._convert(entry, value, path, depth)

    def _convert(self, entry: TypeEntry, value: Any, path: str, depth: int) -> Any:
        key = entry.type_key
        try:
            if entry.converter is not None:
                return self._custom(entry, value, path, depth)
            if key == "ordered_dict":
                pairs = [[k, self._item(v, f"{path}.{k}", depth)] for k, v in value.items()]
                marker = convert_marker("ordered_dict", pairs=pairs)
            elif key in converters.SCALAR_KEYS:
                marker = converters.to_marker(key, value)
            else:
                raise ValueError(f"no converter for type_key {key!r}: pass converter=")
        except Exception as exc:
            reason = f"cannot be converted: {type(exc).__name__}: {exc}"
            return self._fail(path, type(value).__name__, reason, ())
        self.result.strategy_counts[Strategy.CONVERT] += 1
        self._decide(path, value, Strategy.CONVERT, entry.detail)
        return self._marked(marker, depth)

    def _custom(self, entry: TypeEntry, value: Any, path: str, depth: int) -> Any:
        """A ``register_type`` conversion: the converter's output, walked; in a marker when
        the entry has a reconstructor to turn it back."""
        assert entry.converter is not None
        converted = entry.converter(value)
        if type(converted) is type(value):
            raise TypeError(f"converter returned another {type(value).__name__}")
        self.result.strategy_counts[Strategy.CONVERT] += 1
        self._decide(path, value, Strategy.CONVERT, entry.detail)
        walked = self.value(converted, path, depth)
        if entry.reconstructor is None or walked is REJECTED:
            return walked
        return self._marked(convert_marker(str(entry.type_key), value=walked), depth)

    def _structured(
        self, value: Any, path: str, depth: int, key: str, fields: dict[str, Any]
    ) -> Any:
        """A NamedTuple or dataclass: its class by import path, its fields walked."""
        try:
            type_path = converters.type_path(type(value))
        except ValueError as exc:
            return self._fail(path, type(value).__name__, str(exc), ())
        self.result.strategy_counts[Strategy.CONVERT] += 1
        self._decide(path, value, Strategy.CONVERT, f"type_key={key} (auto-detected)")
        self._active.add(id(value))
        try:
            walked = {name: self._item(v, f"{path}.{name}", depth) for name, v in fields.items()}
        finally:
            self._active.discard(id(value))
        return self._marked(convert_marker(key, type_path=type_path, fields=walked), depth)

    def _proxy(self, entry: TypeEntry, value: Any, path: str, depth: int) -> Any:
        name = str(entry.proxy_handler)
        proxies = self._proxies
        if proxies is not None and name in proxies.disabled:
            return self._fail(
                path,
                type(value).__name__,
                f"proxy handler {name!r} is disabled (disabled_proxies).",
                (f"Remove {name!r} from disabled_proxies", "Pass the data the task needs instead"),
            )
        handler = None if proxies is None else proxies.get(name)
        if handler is None or not handler.detect(value):
            return value  # not proxiable after all (a closed file, stdout): the serializer's
        self.result.strategy_counts[Strategy.PROXY] += 1
        self._decide(path, value, Strategy.PROXY, entry.detail)
        if self._dry_run:
            return value
        seen = self._identities.get(id(value))
        if seen is not None:
            return self._marked(ref_marker(seen[0]), depth)
        try:
            recipe = handler.deconstruct(value)
        except Exception as exc:
            return self._fail(path, type(value).__name__, f"cannot be proxied: {exc}", ())
        identity = uuid.uuid4().hex
        self._identities[id(value)] = (identity, value)
        checksum = (
            None
            if self._secret is None
            else sign_recipe(name, handler.version, recipe, self._secret)
        )
        self.result.proxies = True
        return self._marked(proxy_marker(name, handler.version, identity, recipe, checksum), depth)

    # --- containers -------------------------------------------------------------------------

    def _item(self, value: Any, path: str, depth: int) -> Any:
        """A value inside a marker: walked one level down; a refused one becomes None."""
        walked = self.value(value, path, depth + 1)
        return None if walked is REJECTED else walked

    def _container(self, value: Any, path: str, depth: int) -> Any:
        if isinstance(value, dict):
            reserved = RESERVED_KEYS.intersection(k for k in value if isinstance(k, str))
            if reserved:
                return self._fail(
                    path,
                    type(value).__name__,
                    f"uses the reserved key(s) {sorted(reserved)}, which mark intercepted values.",
                    ("Rename the keys", "Wrap the dict in NoProxy(...) to send it unchecked"),
                )
        self._active.add(id(value))
        try:
            if isinstance(value, dict):
                return self._dict(value, path, depth)
            return self._sequence(value, path, depth)
        finally:
            self._active.discard(id(value))

    def _dict(self, value: dict[Any, Any], path: str, depth: int) -> Any:
        walked = {k: self.value(v, f"{path}.{k}", depth + 1) for k, v in value.items()}
        if all(walked[k] is value[k] for k in value):
            return value
        kept = {k: v for k, v in walked.items() if v is not REJECTED}
        if type(value) is dict:
            return kept
        rebuilt = copy.copy(value)  # keeps a subclass and its state (a defaultdict's factory)
        rebuilt.clear()
        rebuilt.update(kept)
        return rebuilt

    def _sequence(self, value: Any, path: str, depth: int) -> Any:
        items = [self.value(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]
        if all(new is old for new, old in zip(items, value, strict=True)):
            return value
        items = [None if item is REJECTED else item for item in items]
        if isinstance(value, set | frozenset):
            # Markers are dicts, which a set cannot hold: the set becomes a marker of its own.
            marker = convert_marker("set", items=items, frozen=isinstance(value, frozenset))
            return self._marked(marker, depth)
        kind = type(value)
        if kind in (list, tuple):
            return kind(items)
        try:
            return kind(items)
        except TypeError:
            return self._fail(
                path,
                kind.__name__,
                "its contents were converted, and this kind of sequence "
                "cannot be rebuilt from a list",
                ("Pass a list or a tuple",),
            )

    # --- outcomes ---------------------------------------------------------------------------

    def _marked(self, marker: dict[str, Any], depth: int) -> dict[str, Any]:
        result = self.result
        result.markers = True
        result.marker_depth = max(result.marker_depth, depth)
        return marker

    def _decide(self, path: str, value: Any, strategy: Strategy, detail: str) -> None:
        self.result.decisions.append(Decision(path, type(value).__name__, strategy, detail))

    def _fail(
        self, path: str, type_name: str, reason: str, suggestions: tuple[str, ...] | Any
    ) -> Any:
        self.result.failures.append(ArgumentFailure(path, type_name, reason, tuple(suggestions)))
        self.result.dropped.add(path)
        self.result.decisions.append(Decision(path, type_name, Strategy.REJECT, reason))
        return REJECTED

    def _too_deep(self, value: Any, path: str) -> Any:
        self.result.failures.append(
            ArgumentFailure(
                path,
                type(value).__name__,
                f"nested deeper than max_intercept_depth={self._max_depth}, so it was not checked.",
                ("Pass a flatter structure", "Raise Queue(max_intercept_depth=...)"),
            )
        )
        return value


__all__ = ["REJECTED", "ArgumentWalker", "Decision", "WalkResult"]
