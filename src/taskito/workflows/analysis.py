"""Analysis of a workflow's DAG before it runs: ancestry, levels, size figures, the critical
path under given step costs, a plan for a number of workers, and the bottleneck.

Every function takes the graph as ``predecessors``: each step's name mapped to the names it
runs after, steps in the order they were added (``Workflow.predecessors()``). Nothing here
touches storage or the clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from taskito import _checks

Predecessors = Mapping[str, Sequence[str]]


def successors_of(predecessors: Predecessors) -> dict[str, list[str]]:
    """Each step's direct successors, in step order."""
    successors: dict[str, list[str]] = {name: [] for name in predecessors}
    for name, befores in predecessors.items():
        for before in befores:
            successors[before].append(name)
    return successors


def ancestors(predecessors: Predecessors, name: str) -> list[str]:
    """Every step ``name`` runs after, directly or not, sorted; ``KeyError`` if unknown."""
    return _reachable(predecessors, name)


def descendants(predecessors: Predecessors, name: str) -> list[str]:
    """Every step that runs after ``name``, directly or not, sorted; ``KeyError`` if unknown."""
    _require(predecessors, name)
    return _reachable(successors_of(predecessors), name)


def topological_levels(predecessors: Predecessors) -> list[list[str]]:
    """Kahn's algorithm by level: the roots, then the steps whose predecessors are all in
    earlier levels, and so on; each level sorted by name."""
    waiting = {name: len(befores) for name, befores in predecessors.items()}
    successors = successors_of(predecessors)
    level = sorted(name for name, count in waiting.items() if count == 0)
    levels: list[list[str]] = []
    while level:
        levels.append(level)
        following: list[str] = []
        for name in level:
            for after in successors[name]:
                waiting[after] -= 1
                if waiting[after] == 0:
                    following.append(after)
        level = sorted(following)
    return levels


def stats(predecessors: Predecessors) -> dict[str, Any]:
    """``{nodes, edges, depth, width, density}``: depth is the number of levels, width the
    largest level, density the edges over the n(n-1)/2 possible (1 when n <= 1), to 4 places."""
    levels = topological_levels(predecessors)
    nodes = len(predecessors)
    edges = sum(len(befores) for befores in predecessors.values())
    possible = nodes * (nodes - 1) / 2 if nodes > 1 else 1
    return {
        "nodes": nodes,
        "edges": edges,
        "depth": len(levels),
        "width": max((len(level) for level in levels), default=0),
        "density": round(edges / possible, 4),
    }


def critical_path(
    predecessors: Predecessors, costs: Mapping[str, float]
) -> tuple[list[str], float]:
    """The costliest chain of steps and its total cost (a step missing from ``costs`` costs
    0). Among a step's predecessors the first wins unless a later one costs strictly more;
    the path ends at the first step, in level order, with the largest total."""
    costs = _check_costs(costs)
    totals: dict[str, float] = {}
    via: dict[str, str | None] = {}
    order = [name for level in topological_levels(predecessors) for name in level]
    for name in order:
        best: str | None = None
        for before in predecessors[name]:
            if best is None or totals[before] > totals[best]:
                best = before
        via[name] = best
        totals[name] = costs.get(name, 0.0) + (totals[best] if best is not None else 0.0)
    if not order:
        return [], 0.0
    end = order[0]
    for name in order:
        if totals[name] > totals[end]:
            end = name
    path: list[str] = []
    step: str | None = end
    while step is not None:
        path.append(step)
        step = via[step]
    path.reverse()
    return path, totals[end]


def execution_plan(predecessors: Predecessors, max_workers: int = 1) -> list[list[str]]:
    """The levels cut into batches of at most ``max_workers`` steps, to run one after another."""
    workers = _checks.check_int("max_workers", max_workers, minimum=1)
    return [
        level[start : start + workers]
        for level in topological_levels(predecessors)
        for start in range(0, len(level), workers)
    ]


def bottleneck_analysis(predecessors: Predecessors, costs: Mapping[str, float]) -> dict[str, Any]:
    """The costliest step on the critical path (the first on a tie), its share of the path's
    total, and a suggestion; with no path or a zero total, None and zeros."""
    path, total = critical_path(predecessors, costs)
    if not path or total == 0:
        return {
            "node": None,
            "cost": 0.0,
            "percentage": 0.0,
            "critical_path": [],
            "total_cost": 0.0,
            "suggestion": None,
        }
    checked = _check_costs(costs)
    node = path[0]
    for name in path:
        if checked.get(name, 0.0) > checked.get(node, 0.0):
            node = name
    cost = checked.get(node, 0.0)
    percentage = round(cost / total * 100, 1)
    return {
        "node": node,
        "cost": cost,
        "percentage": percentage,
        "critical_path": path,
        "total_cost": total,
        "suggestion": (
            f"{node} is the bottleneck ({percentage}% of total time). Consider increasing "
            "max_concurrent or optimizing this step."
        ),
    }


def _require(graph: Mapping[str, Any], name: str) -> None:
    if name not in graph:
        raise KeyError(f"unknown step {name!r}")


def _reachable(graph: Mapping[str, Sequence[str]], name: str) -> list[str]:
    """Every node reached from ``name`` along ``graph``'s lists, ``name`` excluded, sorted."""
    _require(graph, name)
    seen: set[str] = set()
    stack = list(graph[name])
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(graph[current])
    return sorted(seen)


def _check_costs(costs: object) -> dict[str, float]:
    """``costs`` as floats; a mapping of step names to numbers, or ``TypeError``."""
    if not isinstance(costs, Mapping):
        raise TypeError(
            f"costs must be a mapping of step names to numbers, not {type(costs).__name__}"
        )
    checked: dict[str, float] = {}
    for name, cost in costs.items():
        if not _checks.is_number(cost):
            raise TypeError(f"the cost of {name!r} must be a number, not {type(cost).__name__}")
        checked[name] = float(cost)
    return checked


__all__ = [
    "ancestors",
    "bottleneck_analysis",
    "critical_path",
    "descendants",
    "execution_plan",
    "stats",
    "successors_of",
    "topological_levels",
]
