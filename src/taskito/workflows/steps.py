"""Starting a deferred node once its predecessors are terminal (workflows spec 2.5, 2.7,
2.9): its condition decides whether it is skipped; then a task node gets its job, a gate is
entered, a fan-out is expanded into children, a fan-in gets its job with the children's
results, a sub-workflow starts its child run. And settling the parents: a fan-out whose
children are done, a sub-workflow node whose child run ended."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from taskito.job import NewJob
from taskito.queue.payloads import decoded_arguments
from taskito.storage.workflow_contract import NODE_TERMINAL, RUN_TERMINAL, WorkflowNodeRecord
from taskito.workflows import gates, jobs
from taskito.workflows.compile import RunLinks, compile_run
from taskito.workflows.conditions import context_fields, decide, load_condition
from taskito.workflows.results import node_result, run_results
from taskito.workflows.submit import store

if TYPE_CHECKING:
    from taskito.storage.workflow_contract import WorkflowRunRecord
    from taskito.workflows.dag import Dag, NodeMeta
    from taskito.workflows.driver import Driver

logger = logging.getLogger("taskito.workflows")

#: A sub-workflow node whose child run is still missing this long after the node started:
#: the process that started it died between its two writes.
CHILD_MISSING_MS = 60_000


def start(
    engine: Driver,
    run: WorkflowRunRecord,
    dag: Dag,
    nodes: dict[str, WorkflowNodeRecord],
    node: WorkflowNodeRecord,
    meta: NodeMeta,
    now: int,
) -> bool:
    """Evaluate ``node``'s condition and start or skip it; True when it changed."""
    predecessors = [nodes[name] for name in meta.after]
    if meta.kind == "fan_in" and predecessors[0].status != "completed":
        return _skip(engine, node, now)
    call = None
    if meta.condition == "callable" and node.condition_blob is not None:
        blob = node.condition_blob

        def call() -> Any:
            from taskito.workflows.types import WorkflowContext

            condition = load_condition(engine.queue._signer, run.id, node.name, blob)
            return condition(
                WorkflowContext(**context_fields(run.id, nodes, run_results(engine, nodes)))
            )

    if not decide(meta.condition, predecessors, call):
        return _skip(engine, node, now)
    try:
        if meta.kind == "gate":
            return gates.enter(engine, node, meta, now)
        if meta.kind == "subworkflow":
            return _start_child(engine, run, node, meta, now)
        if meta.kind == "fan_out":
            return _expand(engine, run, nodes, node, meta, predecessors[0], now)
        if meta.kind == "fan_in":
            return _gather(engine, run, nodes, node, meta, predecessors[0], now)
        assert node.payload is not None, f"deferred node {node.name} has no payload"
        job = jobs.stored_payload_job(engine.queue, meta, run.id, node.payload, now)
    except Exception as exc:
        logger.exception("workflow run %s: node %r could not start", run.id, node.name)
        return _fail(engine, node, f"{type(exc).__name__}: {exc}", now)
    return _attach(engine, node, job, now)


def _attach(engine: Driver, node: WorkflowNodeRecord, job: NewJob, now: int) -> bool:
    return engine.set_node(
        node, {"status": "ready", "job_id": job.id, "started_at": now}, new_jobs=[job]
    )


def _skip(engine: Driver, node: WorkflowNodeRecord, now: int) -> bool:
    return engine.set_node(node, {"status": "skipped", "completed_at": now})


def _fail(engine: Driver, node: WorkflowNodeRecord, error: str, now: int) -> bool:
    return engine.set_node(node, {"status": "failed", "error": error, "completed_at": now})


# --- fan-out and fan-in -----------------------------------------------------------------------


def _expand(
    engine: Driver,
    run: WorkflowRunRecord,
    nodes: dict[str, WorkflowNodeRecord],
    node: WorkflowNodeRecord,
    meta: NodeMeta,
    source: WorkflowNodeRecord,
    now: int,
) -> bool:
    """One child per item of the source's result, each with its job, in one write."""
    if source.status not in ("completed", "cache_hit"):
        return _skip(engine, node, now)
    result = node_result(engine, source)
    try:
        items = list(result)
    except TypeError:
        error = f"fan_out='each' requires an iterable result, got {type(result).__name__}"
        return _fail(engine, node, error, now)
    if not items:
        return engine.set_node(
            node,
            {"status": "completed", "fan_out_count": 0, "started_at": now, "completed_at": now},
        )
    first = max(n.position for n in nodes.values()) + 1
    children: list[WorkflowNodeRecord] = []
    child_jobs: list[NewJob] = []
    for index, item in enumerate(items):
        name = f"{node.name}[{index}]"
        job = jobs.call_job(engine.queue, meta, run.id, name, (item,), {}, now)
        child_jobs.append(job)
        children.append(
            WorkflowNodeRecord(
                run_id=run.id,
                name=name,
                kind="fan_out_child",
                status="pending",
                position=first + index,
                job_id=job.id,
                fan_out_index=index,
                started_at=now,
            )
        )
    return engine.set_node(
        node,
        {"status": "running", "fan_out_count": len(items), "started_at": now},
        new_nodes=children,
        new_jobs=child_jobs,
    )


def children_of(nodes: dict[str, WorkflowNodeRecord], parent: str) -> list[WorkflowNodeRecord]:
    """A fan-out's children by their stored index."""
    prefix = parent + "["
    found = [
        n
        for n in nodes.values()
        if n.kind == "fan_out_child" and n.fan_out_index is not None and n.name.startswith(prefix)
    ]
    return sorted(found, key=lambda n: n.fan_out_index or 0)


def _gather(
    engine: Driver,
    run: WorkflowRunRecord,
    nodes: dict[str, WorkflowNodeRecord],
    node: WorkflowNodeRecord,
    meta: NodeMeta,
    parent: WorkflowNodeRecord,
    now: int,
) -> bool:
    """The fan-in's job, called with the children's results in index order."""
    results = [node_result(engine, child) for child in children_of(nodes, parent.name)]
    job = jobs.call_job(engine.queue, meta, run.id, node.name, (results,), {}, now)
    return _attach(engine, node, job, now)


def settle_fan_out(
    engine: Driver, nodes: dict[str, WorkflowNodeRecord], node: WorkflowNodeRecord, now: int
) -> bool:
    children = children_of(nodes, node.name)
    if any(child.status not in NODE_TERMINAL for child in children):
        return False
    statuses = {child.status for child in children}
    if "failed" in statuses:
        change: dict[str, object] = {"status": "failed", "error": "fan-out child failed"}
    elif "skipped" in statuses:
        change = {"status": "skipped"}
    else:
        change = {"status": "completed"}
    return engine.set_node(node, {**change, "completed_at": now})


# --- sub-workflows ----------------------------------------------------------------------------


def _start_child(
    engine: Driver, run: WorkflowRunRecord, node: WorkflowNodeRecord, meta: NodeMeta, now: int
) -> bool:
    """Build the child workflow, mark the node running with the child's id, store the child
    run and advance it."""
    from taskito.ids import new_job_id

    assert meta.subworkflow is not None
    proxy_name, _version = meta.subworkflow
    try:
        proxy = engine.queue._workflow_registry.get(proxy_name)
        if proxy is None:
            raise LookupError(f"no workflow named {proxy_name!r} is registered on this queue")
        params: dict[str, Any] = {}
        if node.payload is not None:
            key = jobs.node_key(run.id, node.name)
            _args, params = decoded_arguments(engine.queue, meta.task_name, node.payload, key)
        child_id = new_job_id()
        compiled = compile_run(
            engine.queue,
            proxy.build(**params),
            child_id,
            now,
            links=RunLinks(parent_run_id=run.id, parent_node_name=node.name),
        )
    except Exception as exc:
        return _fail(engine, node, f"sub-workflow submit failed: {exc}", now)
    if not engine.set_node(
        node, {"status": "running", "child_run_id": child_id, "started_at": now}
    ):
        return False
    try:
        store(engine, compiled)
    except Exception as exc:
        logger.exception("workflow run %s: sub-workflow %r could not be stored", run.id, node.name)
        fresh = engine.nodes(run.id).get(node.name)
        if fresh is not None:
            _fail(engine, fresh, f"sub-workflow submit failed: {exc}", now)
        return True
    engine.advance(child_id)
    return True


def settle_subworkflow(engine: Driver, node: WorkflowNodeRecord, now: int) -> bool:
    """Settle a running sub-workflow node whose child ended (normally the child's own
    finalize does it in the same write) or was never stored."""
    if node.child_run_id is None:
        return False
    child = engine.storage.get_workflow_run(node.child_run_id)
    if child is None:
        if (node.started_at or now) + CHILD_MISSING_MS > now:
            return False
        return _fail(engine, node, f"sub-workflow {node.child_run_id} was never stored", now)
    if child.state not in RUN_TERMINAL:
        return False
    if child.state == "completed":
        return engine.set_node(node, {"status": "completed", "completed_at": now})
    error = f"sub-workflow {child.id} {child.state}: {child.error}"
    return _fail(engine, node, error, now)


__all__ = ["children_of", "settle_fan_out", "settle_subworkflow", "start"]
