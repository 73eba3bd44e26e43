"""Results of a run's nodes, read from their jobs: a completed node's own job, a cache hit's
job in the base run it reuses (followed through cache hits of earlier runs). A result no
longer stored reads as None."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from taskito.job import JobRecord, JobStatus
from taskito.workflows.jobs import decode_result

if TYPE_CHECKING:
    from taskito.storage.workflow_contract import WorkflowNodeRecord
    from taskito.workflows.driver import Driver

#: Base runs followed at most, looking for the job of a cache hit.
MAX_BASE_DEPTH = 50


def result_job(engine: Driver, node: WorkflowNodeRecord) -> JobRecord | None:
    """The completed job holding ``node``'s result, if still stored."""
    storage = engine.storage
    for _ in range(MAX_BASE_DEPTH):
        if node.status == "completed" and node.job_id is not None:
            job = storage.get_job(node.job_id)
            return job if job is not None and job.status is JobStatus.COMPLETE else None
        if node.status != "cache_hit":
            return None
        run = storage.get_workflow_run(node.run_id)
        if run is None or run.base_run_id is None:
            return None
        base = engine.nodes(run.base_run_id).get(node.name)
        if base is None:
            return None
        node = base
    return None


def node_result(engine: Driver, node: WorkflowNodeRecord) -> Any:
    job = result_job(engine, node)
    return None if job is None else decode_result(engine.queue, job)


def run_results(engine: Driver, nodes: dict[str, WorkflowNodeRecord]) -> dict[str, Any]:
    """Results of every succeeded node whose result is still stored (for conditions)."""
    results: dict[str, Any] = {}
    for name, node in nodes.items():
        if node.status not in ("completed", "cache_hit"):
            continue
        job = result_job(engine, node)
        if job is not None:
            results[name] = decode_result(engine.queue, job)
    return results


__all__ = ["node_result", "result_job", "run_results"]
