"""Built-in conversions, both ways: a value of a well-known type turned into a convert marker at
enqueue (``to_marker``), and a marker turned back into an equal value in the worker
(``reconstruct_converted``). Both sides use this module, so it stands on the standard library.

Markers that name a class (enum, dataclass, NamedTuple, pydantic model) carry it as
``"module:qualname"``; the worker imports it and checks it is that kind of class before calling
anything on it, so a marker cannot make the worker call an arbitrary function.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import importlib
import os
import pathlib
import re
import sys
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from taskito.interception.markers import convert_marker

#: Restores a nested value found in a marker: ``restore(value, path_suffix)``.
Restore = Callable[[Any, str], Any]

_PATH_CLASSES: dict[str, type[pathlib.PurePath]] = {
    cls.__name__: cls
    for cls in (
        pathlib.Path,
        pathlib.PosixPath,
        pathlib.WindowsPath,
        pathlib.PurePath,
        pathlib.PurePosixPath,
        pathlib.PureWindowsPath,
    )
}


def _timedelta(value: dt.timedelta) -> dict[str, Any]:
    # Days, seconds and microseconds: exact, where a float of total seconds is not.
    return convert_marker(
        "timedelta", days=value.days, seconds=value.seconds, microseconds=value.microseconds
    )


def _enum(value: enum.Enum) -> dict[str, Any]:
    return convert_marker(
        "enum", type_path=type_path(type(value)), name=value.name, value=value.value
    )


def _pydantic(value: Any) -> dict[str, Any]:
    return convert_marker(
        "pydantic", type_path=type_path(type(value)), value=value.model_dump(mode="json")
    )


_TO_MARKER: dict[str, Callable[[Any], dict[str, Any]]] = {
    "uuid": lambda v: convert_marker("uuid", value=str(v)),
    "decimal": lambda v: convert_marker("decimal", value=str(v)),
    "path": lambda v: convert_marker("path", value=str(v), cls=_path_class(v)),
    "datetime": lambda v: convert_marker("datetime", value=v.isoformat()),
    "date": lambda v: convert_marker("date", value=v.isoformat()),
    "time": lambda v: convert_marker("time", value=v.isoformat()),
    "timedelta": _timedelta,
    "pattern": lambda v: convert_marker("pattern", value=v.pattern, flags=int(v.flags)),
    "enum": _enum,
    "pydantic": _pydantic,
}

#: The keys ``to_marker`` converts by itself; the structured ones (``dataclass``,
#: ``named_tuple``, ``ordered_dict``, ``set``) hold walked contents, built by the walker.
SCALAR_KEYS = frozenset(_TO_MARKER)
STRUCTURED_KEYS = frozenset({"dataclass", "named_tuple", "ordered_dict", "set"})


def to_marker(type_key: str, value: Any) -> dict[str, Any]:
    """The convert marker of ``value`` under a built-in scalar ``type_key``."""
    return _TO_MARKER[type_key](value)


def _path_class(value: pathlib.PurePath) -> str:
    name = type(value).__name__
    return name if name in _PATH_CLASSES else "Path"


# --- class references -------------------------------------------------------------------


def type_path(cls: type) -> str:
    """``"module:qualname"`` of a class the worker can import; ``ValueError`` for one it
    cannot (defined inside a function)."""
    qualname = cls.__qualname__
    if "<locals>" in qualname:
        raise ValueError(
            f"{qualname} is defined inside a function, so a worker cannot import it; "
            "define it at module level"
        )
    module = cls.__module__
    if module == "__main__":
        module = _main_module_name()
    return f"{module}:{qualname}"


def _main_module_name() -> str:
    """The name a worker imports the running script under (as for task names)."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and getattr(spec, "name", None):
        return str(spec.name)
    path = getattr(main, "__file__", None)
    if isinstance(path, str) and path:
        return os.path.splitext(os.path.basename(path))[0]
    return "__main__"


def load_type(path: object, kind: str, is_kind: Callable[[type], bool]) -> type:
    """Import the class ``"module:qualname"`` names and check it is a ``kind``; ``ValueError``
    naming what is wrong otherwise (nothing of it is called before the check)."""
    if not isinstance(path, str) or path.count(":") != 1:
        raise ValueError(f"{kind} type_path must be 'module:qualname', not {path!r:.80}")
    module_name, qualname = path.split(":")
    if not module_name or not qualname:
        raise ValueError(f"{kind} type_path must be 'module:qualname', not {path!r:.80}")
    target: object = _module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)
    if not isinstance(target, type) or not is_kind(target):
        raise ValueError(f"{path} is not {kind}: refused to rebuild from it")
    return target


def _module(name: str) -> object:
    """The module ``name``; the running script when it is the one ``type_path`` named after
    it (a producer's ``__main__``, restored in the same process), not a second copy of it."""
    if name not in sys.modules and name == _main_module_name():
        return sys.modules["__main__"]
    return importlib.import_module(name)


def _is_enum(cls: type) -> bool:
    return issubclass(cls, enum.Enum)


def _is_dataclass(cls: type) -> bool:
    return dataclasses.is_dataclass(cls)


def is_named_tuple_class(cls: type) -> bool:
    return issubclass(cls, tuple) and isinstance(getattr(cls, "_fields", None), tuple)


def _is_pydantic(cls: type) -> bool:
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and issubclass(cls, pydantic.BaseModel)


# --- back to values ---------------------------------------------------------------------


def _rebuild_enum(marker: dict[str, Any], restore: Restore) -> Any:
    cls: Any = load_type(marker["type_path"], "an Enum", _is_enum)
    name = marker.get("name")
    if isinstance(name, str) and name in cls.__members__:
        return cls.__members__[name]
    return cls(marker["value"])


def _rebuild_dataclass(marker: dict[str, Any], restore: Restore) -> Any:
    cls = load_type(marker["type_path"], "a dataclass", _is_dataclass)
    values = {name: restore(value, f".{name}") for name, value in marker["fields"].items()}
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"dataclass {cls.__qualname__} has no fields {unknown}")
    init = {name: value for name, value in values.items() if fields[name].init}
    instance = cls(**init)
    for name, value in values.items():
        if not fields[name].init:
            object.__setattr__(instance, name, value)
    return instance


def _rebuild_named_tuple(marker: dict[str, Any], restore: Restore) -> Any:
    cls: Any = load_type(marker["type_path"], "a NamedTuple", is_named_tuple_class)
    return cls(**{name: restore(value, f".{name}") for name, value in marker["fields"].items()})


def _rebuild_pydantic(marker: dict[str, Any], restore: Restore) -> Any:
    cls: Any = load_type(marker["type_path"], "a pydantic model", _is_pydantic)
    return cls.model_validate(marker["value"])


def _rebuild_ordered_dict(marker: dict[str, Any], restore: Restore) -> Any:
    return OrderedDict((key, restore(value, f".{key}")) for key, value in _pairs(marker["pairs"]))


def _pairs(pairs: object) -> list[tuple[Any, Any]]:
    if not isinstance(pairs, list | tuple) or not all(
        isinstance(p, list | tuple) and len(p) == 2 for p in pairs
    ):
        raise ValueError("ordered_dict pairs must be a list of [key, value] pairs")
    return [(key, value) for key, value in pairs]


def _rebuild_set(marker: dict[str, Any], restore: Restore) -> Any:
    items = [restore(value, f"[{index}]") for index, value in enumerate(marker["items"])]
    return frozenset(items) if marker.get("frozen") else set(items)


def _rebuild_path(marker: dict[str, Any], restore: Restore) -> Any:
    return _PATH_CLASSES.get(str(marker.get("cls", "Path")), pathlib.Path)(marker["value"])


def _rebuild_timedelta(marker: dict[str, Any], restore: Restore) -> Any:
    return dt.timedelta(
        days=marker["days"], seconds=marker["seconds"], microseconds=marker["microseconds"]
    )


_REBUILDERS: dict[str, Callable[[dict[str, Any], Restore], Any]] = {
    "uuid": lambda m, _: uuid.UUID(m["value"]),
    "decimal": lambda m, _: decimal.Decimal(m["value"]),
    "path": _rebuild_path,
    "datetime": lambda m, _: dt.datetime.fromisoformat(m["value"]),
    "date": lambda m, _: dt.date.fromisoformat(m["value"]),
    "time": lambda m, _: dt.time.fromisoformat(m["value"]),
    "timedelta": _rebuild_timedelta,
    "pattern": lambda m, _: re.compile(m["value"], int(m.get("flags", 0))),
    "enum": _rebuild_enum,
    "pydantic": _rebuild_pydantic,
    "dataclass": _rebuild_dataclass,
    "named_tuple": _rebuild_named_tuple,
    "ordered_dict": _rebuild_ordered_dict,
    "set": _rebuild_set,
}


def reconstruct_converted(
    marker: dict[str, Any],
    restore: Restore | None = None,
    custom: Mapping[str, Callable[[Any], Any]] | None = None,
) -> Any:
    """The value a convert marker stands for. ``restore`` rebuilds nested values (default:
    none are rebuilt); ``custom`` maps the ``type_key`` of ``queue.register_type(...,
    reconstructor=)`` entries to their reconstructor. ``ValueError`` for an unknown key."""
    type_key = marker.get("type_key")
    rebuild = _REBUILDERS.get(type_key) if isinstance(type_key, str) else None
    nested: Restore = restore if restore is not None else (lambda value, _suffix: value)
    if rebuild is not None:
        return rebuild(marker, nested)
    reconstructor = (
        None if custom is None or not isinstance(type_key, str) else custom.get(type_key)
    )
    if reconstructor is None:
        raise ValueError(
            f"unknown converted type_key {type_key!r}: register it in the worker's app with "
            "queue.register_type(..., type_key=..., reconstructor=...)"
        )
    return reconstructor(nested(marker.get("value"), ""))


__all__ = [
    "SCALAR_KEYS",
    "STRUCTURED_KEYS",
    "Restore",
    "is_named_tuple_class",
    "load_type",
    "reconstruct_converted",
    "to_marker",
    "type_path",
]
