"""``Inject["name"]``: a parameter annotation that asks the worker for the resource ``name``
(the same as listing it in ``@queue.task(inject=[...])``)::

    @queue.task()
    def report(day: str, db: Inject["db"]) -> int: ...
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any


class _InjectAlias:
    """What ``Inject["name"]`` gives: the resource's name, as an annotation."""

    __slots__ = ("resource_name",)

    def __init__(self, resource_name: str) -> None:
        self.resource_name = resource_name

    def __repr__(self) -> str:
        return f'Inject["{self.resource_name}"]'

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _InjectAlias) and other.resource_name == self.resource_name

    def __hash__(self) -> int:
        return hash(("taskito.Inject", self.resource_name))


class _InjectFactory:
    def __getitem__(self, resource_name: str) -> _InjectAlias:
        if not isinstance(resource_name, str) or not resource_name:
            raise TypeError(f'Inject["name"] needs a resource name, got {resource_name!r}')
        return _InjectAlias(resource_name)

    def __repr__(self) -> str:
        return "Inject"


#: ``Inject["db"]`` annotates a parameter that receives the worker resource ``db``.
Inject = _InjectFactory()


def injected_parameters(fn: Callable[..., Any]) -> list[str]:
    """The resource names of ``fn``'s parameters annotated ``Inject["name"]``, in parameter
    order. String annotations (``from __future__ import annotations``) are evaluated with
    ``Inject`` in scope; one that cannot be evaluated is read as written."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return []
    try:
        hints = typing.get_type_hints(
            fn, globalns={**getattr(fn, "__globals__", {}), "Inject": Inject}
        )
    except Exception:
        hints = {}
    names: list[str] = []
    for parameter in signature.parameters.values():
        annotation = hints.get(parameter.name, parameter.annotation)
        if isinstance(annotation, str):
            annotation = _parse_string(annotation)
        if isinstance(annotation, _InjectAlias) and annotation.resource_name not in names:
            names.append(annotation.resource_name)
    return names


def merge_injected(explicit: tuple[str, ...], fn: Callable[..., Any]) -> tuple[str, ...]:
    """``inject=`` names, then those of ``fn``'s ``Inject["name"]`` annotations, once each."""
    return tuple(dict.fromkeys([*explicit, *injected_parameters(fn)]))


def _parse_string(text: str) -> _InjectAlias | None:
    """``'Inject["db"]'`` (or with single quotes) read without evaluating anything."""
    text = text.strip()
    for prefix in ("Inject[", "taskito.Inject["):
        if text.startswith(prefix) and text.endswith("]"):
            inner = text[len(prefix) : -1].strip()
            if len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "\"'":
                return _InjectAlias(inner[1:-1])
    return None


__all__ = ["Inject", "_InjectAlias", "injected_parameters", "merge_injected"]
