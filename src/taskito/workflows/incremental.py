"""Which steps of an incremental run must run again, and which reuse a base run's results
(spec workflows.md §2.10).

A step is cached when its node in the base run completed with a result hash; it is dirty
when that node is missing, did not complete or has no hash, when the caller says so (a
changed input, a result no longer stored), or when any step before it is dirty. A base run
older than the workflow's ``cache_ttl`` makes every step dirty.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from taskito import _checks
from taskito.job import now_ms as _now_ms

#: The base status whose result a new run may reuse.
REUSABLE_STATUS = "completed"

Graph = Mapping[str, Iterable[str]] | None


def compute_dirty_set(
    base_nodes: Mapping[str, Any] | Iterable[Any],
    new_node_names: Iterable[str],
    successors: Graph,
    predecessors: Graph,
    cache_ttl: float | None = None,
    base_run_completed_at: int | None = None,
    now_ms: int | None = None,
    *,
    forced: Collection[str] = (),
) -> tuple[set[str], dict[str, str]]:
    """``(dirty names, {cached name: base result hash})`` over ``new_node_names``.

    ``base_nodes`` is the base run's nodes: a mapping of name to ``(status, result_hash)`` or
    to a record with ``status`` and ``result_hash``, or an iterable of ``(name, status,
    result_hash)`` tuples or of such records with a ``name`` (``WorkflowNodeRecord``).
    ``successors`` and ``predecessors`` map a step to the steps after / before it (either
    may be None; both are read). ``cache_ttl`` is in seconds, ``base_run_completed_at`` and
    ``now_ms`` (default: the clock) in epoch milliseconds. ``forced`` names steps the caller
    already knows are dirty; their successors become dirty too.
    """
    names = list(dict.fromkeys(new_node_names))
    if _expired(cache_ttl, base_run_completed_at, now_ms):
        return set(names), {}
    base = _base_rows(base_nodes)
    wanted = set(names)
    cached: dict[str, str] = {}
    for name in names:
        status, result_hash = base.get(name, (None, None))
        if name not in forced and status == REUSABLE_STATUS and result_hash:
            cached[name] = result_hash
    dirty = wanted - cached.keys()
    after = _successor_map(successors, predecessors)
    frontier = list(dirty)
    while frontier:
        for following in after.get(frontier.pop(), ()):
            if following in cached:
                del cached[following]
                dirty.add(following)
                frontier.append(following)
    return dirty, cached


def _expired(
    cache_ttl: float | None, base_run_completed_at: int | None, now_ms: int | None
) -> bool:
    """True when the base run completed more than ``cache_ttl`` seconds ago."""
    if cache_ttl is None or base_run_completed_at is None:
        return False
    ttl_s = _checks.check_seconds("cache_ttl", cache_ttl)
    completed_at = _checks.check_int("base_run_completed_at", base_run_completed_at)
    now = _now_ms() if now_ms is None else _checks.check_int("now_ms", now_ms)
    return now - completed_at > ttl_s * 1000


def _base_rows(base_nodes: Mapping[str, Any] | Iterable[Any]) -> dict[str, tuple[str, Any]]:
    """Each base node's ``(status, result_hash)`` by name, statuses as plain strings."""
    if isinstance(base_nodes, Mapping):
        return {name: _status_and_hash(value) for name, value in base_nodes.items()}
    rows: dict[str, tuple[str, Any]] = {}
    item: Any
    for item in base_nodes:
        if isinstance(item, tuple | list) and len(item) == 3:
            rows[item[0]] = (str(item[1]), item[2])
        elif hasattr(item, "name"):
            rows[item.name] = _status_and_hash(item)
        else:
            raise TypeError(
                "base_nodes must hold (name, status, result_hash) tuples or node records, "
                f"got {item!r}"
            )
    return rows


def _status_and_hash(value: Any) -> tuple[str, Any]:
    if isinstance(value, tuple | list) and len(value) == 2:
        return str(value[0]), value[1]
    if hasattr(value, "status") and hasattr(value, "result_hash"):
        return str(value.status), value.result_hash
    raise TypeError(
        f"base_nodes must map names to (status, result_hash) pairs or node records, got {value!r}"
    )


def _successor_map(successors: Graph, predecessors: Graph) -> dict[str, set[str]]:
    """Each step's successors, from both maps (a step listed before another in either)."""
    after: dict[str, set[str]] = {}
    for name, followers in (successors or {}).items():
        after.setdefault(name, set()).update(followers)
    for name, befores in (predecessors or {}).items():
        for before in befores:
            after.setdefault(before, set()).add(name)
    return after


__all__ = ["REUSABLE_STATUS", "compute_dirty_set"]
