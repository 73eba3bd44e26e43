"""The argument checks and the SQL-free rules every backend shares for the workflow half of
the storage contract (``storage/workflow_contract.py``): one error for one bad input on every
backend, raised before anything is read or written."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence

from taskito._checks import (
    check_count,
    check_int,
    check_optional_int,
    check_optional_text,
    check_text,
)
from taskito.job import JobStatus, NewJob
from taskito.storage import validation
from taskito.storage.operation_rules import check_cursor, check_namespace
from taskito.storage.operations import Cursor
from taskito.storage.workflow_contract import (
    NODE_KINDS,
    NODE_STATUSES,
    NODE_TERMINAL,
    RUN_STATES,
    RUN_TERMINAL,
    ParentSettle,
    WorkflowDefinitionRecord,
    WorkflowNodeRecord,
    WorkflowRunRecord,
    check_node_changes,
    check_run_changes,
)

#: The error of a node whose job was cancelled by a finish (the contract's settlement).
CANCELLED_NODE_ERROR = "cancelled"

#: The node statuses a finish may settle (every status but the terminal ones).
NODE_OPEN = NODE_STATUSES - NODE_TERMINAL


def _sql_list(values: Collection[str]) -> str:
    return "(" + ", ".join(f"'{value}'" for value in sorted(values)) + ")"


#: SQL literal lists of the status sets, for ``status IN ...`` terms (a partial index serves
#: only queries that repeat its WHERE literally: the schemas spell NODE_OPEN_SQL the same way).
NODE_OPEN_SQL = _sql_list(NODE_OPEN)
NODE_TERMINAL_SQL = _sql_list(NODE_TERMINAL)
RUN_TERMINAL_SQL = _sql_list(RUN_TERMINAL)


def due_now_sql(now: str) -> str:
    """The SQL value of ``advance_due_at`` for a run marked due at ``now`` (a placeholder):
    ``now`` when it is unset or later (a safety-net time), else one less than its value: due
    at once either way, and always a new value, so an advance that read the old one does not
    clear it (``clear_workflow_due``), however many settlements share a millisecond."""
    return (
        f"CASE WHEN advance_due_at IS NULL OR advance_due_at > {now} THEN {now}"
        " ELSE advance_due_at - 1 END"
    )


#: Job outcomes that settle a node, by ``JobStatus`` code: the node status they give.
SETTLED_NODE_STATUS = {
    JobStatus.COMPLETE.code: "completed",
    JobStatus.FAILED.code: "failed",
    JobStatus.DEAD.code: "failed",
    JobStatus.CANCELLED.code: "failed",
}


def require_definition(definition: object) -> WorkflowDefinitionRecord:
    if not isinstance(definition, WorkflowDefinitionRecord):
        raise TypeError(f"expected a WorkflowDefinitionRecord, got {type(definition).__name__}")
    check_text("definition id", definition.id)
    check_text("definition name", definition.name)
    check_int("definition version", definition.version)
    check_text("definition dag", definition.dag)
    check_int("definition created_at", definition.created_at)
    digest = hashlib.sha256(definition.dag.encode()).hexdigest()
    if definition.digest != digest:
        raise ValueError(
            f"definition digest {definition.digest!r} is not the SHA-256 hex of its dag ({digest})"
        )
    return definition


def require_run(run: object) -> WorkflowRunRecord:
    if not isinstance(run, WorkflowRunRecord):
        raise TypeError(f"expected a WorkflowRunRecord, got {type(run).__name__}")
    check_text("run id", run.id)
    check_text("run definition_id", run.definition_id)
    check_text("run name", run.name)
    check_int("run version", run.version)
    check_namespace(run.namespace)
    if run.state not in RUN_STATES:
        raise ValueError(f"unknown workflow run state: {run.state!r}")
    check_text("run on_failure", run.on_failure)
    check_int("run started_at", run.started_at)
    check_optional_text("run parent_run_id", run.parent_run_id)
    return run


def require_nodes(run_id: str, nodes: Sequence[object]) -> list[WorkflowNodeRecord]:
    """Node records of run ``run_id`` with known kinds and statuses and distinct names."""
    checked: list[WorkflowNodeRecord] = []
    names: set[str] = set()
    for node in nodes:
        if not isinstance(node, WorkflowNodeRecord):
            raise TypeError(f"expected WorkflowNodeRecord nodes, got {type(node).__name__}")
        check_text("node name", node.name)
        if node.run_id != run_id:
            raise ValueError(f"node {node.name!r} belongs to run {node.run_id!r}, not {run_id!r}")
        if node.kind not in NODE_KINDS:
            raise ValueError(f"node {node.name!r}: unknown workflow node kind {node.kind!r}")
        if node.status not in NODE_STATUSES:
            raise ValueError(f"node {node.name!r}: unknown workflow node status {node.status!r}")
        check_int(f"node {node.name!r} position", node.position)
        if node.name in names:
            raise ValueError(f"workflow node {node.name!r} appears twice in run {run_id!r}")
        names.add(node.name)
        checked.append(node)
    return checked


def require_jobs(jobs: Sequence[object]) -> list[NewJob]:
    return [validation.require_new_job(job) for job in jobs]


def require_expect(name: str, expect: object, known: Collection[str]) -> list[str]:
    """The expected states of a compare-and-set: a collection of known state strings."""
    if isinstance(expect, str) or not isinstance(expect, Collection):
        raise TypeError(f"{name} must be a collection of states, not {type(expect).__name__}")
    states = list(dict.fromkeys(expect))
    for state in states:
        if state not in known:
            raise ValueError(f"{name}: unknown state {state!r}")
    return states


def node_update_args(
    run_id: object, name: object, expect: object, changes: object, due_at: object
) -> tuple[str, str, list[str], dict[str, object], int | None]:
    if not isinstance(changes, Mapping):
        raise TypeError(f"changes must be a mapping, not {type(changes).__name__}")
    check_node_changes(changes)
    return (
        check_text("run_id", run_id),
        check_text("name", name),
        require_expect("expect", expect, NODE_STATUSES),
        dict(sorted(changes.items())),
        check_optional_int("due_at", due_at),
    )


def run_update_args(
    run_id: object, expect: object, changes: object, settle_parent: object
) -> tuple[str, list[str], dict[str, object], ParentSettle | None]:
    if not isinstance(changes, Mapping):
        raise TypeError(f"changes must be a mapping, not {type(changes).__name__}")
    check_run_changes(changes)
    if settle_parent is not None:
        if not isinstance(settle_parent, ParentSettle):
            raise TypeError(
                f"settle_parent must be a ParentSettle, not {type(settle_parent).__name__}"
            )
        if settle_parent.status not in NODE_TERMINAL:
            raise ValueError(f"settle_parent status must be terminal, got {settle_parent.status!r}")
        check_int("settle_parent now", settle_parent.now)
    return (
        check_text("run_id", run_id),
        require_expect("expect", expect, RUN_STATES),
        dict(sorted(changes.items())),
        settle_parent,
    )


def runs_page_args(
    state: object, namespace: object, limit: object, after: object
) -> tuple[str | None, str | None, int, Cursor | None]:
    if state is not None and state not in RUN_STATES:
        raise ValueError(f"unknown workflow run state: {state!r}")
    return (
        state,
        check_namespace(namespace),
        check_count("limit", limit, type_error=ValueError),
        check_cursor(after),
    )


def clear_due_args(
    run_id: object, seen_due_at: object, next_due_at: object
) -> tuple[str, int | None, int | None]:
    return (
        check_text("run_id", run_id),
        check_optional_int("seen_due_at", seen_due_at),
        check_optional_int("next_due_at", next_due_at),
    )


def sweep_args(now: object, limit: object) -> tuple[int, int]:
    return check_int("now", now), check_count("limit", limit, type_error=ValueError)
