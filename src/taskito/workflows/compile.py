"""A ``Workflow`` turned into what ``create_workflow_run`` stores in one transaction: its
definition (the DAG as JSON, keyed by name, version and digest), the run row (born
``running``), one node row per step and the jobs of its static steps (workflows spec 2.1,
2.2). Deferred task steps keep their encoded payload on the node, callable conditions their
signed pickle, sub-workflow steps their encoded params; cached steps become ``cache_hit``
rows."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from taskito.exceptions import SerializationError
from taskito.ids import new_job_id
from taskito.job import NewJob
from taskito.storage.workflow_contract import (
    WorkflowDefinitionRecord,
    WorkflowNodeRecord,
    WorkflowRunRecord,
)
from taskito.workflows import jobs
from taskito.workflows.conditions import seal_condition
from taskito.workflows.dag import (
    Dag,
    GateMeta,
    NodeMeta,
    condition_name,
    dag_digest,
    deferred_steps,
    node_kind,
)

if TYPE_CHECKING:
    from taskito.queue.state import QueueBase


@dataclass(frozen=True, slots=True)
class CompiledRun:
    """Everything one submit stores."""

    dag: Dag
    definition: WorkflowDefinitionRecord
    run: WorkflowRunRecord
    nodes: list[WorkflowNodeRecord]
    jobs: list[NewJob]


@dataclass(frozen=True, slots=True)
class RunLinks:
    """Where a run sits: the parent's node that started it, the base of an incremental run."""

    parent_run_id: str | None = None
    parent_node_name: str | None = None
    base_run_id: str | None = None


def compile_dag(workflow: Any) -> Dag:
    """The definition of ``workflow`` (the builder's ``Workflow``)."""
    steps = workflow.steps
    deferred = deferred_steps(steps, workflow.on_failure)
    nodes: dict[str, NodeMeta] = {}
    for name, spec in steps.items():
        gate = spec.gate
        sub = spec.subworkflow
        nodes[name] = NodeMeta(
            name=name,
            kind=node_kind(spec),
            task_name=spec.task_name,
            after=tuple(spec.after),
            deferred=name in deferred,
            queue=spec.queue,
            max_retries=spec.max_retries,
            timeout_ms=spec.timeout_ms,
            priority=spec.priority,
            fan_out=spec.fan_out,
            fan_in=spec.fan_in,
            condition=condition_name(spec.condition),
            gate=None
            if gate is None
            else GateMeta(
                gate.timeout,
                gate.on_timeout,
                gate.message if isinstance(gate.message, str) else None,
            ),
            subworkflow=None if sub is None else (sub.proxy.name, int(sub.proxy.version)),
        )
    return Dag(
        name=workflow.name,
        version=int(workflow.version),
        on_failure=workflow.on_failure,
        cache_ttl=workflow.cache_ttl,
        nodes=nodes,
    )


def input_digests(queue: QueueBase, workflow: Any) -> dict[str, str]:
    """The input digest of each plain task step (what incremental runs compare)."""
    return {
        name: jobs.input_digest(queue, spec.task_name, tuple(spec.args), dict(spec.kwargs))
        for name, spec in workflow.steps.items()
        if node_kind(spec) == "task"
    }


def compile_run(
    queue: QueueBase,
    workflow: Any,
    run_id: str,
    now: int,
    *,
    links: RunLinks = RunLinks(),
    cached: Mapping[str, str] | None = None,
) -> CompiledRun:
    """The rows of a new run of ``workflow``; ``cached`` maps the names of steps an
    incremental run reuses to their base result hash. Raises ``SerializationError`` naming
    the step whose arguments or condition cannot be stored."""
    dag = compile_dag(workflow)
    text = dag.to_json()
    definition = WorkflowDefinitionRecord(
        id=new_job_id(),
        name=dag.name,
        version=dag.version,
        digest=dag_digest(text),
        dag=text,
        created_at=now,
    )
    nodes, new_jobs = _node_rows(queue, workflow, dag, run_id, now, cached or {})
    run = WorkflowRunRecord(
        id=run_id,
        definition_id=definition.id,
        name=dag.name,
        version=dag.version,
        namespace=queue.namespace,
        state="running",
        on_failure=dag.on_failure,
        started_at=now,
        parent_run_id=links.parent_run_id,
        parent_node_name=links.parent_node_name,
        base_run_id=links.base_run_id,
    )
    return CompiledRun(dag, definition, run, nodes, new_jobs)


def _node_rows(
    queue: QueueBase,
    workflow: Any,
    dag: Dag,
    run_id: str,
    now: int,
    cached: Mapping[str, str],
) -> tuple[list[WorkflowNodeRecord], list[NewJob]]:
    """One node per step in step order, and the jobs of the static ones (``depends_on`` the
    jobs of their predecessors; a cached predecessor has none)."""
    digests = input_digests(queue, workflow)
    nodes: list[WorkflowNodeRecord] = []
    new_jobs: list[NewJob] = []
    job_of: dict[str, str] = {}
    for position, (name, spec) in enumerate(workflow.steps.items()):
        meta = dag.nodes[name]
        row = WorkflowNodeRecord(
            run_id=run_id,
            name=name,
            kind=meta.kind,
            status="pending",
            position=position,
            input_digest=digests.get(name),
        )
        if name in cached:
            row = replace(
                row, status="cache_hit", result_hash=cached[name], started_at=now, completed_at=now
            )
        elif not meta.deferred:
            depends = tuple(job_of[p] for p in meta.after if p in job_of)
            args, kwargs = tuple(spec.args), dict(spec.kwargs)
            with _naming_the_step(name):
                job = jobs.call_job(
                    queue, meta, run_id, name, args, kwargs, now, depends_on=depends
                )
            job_of[name] = job.id
            new_jobs.append(job)
            row = replace(row, job_id=job.id)
        else:
            with _naming_the_step(name):
                row = _deferred_node(queue, spec, meta, row)
        nodes.append(row)
    return nodes, new_jobs


@contextmanager
def _naming_the_step(name: str) -> Iterator[None]:
    """An argument that cannot be stored fails the submit naming its step."""
    try:
        yield
    except SerializationError as exc:
        if f"step {name!r}" in str(exc):
            raise
        raise SerializationError(f"step {name!r}: {exc}") from exc


def _deferred_node(
    queue: QueueBase, spec: Any, meta: NodeMeta, row: WorkflowNodeRecord
) -> WorkflowNodeRecord:
    """A deferred step's row: its payload (a task's call, a sub-workflow's params) bound to
    the node, and its callable condition pickled and signed."""
    key = jobs.node_key(row.run_id, meta.name)
    payload = None
    if meta.kind == "task":
        payload = jobs.encode_call(queue, key, meta.task_name, tuple(spec.args), dict(spec.kwargs))
    elif meta.kind == "subworkflow":
        payload = jobs.encode_call(queue, key, meta.task_name, (), dict(spec.subworkflow.params))
    blob = None
    if callable(spec.condition):
        blob = seal_condition(queue._signer, row.run_id, meta.name, spec.condition)
    return replace(row, payload=payload, condition_blob=blob)


__all__ = ["CompiledRun", "RunLinks", "compile_dag", "compile_run", "input_digests"]
