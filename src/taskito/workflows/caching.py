"""Which steps an incremental run reuses from its base run (workflows spec 2.10, ours): the
builder's ``compute_dirty_set`` over the base run's nodes, where a base node only counts
when it is a plain task step whose predecessors are plain task steps too, whose input digest
(task and arguments) is unchanged and whose result is still stored."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from taskito.workflows.compile import compile_dag, input_digests
from taskito.workflows.incremental import compute_dirty_set
from taskito.workflows.results import result_job

if TYPE_CHECKING:
    from taskito.storage.workflow_contract import WorkflowNodeRecord
    from taskito.workflows.dag import Dag
    from taskito.workflows.driver import Driver


def cached_steps(engine: Driver, workflow: Any, base_run_id: str, now: int) -> dict[str, str]:
    """``{step: base result hash}`` of the steps the new run reuses."""
    base = engine.storage.get_workflow_run(base_run_id)
    if base is None:
        raise ValueError(f"base run '{base_run_id}' not found")
    dag = compile_dag(workflow)
    digests = input_digests(engine.queue, workflow)
    usable = [
        node
        for node in engine.storage.workflow_nodes(base_run_id)
        if _reusable(engine, dag, digests, node)
    ]
    # A cache hit of the base run stands for the completed node it reused.
    base_nodes = [(node.name, "completed", node.result_hash) for node in usable]
    _dirty, cached = compute_dirty_set(
        base_nodes,
        list(dag.nodes),
        {name: list(after) for name, after in dag.successors.items()},
        {name: list(meta.after) for name, meta in dag.nodes.items()},
        cache_ttl=dag.cache_ttl,
        base_run_completed_at=base.completed_at,
        now_ms=now,
    )
    return dict(cached)


def _reusable(engine: Driver, dag: Dag, digests: dict[str, str], node: WorkflowNodeRecord) -> bool:
    meta = dag.nodes.get(node.name)
    if meta is None or meta.kind != "task" or node.result_hash is None:
        return False
    if any(dag.nodes[p].kind != "task" for p in meta.after):
        return False
    if node.input_digest is None or node.input_digest != digests.get(node.name):
        return False
    return result_job(engine, node) is not None


__all__ = ["cached_steps"]
