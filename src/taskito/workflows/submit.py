"""Submitting a run (workflows spec 2.2, ours): compile, store the definition (once per
name, version and digest), store the run with all its nodes and static jobs in one
``create_workflow_run``, announce ``WORKFLOW_SUBMITTED``, then advance it once (roots, gates,
all-cached runs)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from taskito.events import EventType
from taskito.ids import new_job_id
from taskito.job import now_ms
from taskito.workflows.caching import cached_steps
from taskito.workflows.compile import CompiledRun, RunLinks, compile_run

if TYPE_CHECKING:
    from taskito.workflows.driver import Driver


def check_workflow(workflow: object) -> None:
    """Refuse anything but a builder ``Workflow``."""
    from taskito.workflows.builder import Workflow

    if not isinstance(workflow, Workflow):
        raise TypeError(f"submit_workflow() takes a Workflow, not {type(workflow).__name__}")


def base_run_id(base_run: object) -> str | None:
    """``base_run`` as a run id: a ``WorkflowRun``, an id, or None."""
    if base_run is None:
        return None
    run_id = getattr(base_run, "id", base_run)
    if not isinstance(run_id, str) or not run_id:
        raise TypeError(
            f"base_run must be a WorkflowRun or a run id, not {type(base_run).__name__}"
        )
    return run_id


def submit(
    engine: Driver,
    workflow: Any,
    *,
    incremental: bool = False,
    base_run: object = None,
    links: RunLinks | None = None,
) -> str:
    """Store and start a run of ``workflow``; return its id. Caching needs both
    ``incremental`` and ``base_run`` (an unknown base run raises ``ValueError``)."""
    check_workflow(workflow)
    base_id = base_run_id(base_run)
    now = now_ms()
    cached: dict[str, str] = {}
    if incremental and base_id is not None:
        cached = cached_steps(engine, workflow, base_id, now)
    else:
        base_id = None
    links = links or RunLinks()
    links = dataclasses.replace(links, base_run_id=base_id)
    run_id = new_job_id()
    compiled = compile_run(engine.queue, workflow, run_id, now, links=links, cached=cached)
    store(engine, compiled)
    engine.advance(run_id)
    return run_id


def store(engine: Driver, compiled: CompiledRun) -> None:
    """Write a compiled run and announce it."""
    definition = engine.storage.save_workflow_definition(compiled.definition)
    engine.remember(definition.id, compiled.dag)
    run = dataclasses.replace(compiled.run, definition_id=definition.id)
    engine.storage.create_workflow_run(run, compiled.nodes, compiled.jobs)
    engine.emit(EventType.WORKFLOW_SUBMITTED, {"run_id": run.id, "workflow_name": run.name})


__all__ = ["base_run_id", "check_workflow", "store", "submit"]
