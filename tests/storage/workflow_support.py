"""Builders for the workflow half of the storage contract suite (test_workflow_*.py): records
of definitions, runs and nodes, and stored runs with or without jobs."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from taskito.ids import new_job_id
from taskito.job import NewJob, now_ms
from taskito.storage.workflow_contract import (
    WorkflowDefinitionRecord,
    WorkflowNodeRecord,
    WorkflowRunRecord,
)
from tests.storage.factories import make_job

if TYPE_CHECKING:
    from taskito.storage.base import Storage
    from taskito.storage.workflow_contract import WorkflowStorage

    class Store(Storage, WorkflowStorage):
        """A backend with both halves (for type hints only)."""

else:
    Store = Any


def definition(name: str = "pipeline", dag: str = '{"nodes": []}', **fields: Any) -> Any:
    values: dict[str, Any] = {
        "id": new_job_id(),
        "name": name,
        "version": 1,
        "digest": hashlib.sha256(dag.encode()).hexdigest(),
        "dag": dag,
        "created_at": now_ms(),
    }
    values.update(fields)
    return WorkflowDefinitionRecord(**values)


def run_record(**fields: Any) -> WorkflowRunRecord:
    values: dict[str, Any] = {
        "id": new_job_id(),
        "definition_id": "def-1",
        "name": "pipeline",
        "version": 1,
        "namespace": None,
        "state": "running",
        "on_failure": "fail_fast",
        "started_at": now_ms(),
    }
    values.update(fields)
    return WorkflowRunRecord(**values)


def node(run_id: str, name: str, position: int, **fields: Any) -> WorkflowNodeRecord:
    values: dict[str, Any] = {"kind": "task", "status": "pending"}
    values.update(fields)
    return WorkflowNodeRecord(run_id=run_id, name=name, position=position, **values)


def new_run(wf: Store, *names: str, **fields: Any) -> WorkflowRunRecord:
    """A stored run with one pending deferred node per name (no jobs)."""
    run = run_record(**fields)
    wf.create_workflow_run(run, [node(run.id, name, i) for i, name in enumerate(names)], [])
    return run


def run_with_job(wf: Store, **job_fields: Any) -> tuple[WorkflowRunRecord, NewJob]:
    """A stored run whose one node "step" owns a due job (in a queue of its own)."""
    run = run_record()
    job = make_job(queue=f"solo-{new_job_id()}", **job_fields)
    wf.create_workflow_run(run, [node(run.id, "step", 0, job_id=job.id)], [job])
    return run, job


def the_node(wf: Store, run_id: str, name: str) -> WorkflowNodeRecord:
    found = [n for n in wf.workflow_nodes(run_id) if n.name == name]
    assert found, f"node {name!r} of run {run_id} is missing"
    return found[0]


def the_run(wf: Store, run_id: str) -> WorkflowRunRecord:
    run = wf.get_workflow_run(run_id)
    assert run is not None, f"run {run_id} is missing"
    return run
