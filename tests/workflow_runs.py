"""Workflow runs written straight through the storage contract, in any state a test needs
(a gate waiting, a fan-out half done, a failed run with a child run), without an engine or a
worker: the surfaces' tests read them back through the Queue, the CLI and the dashboard."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from taskito import Queue
from taskito.job import now_ms
from taskito.storage.workflow_contract import (
    WorkflowDefinitionRecord,
    WorkflowNodeRecord,
    WorkflowRunRecord,
    WorkflowStorage,
)


@dataclass(frozen=True)
class Node:
    """One node row: ``name`` and ``kind``, its ``status`` and optional fields."""

    name: str
    status: str = "pending"
    kind: str = "task"
    job_id: str | None = None
    error: str | None = None
    fan_out_index: int | None = None
    child_run_id: str | None = None
    gate_deadline_at: int | None = None


@dataclass
class StoredRun:
    """What ``store_run`` wrote."""

    id: str
    name: str
    steps: list[str]
    edges: list[tuple[str, str]]
    nodes: list[Node] = field(default_factory=list)


def workflow_storage(queue: Queue) -> WorkflowStorage:
    storage = queue._storage
    assert isinstance(storage, WorkflowStorage), f"{storage.describe()} stores no workflows"
    return storage


def store_run(
    queue: Queue,
    name: str,
    steps: Sequence[str],
    edges: Sequence[tuple[str, str]],
    nodes: Sequence[Node],
    *,
    state: str = "running",
    started_at: int | None = None,
    error: str | None = None,
    parent: tuple[str, str] | None = None,
    run_id: str | None = None,
) -> StoredRun:
    """Save a definition of ``steps`` and ``edges`` and one run of it with ``nodes`` (in
    that order) in ``state``, in the Queue's namespace."""
    storage = workflow_storage(queue)
    dag = json.dumps(
        {
            "nodes": [{"name": step} for step in steps],
            "edges": [{"from": src, "to": dst} for src, dst in edges],
        }
    )
    definition = storage.save_workflow_definition(
        WorkflowDefinitionRecord(
            id=str(uuid.uuid4()),
            name=name,
            version=1,
            digest=hashlib.sha256(dag.encode()).hexdigest(),
            dag=dag,
            created_at=now_ms(),
        )
    )
    started = now_ms() if started_at is None else started_at
    run = WorkflowRunRecord(
        id=run_id or str(uuid.uuid4()),
        definition_id=definition.id,
        name=name,
        version=1,
        namespace=queue.namespace,
        state=state,
        on_failure="fail_fast",
        started_at=started,
        completed_at=None if state in ("running", "pending") else started + 5,
        error=error,
        parent_run_id=None if parent is None else parent[0],
        parent_node_name=None if parent is None else parent[1],
    )
    records = [
        WorkflowNodeRecord(
            run_id=run.id,
            name=node.name,
            kind=node.kind,
            status=node.status,
            position=position,
            job_id=node.job_id,
            error=node.error,
            fan_out_index=node.fan_out_index,
            child_run_id=node.child_run_id,
            gate_deadline_at=node.gate_deadline_at,
        )
        for position, node in enumerate(nodes)
    ]
    storage.create_workflow_run(run, records, [])
    return StoredRun(run.id, name, list(steps), list(edges), list(nodes))


def fan_out_run(queue: Queue, *, started_at: int | None = None) -> StoredRun:
    """``source -> process (fan-out of 3; one done, one failed, one pending) -> total``."""
    return store_run(
        queue,
        "fan",
        ["source", "process", "total"],
        [("source", "process"), ("process", "total")],
        [
            Node("source", "completed"),
            Node("process", "running", kind="fan_out"),
            Node("total", "pending", kind="fan_in"),
            Node("process[0]", "completed", kind="fan_out_child", fan_out_index=0),
            Node("process[2]", "pending", kind="fan_out_child", fan_out_index=2),
            Node("process[1]", "failed", kind="fan_out_child", fan_out_index=1, error="boom"),
        ],
        started_at=started_at,
    )


def gate_run(queue: Queue, *, started_at: int | None = None) -> StoredRun:
    """``build -> review (a gate, waiting) -> ship``."""
    return store_run(
        queue,
        "release",
        ["build", "review", "ship"],
        [("build", "review"), ("review", "ship")],
        [
            Node("build", "completed"),
            Node("review", "waiting_approval", kind="gate", gate_deadline_at=now_ms() + 60_000),
            Node("ship", "pending"),
        ],
        started_at=started_at,
    )
