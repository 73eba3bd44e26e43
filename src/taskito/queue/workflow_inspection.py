"""Read-only views of durable workflow runs for the operator's surfaces (the CLI and the
dashboard): a keyset page of run summaries, one run in full with its DAG, and a run's child
runs, as plain dicts, scoped by the Queue's namespace."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from taskito._checks import check_int
from taskito.job import JobStatus
from taskito.queue.operator import Page
from taskito.queue.state import QueueBase
from taskito.storage.operations import format_cursor, page_cursor, parse_cursor
from taskito.storage.workflow_contract import (
    RUN_STATES,
    WorkflowNodeRecord,
    WorkflowRunRecord,
)

#: The longest page of runs one call returns.
MAX_RUNS_PAGE = 1000
#: Node statuses a job's own state may stand in for while the node row still says so.
_WAITING_FOR_JOB = frozenset({"pending", "ready"})


def check_run_state(state: object) -> str | None:
    """None (any state) or one of ``RUN_STATES``; anything else is a ``ValueError`` naming
    the valid states."""
    if state is None:
        return None
    if not isinstance(state, str) or state not in RUN_STATES:
        valid = ", ".join(sorted(RUN_STATES))
        raise ValueError(f"unknown workflow run state {state!r}: expected one of {valid}")
    return state


def run_summary(run: WorkflowRunRecord, nodes: list[WorkflowNodeRecord]) -> dict[str, Any]:
    """One run as the surfaces list it: its fields and how many nodes are in each status."""
    return {
        "id": run.id,
        "name": run.name,
        "version": run.version,
        "state": run.state,
        "started_at": run.started_at,
        "completed_at": run.completed_at,
        "error": run.error,
        "parent_run_id": run.parent_run_id,
        "parent_node_name": run.parent_node_name,
        "base_run_id": run.base_run_id,
        "node_counts": dict(sorted(Counter(node.status for node in nodes).items())),
    }


def node_dict(node: WorkflowNodeRecord, status: str) -> dict[str, Any]:
    return {
        "name": node.name,
        "kind": node.kind,
        "status": status,
        "job_id": node.job_id,
        "error": node.error,
        "fan_out_index": node.fan_out_index,
        "fan_out_count": node.fan_out_count,
        "child_run_id": node.child_run_id,
        "gate_deadline_at": node.gate_deadline_at,
        "gate_decision": node.gate_decision,
        "started_at": node.started_at,
        "completed_at": node.completed_at,
    }


def step_of(name: str) -> str | None:
    """The step a fan-out child ``"<step>[i]"`` belongs to; None for any other name."""
    if not name.endswith("]") or "[" not in name:
        return None
    return name[: name.index("[")]


def dag_graph(dag_text: str, nodes: list[dict[str, Any]]) -> dict[str, Any]:
    """The drawing of a run: the steps of its stored definition in step order, each with its
    status and kind from the run's node of that name and its fan-out children (in index
    order), and the edges ``{"from", "to"}`` between steps."""
    steps, edges = parse_dag(dag_text)
    by_name = {node["name"]: node for node in nodes}
    children: dict[str, list[dict[str, Any]]] = {}
    for node in nodes:
        parent = step_of(node["name"])
        if parent is not None and node["kind"] == "fan_out_child":
            children.setdefault(parent, []).append(node)
    drawn = []
    for name in steps:
        node = by_name.get(name, {})
        kids = sorted(children.get(name, []), key=lambda child: child["fan_out_index"] or 0)
        drawn.append(
            {
                "name": name,
                "kind": node.get("kind"),
                "status": node.get("status", "pending"),
                "job_id": node.get("job_id"),
                "child_run_id": node.get("child_run_id"),
                "children": [
                    {"name": kid["name"], "status": kid["status"], "job_id": kid["job_id"]}
                    for kid in kids
                ],
            }
        )
    return {"nodes": drawn, "edges": [{"from": src, "to": dst} for src, dst in edges]}


def parse_dag(dag_text: str) -> tuple[list[str], list[tuple[str, str]]]:
    """Step names and ``(from, to)`` edges of a definition's ``dag`` JSON: ``{"nodes":
    [{"name", ...}], "edges": [{"from", "to"}]}`` (a node's ``after`` list stands in for
    missing edges)."""
    document = json.loads(dag_text) if dag_text else {}
    raw_nodes = document.get("nodes", []) if isinstance(document, dict) else []
    names = [item["name"] if isinstance(item, dict) else str(item) for item in raw_nodes]
    raw_edges = document.get("edges") if isinstance(document, dict) else None
    edges: list[tuple[str, str]] = []
    if raw_edges is not None:
        for edge in raw_edges:
            if isinstance(edge, dict):
                edges.append((str(edge["from"]), str(edge["to"])))
            else:
                edges.append((str(edge[0]), str(edge[1])))
        return names, edges
    for item in raw_nodes:
        if isinstance(item, dict):
            edges += [(str(before), item["name"]) for before in item.get("after", ())]
    return names, edges


class WorkflowInspectionMixin(QueueBase):
    """``list_workflow_runs``, ``workflow_run_detail`` and ``workflow_run_children``."""

    def _run_of_namespace(self, run_id: object) -> WorkflowRunRecord:
        if not isinstance(run_id, str) or not run_id:
            raise ValueError(f"run_id must be a non-empty string, not {run_id!r}")
        run = self._storage.get_workflow_run(run_id)
        if run is None or run.namespace != self.namespace:
            raise KeyError(f"workflow run {run_id!r} not found")
        return run

    def list_workflow_runs(
        self, state: str | None = None, *, limit: int = 50, after: str | None = None
    ) -> Page:
        """Runs of this Queue's namespace (in ``state`` when given), newest first, one keyset
        page after ``after`` (the ``next_cursor`` of the previous page). Each item is a
        summary: ``id, name, version, state, started_at, completed_at, error, parent_run_id,
        parent_node_name, base_run_id, node_counts`` (nodes per status)."""
        state = check_run_state(state)
        limit = check_int("limit", limit, minimum=1, maximum=MAX_RUNS_PAGE)
        cursor = parse_cursor(after)
        storage = self._storage
        runs = storage.list_workflow_runs(state, self.namespace, limit, cursor)
        items = [run_summary(run, storage.workflow_nodes(run.id)) for run in runs]
        last = runs[-1] if len(runs) == limit else None
        next_cursor = None if last is None else format_cursor(page_cursor(last.started_at, last.id))
        return Page(tuple(items), next_cursor)

    def workflow_run_detail(self, run_id: str) -> dict[str, Any]:
        """One run: its summary, ``nodes`` (every node in creation order, children
        included: ``name, kind, status, job_id, error, fan_out_index, fan_out_count,
        child_run_id, gate_deadline_at, started_at, completed_at``) and ``dag`` (the
        definition's steps with their status and fan-out children, and its edges). A node
        still pending whose job runs shows ``running``. ``KeyError`` for an unknown run."""
        run = self._run_of_namespace(run_id)
        storage = self._storage
        records = storage.workflow_nodes(run.id)
        nodes = [node_dict(node, self._shown_status(node)) for node in records]
        definition = storage.get_workflow_definition(run.definition_id)
        detail = run_summary(run, records)
        detail["nodes"] = nodes
        detail["dag"] = dag_graph("" if definition is None else definition.dag, nodes)
        return detail

    def workflow_run_children(self, run_id: str) -> list[dict[str, Any]]:
        """Summaries of the sub-workflow runs started by ``run_id``, oldest first."""
        run = self._run_of_namespace(run_id)
        storage = self._storage
        return [
            run_summary(child, storage.workflow_nodes(child.id))
            for child in storage.child_workflow_runs(run.id)
        ]

    def _shown_status(self, node: WorkflowNodeRecord) -> str:
        """The node's status, or ``running`` while its row waits and its job runs."""
        if node.status not in _WAITING_FOR_JOB or node.job_id is None:
            return node.status
        job = self._storage.get_job(node.job_id)
        return "running" if job is not None and job.status == JobStatus.RUNNING else node.status
