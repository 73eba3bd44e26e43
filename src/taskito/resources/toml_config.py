"""Resource definitions read from a TOML file: one table per resource,
``[resources.<name>]``, whose ``factory`` (and ``teardown``, ``health_check``) are
``"module:attr"`` or ``"module.attr"`` paths, and whose other keys are the options of
``@queue.worker_resource``."""

from __future__ import annotations

import importlib
import os
from typing import Any

from taskito.resources.definition import ResourceDefinition, check_definition

_CALLABLES = ("factory", "teardown", "health_check")
_OPTIONS = (
    "health_check_interval",
    "health_check_timeout",
    "max_recreation_attempts",
    "scope",
    "depends_on",
    "pool_size",
    "pool_min",
    "acquire_timeout",
    "max_lifetime",
    "idle_timeout",
    "reloadable",
    "frozen",
)


def load_resources_from_toml(path: str | os.PathLike[str]) -> list[ResourceDefinition]:
    """The definitions in ``path``, in file order (``[]`` without a ``resources`` table).
    Every problem raises an error naming the file, the resource and the key: a table that is
    not one, a missing ``factory``, a path that does not import or is not callable, a bad
    option value."""
    import tomllib  # the standard library's since 3.11, taskito's oldest Python

    with open(path, "rb") as handle:
        document = tomllib.load(handle)
    tables = document.get("resources")
    if tables is None:
        return []
    if not isinstance(tables, dict):
        raise ValueError(f"{os.fspath(path)}: 'resources' must be a table of tables")
    return [_definition(os.fspath(path), name, table) for name, table in tables.items()]


def _definition(path: str, name: str, table: object) -> ResourceDefinition:
    where = f"{path}: resource {name!r}"
    if not isinstance(table, dict):
        raise ValueError(f"{where}: expected a table [resources.{name}], got {table!r}")
    if "factory" not in table:
        raise ValueError(f"{where}: missing required 'factory' key")
    options: dict[str, Any] = {key: table[key] for key in _OPTIONS if key in table}
    for key in _CALLABLES:
        if key in table:
            options[key] = import_callable(table[key], f"{where}: {key}")
    try:
        return check_definition(ResourceDefinition(name=name, **options))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from exc


def import_callable(text: object, where: str) -> Any:
    """The callable ``"module:attr"`` (or ``"module.attr"``) names. ``ValueError`` for a
    malformed path or something not callable, ``ImportError`` for a missing module or
    attribute; each names ``where`` and the path."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{where}: expected a 'module:attr' path, got {text!r}")
    module_name, sep, attribute = text.partition(":")
    if not sep:
        module_name, _, attribute = text.rpartition(".")
    if not module_name or not attribute:
        raise ValueError(f"{where}: {text!r} is not a 'module:attr' path")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(f"{where}: cannot import module {module_name!r} ({exc})") from exc
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ImportError(
                f"{where}: module {module_name!r} has no attribute {attribute!r}"
            ) from None
    if not callable(target):
        raise ValueError(f"{where}: {text!r} is not callable ({type(target).__name__})")
    return target


__all__ = ["import_callable", "load_resources_from_toml"]
