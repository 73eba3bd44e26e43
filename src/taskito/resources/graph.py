"""The order resources are built in: dependencies first (Kahn's algorithm, ties broken by
name so the order is the same on every run), and the cycle check run at registration."""

from __future__ import annotations

import heapq
from collections.abc import Mapping

from taskito.exceptions import CircularDependencyError
from taskito.resources.definition import ResourceDefinition


def topological_sort(definitions: Mapping[str, ResourceDefinition]) -> list[str]:
    """Names with every dependency before its dependents; roots in name order, and dependents
    released in name order. ``KeyError`` names an unknown dependency; a cycle raises
    ``CircularDependencyError`` with its path."""
    waiting: dict[str, int] = {}
    dependents: dict[str, list[str]] = {name: [] for name in definitions}
    for name, defn in definitions.items():
        for dep in defn.depends_on:
            if dep not in definitions:
                raise KeyError(f"resource {name!r} depends on {dep!r}, which is not registered")
            dependents[dep].append(name)
        waiting[name] = len(set(defn.depends_on))
    ready = [name for name, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        name = heapq.heappop(ready)
        order.append(name)
        for dependent in sorted(set(dependents[name])):
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                heapq.heappush(ready, dependent)
    if len(order) != len(definitions):
        path = detect_cycle(definitions) or sorted(set(definitions) - set(order))
        raise CircularDependencyError(f"Circular dependency detected: {' -> '.join(path)}")
    return order


def detect_cycle(definitions: Mapping[str, ResourceDefinition]) -> list[str] | None:
    """A closed path such as ``["a", "b", "a"]`` when some resources depend on each other in
    a cycle, else None. Unknown dependencies are ignored (they may be registered later)."""
    done: set[str] = set()
    for start in sorted(definitions):
        if start in done:
            continue
        path: list[str] = []
        on_path: set[str] = set()
        # An explicit stack of (name, its dependencies still to visit): no recursion limit.
        stack: list[tuple[str, list[str]]] = [(start, _deps(definitions, start))]
        path.append(start)
        on_path.add(start)
        while stack:
            name, pending = stack[-1]
            if not pending:
                stack.pop()
                path.pop()
                on_path.discard(name)
                done.add(name)
                continue
            dep = pending.pop(0)
            if dep in on_path:
                return [*path[path.index(dep) :], dep]
            if dep in done:
                continue
            stack.append((dep, _deps(definitions, dep)))
            path.append(dep)
            on_path.add(dep)
    return None


def _deps(definitions: Mapping[str, ResourceDefinition], name: str) -> list[str]:
    return [d for d in definitions[name].depends_on if d in definitions]


def dependents_of(definitions: Mapping[str, ResourceDefinition], name: str) -> set[str]:
    """Every resource that depends on ``name``, directly or through others."""
    found: set[str] = set()
    frontier = [name]
    while frontier:
        current = frontier.pop()
        for other, defn in definitions.items():
            if current in defn.depends_on and other not in found:
                found.add(other)
                frontier.append(other)
    return found


__all__ = ["dependents_of", "detect_cycle", "topological_sort"]
