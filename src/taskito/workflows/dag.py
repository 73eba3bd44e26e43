"""A workflow's compiled DAG: what a stored definition holds (nodes in step order with the
metadata the engine needs, and edges), as JSON and back, and the rule that says which steps
are deferred (created by the engine at run time) and which are static (their jobs enqueued
at submit with ``depends_on``)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: The conditions a step may name (a callable is stored as "callable").
NAMED_CONDITIONS = ("on_success", "on_failure", "always")


@dataclass(frozen=True, slots=True)
class GateMeta:
    """A gate's stored configuration (a callable message is not stored)."""

    timeout_s: float | None
    on_timeout: str
    message: str | None


@dataclass(frozen=True, slots=True)
class NodeMeta:
    """One step of a compiled DAG."""

    name: str
    kind: str
    task_name: str
    after: tuple[str, ...]
    deferred: bool
    queue: str | None = None
    max_retries: int | None = None
    timeout_ms: int | None = None
    priority: int | None = None
    fan_out: str | None = None
    fan_in: str | None = None
    condition: str | None = None
    gate: GateMeta | None = None
    #: (proxy name, version) of a sub-workflow step.
    subworkflow: tuple[str, int] | None = None

    def as_json(self) -> dict[str, Any]:
        gate = self.gate
        return {
            "name": self.name,
            "kind": self.kind,
            "task_name": self.task_name,
            "after": list(self.after),
            "deferred": self.deferred,
            "queue": self.queue,
            "max_retries": self.max_retries,
            "timeout_ms": self.timeout_ms,
            "priority": self.priority,
            "fan_out": self.fan_out,
            "fan_in": self.fan_in,
            "condition": self.condition,
            "gate": None
            if gate is None
            else {
                "timeout": gate.timeout_s,
                "on_timeout": gate.on_timeout,
                "message": gate.message,
            },
            "subworkflow": None
            if self.subworkflow is None
            else {"name": self.subworkflow[0], "version": self.subworkflow[1]},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NodeMeta:
        gate = data.get("gate")
        sub = data.get("subworkflow")
        return cls(
            name=data["name"],
            kind=data["kind"],
            task_name=data["task_name"],
            after=tuple(data["after"]),
            deferred=bool(data["deferred"]),
            queue=data.get("queue"),
            max_retries=data.get("max_retries"),
            timeout_ms=data.get("timeout_ms"),
            priority=data.get("priority"),
            fan_out=data.get("fan_out"),
            fan_in=data.get("fan_in"),
            condition=data.get("condition"),
            gate=None
            if gate is None
            else GateMeta(gate["timeout"], gate["on_timeout"], gate.get("message")),
            subworkflow=None if sub is None else (sub["name"], int(sub["version"])),
        )


@dataclass(frozen=True, slots=True)
class Dag:
    """A compiled workflow: its options and nodes in step order."""

    name: str
    version: int
    on_failure: str
    cache_ttl: float | None
    nodes: dict[str, NodeMeta]
    successors: dict[str, tuple[str, ...]] = field(init=False)

    def __post_init__(self) -> None:
        following: dict[str, list[str]] = {name: [] for name in self.nodes}
        for node in self.nodes.values():
            for before in node.after:
                following[before].append(node.name)
        object.__setattr__(
            self, "successors", {name: tuple(after) for name, after in following.items()}
        )

    def edges(self) -> list[tuple[str, str]]:
        """(from, to) in step-then-``after`` order."""
        return [(before, node.name) for node in self.nodes.values() for before in node.after]

    def to_json(self) -> str:
        return json.dumps(
            {
                "name": self.name,
                "version": self.version,
                "on_failure": self.on_failure,
                "cache_ttl": self.cache_ttl,
                "nodes": [node.as_json() for node in self.nodes.values()],
                "edges": [{"from": a, "to": b, "weight": 1.0} for a, b in self.edges()],
            },
            sort_keys=True,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> Dag:
        data = json.loads(text)
        nodes = [NodeMeta.from_json(item) for item in data["nodes"]]
        return cls(
            name=data["name"],
            version=int(data["version"]),
            on_failure=data["on_failure"],
            cache_ttl=data.get("cache_ttl"),
            nodes={node.name: node for node in nodes},
        )


def dag_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def deferred_steps(steps: Mapping[str, Any], on_failure: str) -> set[str]:
    """Names of the steps the engine creates at run time (workflows spec 2.1): those with a
    fan-out, fan-in or condition, gates and sub-workflows; every step with predecessors when
    the workflow has any condition, gate, sub-workflow or ``on_failure="continue"``; and then
    every step below a deferred one. ``steps`` maps names to the builder's ``StepSpec``s, in
    step order (predecessors first)."""
    dynamic = on_failure == "continue" or any(
        spec.condition is not None or spec.gate is not None or spec.subworkflow is not None
        for spec in steps.values()
    )
    deferred: set[str] = set()
    for name, spec in steps.items():
        own = (
            spec.fan_out is not None
            or spec.fan_in is not None
            or spec.condition is not None
            or spec.gate is not None
            or spec.subworkflow is not None
        )
        if own or (dynamic and spec.after) or any(p in deferred for p in spec.after):
            deferred.add(name)
    return deferred


def node_kind(spec: Any) -> str:
    if spec.gate is not None:
        return "gate"
    if spec.subworkflow is not None:
        return "subworkflow"
    if spec.fan_out is not None:
        return "fan_out"
    if spec.fan_in is not None:
        return "fan_in"
    return "task"


def condition_name(condition: object) -> str | None:
    if condition is None or isinstance(condition, str):
        return condition
    return "callable"


__all__ = [
    "NAMED_CONDITIONS",
    "Dag",
    "GateMeta",
    "NodeMeta",
    "condition_name",
    "dag_digest",
    "deferred_steps",
    "node_kind",
]
