"""The workflow half of the storage contract: durable runs of a DAG of steps.

A run's whole state lives in storage: its definition, one run row, one
node row per step (fan-out children added at run time) and the jobs of its task nodes. The
engine (``taskito.workflows``) decides what happens next from that state only, and every
change it makes is one of the compare-and-set operations below, so any number of processes
may advance the same run concurrently or repeatedly and each transition happens once.

States are plain strings here (the façade's ``WorkflowState`` / ``NodeStatus`` enums carry
the same values). Times are integer ms since the epoch, passed in by the caller.

Settlement rides on the outcome write: ``finish_many`` and ``finish_and_claim`` of a backend
that implements this contract also settle the node whose ``job_id`` is the finished job, in
the same transaction, by compare-and-set from a non-terminal status:

* ``COMPLETE`` -> node ``completed``, ``result_hash`` = ``result_digest(result)``;
* ``DEAD`` or ``FAILED`` -> node ``failed`` with the job's error;
* ``CANCELLED`` -> node ``failed`` with ``"cancelled"``;
* ``PENDING`` (a retry) leaves the node alone;

and mark the run due while it is not terminal (so an engine sweep advances it):
``advance_due_at = now`` when it is unset or later (a safety-net time the engine set), else one
less than its value: due at once either way, and always a new value, so an advance that read
the old one keeps the run due (``clear_workflow_due``) however many settlements share a
millisecond. ``completed_at`` of the
node is ``now``. A poison pill (a job ``requeue_expired`` or ``release_jobs`` sends to dead)
settles its node the same way. Jobs cancelled without a finish (a pending job's cancel, a
dependency cascade) are not settled there: the engine reconciles such nodes from their job's
status when it advances the run.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from taskito.job import NewJob
from taskito.storage.operations import Cursor

#: ``cancelling``: a cancel was asked and its cleanup has not ended (the engine finishes it,
#: from any process, whenever it advances the run).
RUN_STATES = frozenset(
    {"pending", "running", "completed", "failed", "cancelled", "paused", "cancelling"}
)
RUN_TERMINAL = frozenset({"completed", "failed", "cancelled"})
NODE_STATUSES = frozenset(
    {
        "pending",
        "ready",
        "running",
        "completed",
        "failed",
        "skipped",
        "waiting_approval",
        "cache_hit",
    }
)
NODE_TERMINAL = frozenset({"completed", "failed", "skipped", "cache_hit"})
NODE_KINDS = frozenset({"task", "gate", "subworkflow", "fan_out", "fan_out_child", "fan_in"})

#: The node fields ``update_workflow_node`` may change.
NODE_CHANGEABLE = frozenset(
    {
        "status",
        "job_id",
        "error",
        "result_hash",
        "fan_out_count",
        "child_run_id",
        "gate_deadline_at",
        "gate_decision",
        "started_at",
        "completed_at",
    }
)
#: The run fields ``update_workflow_run`` may change.
RUN_CHANGEABLE = frozenset({"state", "completed_at", "error", "advance_due_at"})


def result_digest(result: bytes | None) -> str:
    """The ``result_hash`` of a completed node: SHA-256 hex of the stored result bytes
    (of ``b""`` when the job stored none)."""
    return hashlib.sha256(result or b"").hexdigest()


@dataclass(frozen=True, slots=True)
class WorkflowDefinitionRecord:
    """A compiled DAG, stored once per ``(name, version, digest)``.

    ``dag`` is JSON text the engine writes and reads (nodes in step order with their
    metadata, edges); storage keeps it opaque. ``digest`` is the SHA-256 hex of ``dag``."""

    id: str
    name: str
    version: int
    digest: str
    dag: str
    created_at: int


@dataclass(frozen=True, slots=True)
class WorkflowRunRecord:
    """One run of a definition."""

    id: str
    definition_id: str
    name: str
    version: int
    namespace: str | None
    state: str
    on_failure: str
    started_at: int
    completed_at: int | None = None
    error: str | None = None
    parent_run_id: str | None = None
    parent_node_name: str | None = None
    base_run_id: str | None = None
    #: When the run should next be advanced by a sweep (None: not due).
    advance_due_at: int | None = None


@dataclass(frozen=True, slots=True)
class WorkflowNodeRecord:
    """One node of a run, keyed by ``(run_id, name)``; ``position`` orders a run's nodes by
    creation (fan-out children after the nodes that existed when they were added)."""

    run_id: str
    name: str
    kind: str
    status: str
    position: int
    job_id: str | None = None
    error: str | None = None
    result_hash: str | None = None
    #: The encoded ``(args, kwargs)`` of a deferred task node (or a fan-out child's item).
    payload: bytes | None = None
    #: A callable condition, signed and pickled by the engine; opaque here.
    condition_blob: bytes | None = None
    fan_out_index: int | None = None
    fan_out_count: int | None = None
    child_run_id: str | None = None
    gate_deadline_at: int | None = None
    #: A gate decision stored before (or when) the gate is reached: "approve" or
    #: "reject:<error>"; the engine applies it.
    gate_decision: str | None = None
    #: SHA-256 hex of the node's task name and payload, for incremental runs.
    input_digest: str | None = None
    started_at: int | None = None
    completed_at: int | None = None


@dataclass(frozen=True, slots=True)
class ParentSettle:
    """Settle a parent run's sub-workflow node together with a child run's final state:
    ``update_workflow_run`` moves ``node_name`` of ``run_id`` from a non-terminal status to
    ``status`` (a terminal one; with ``error``, ``completed_at = now``) and marks that run due
    at ``now`` as a settlement does (unless that run is terminal)."""

    run_id: str
    node_name: str
    status: str
    error: str | None
    now: int


def check_node_changes(changes: Mapping[str, object]) -> None:
    """Refuse a change of a field ``update_workflow_node`` does not change, or a status that
    is not a node status (``ValueError`` naming it)."""
    unknown = set(changes) - NODE_CHANGEABLE
    if unknown:
        raise ValueError(f"workflow node fields cannot be changed: {sorted(unknown)}")
    status = changes.get("status")
    if status is not None and status not in NODE_STATUSES:
        raise ValueError(f"unknown workflow node status: {status!r}")


def check_run_changes(changes: Mapping[str, object]) -> None:
    """The same check for ``update_workflow_run``."""
    unknown = set(changes) - RUN_CHANGEABLE
    if unknown:
        raise ValueError(f"workflow run fields cannot be changed: {sorted(unknown)}")
    state = changes.get("state")
    if state is not None and state not in RUN_STATES:
        raise ValueError(f"unknown workflow run state: {state!r}")


class WorkflowStorage(ABC):
    """Durable workflow runs. Each method is one atomic operation."""

    @abstractmethod
    def save_workflow_definition(
        self, definition: WorkflowDefinitionRecord
    ) -> WorkflowDefinitionRecord:
        """Store ``definition`` unless one with the same ``(name, version, digest)`` exists;
        return the stored one (the existing row, with its own id, when there was one)."""

    @abstractmethod
    def get_workflow_definition(self, definition_id: str) -> WorkflowDefinitionRecord | None: ...

    @abstractmethod
    def create_workflow_run(
        self, run: WorkflowRunRecord, nodes: Sequence[WorkflowNodeRecord], jobs: Sequence[NewJob]
    ) -> None:
        """Insert the run, its nodes and the jobs of its static nodes (with their
        ``depends_on``) in one transaction; the nodes' ``job_id`` name those jobs. A run id
        that exists raises ``ValueError``; nothing is written then."""

    @abstractmethod
    def get_workflow_run(self, run_id: str) -> WorkflowRunRecord | None: ...

    @abstractmethod
    def workflow_nodes(self, run_id: str) -> list[WorkflowNodeRecord]:
        """Every node of the run in ``position`` order (empty for an unknown run)."""

    @abstractmethod
    def workflow_node_for_job(self, job_id: str) -> WorkflowNodeRecord | None:
        """The node whose ``job_id`` is this job, if any."""

    @abstractmethod
    def list_workflow_runs(
        self,
        state: str | None,
        namespace: str | None,
        limit: int,
        after: Cursor | None,
    ) -> list[WorkflowRunRecord]:
        """Runs of ``namespace`` (exact match; None: runs without one) in ``state`` (None:
        any), newest first by ``(started_at, id)``, strictly after the cursor."""

    @abstractmethod
    def child_workflow_runs(self, run_id: str) -> list[WorkflowRunRecord]:
        """The runs whose ``parent_run_id`` is ``run_id``, oldest first."""

    @abstractmethod
    def update_workflow_node(
        self,
        run_id: str,
        name: str,
        expect: Collection[str],
        changes: Mapping[str, object],
        *,
        new_nodes: Sequence[WorkflowNodeRecord] = (),
        new_jobs: Sequence[NewJob] = (),
        due_at: int | None = None,
    ) -> bool:
        """Compare-and-set: when the node's status is in ``expect``, apply ``changes``
        (fields of ``NODE_CHANGEABLE``; ``check_node_changes``), insert ``new_nodes`` (a
        fan-out's children; an existing ``(run_id, name)`` raises ``ValueError`` and nothing
        is written) and ``new_jobs``, and, when ``due_at`` is given, set the run's
        ``advance_due_at`` to it; all in one transaction. False (nothing written) when the
        node is missing or its status is not in ``expect``."""

    @abstractmethod
    def update_workflow_run(
        self,
        run_id: str,
        expect: Collection[str],
        changes: Mapping[str, object],
        *,
        settle_parent: ParentSettle | None = None,
    ) -> bool:
        """Compare-and-set: when the run's state is in ``expect``, apply ``changes`` (fields
        of ``RUN_CHANGEABLE``; ``check_run_changes``) and settle the parent's node if asked,
        in one transaction. False when the run is missing or not in ``expect``."""

    @abstractmethod
    def clear_workflow_due(
        self, run_id: str, seen_due_at: int | None, next_due_at: int | None
    ) -> bool:
        """Set ``advance_due_at`` to ``next_due_at`` only if it still equals ``seen_due_at``
        (so a settlement written during an advance keeps the run due); True when set."""

    @abstractmethod
    def workflow_runs_due(self, now: int, limit: int) -> list[str]:
        """Ids of up to ``limit`` non-terminal runs with ``advance_due_at <= now``, most
        overdue first."""

    @abstractmethod
    def expired_workflow_gates(self, now: int, limit: int) -> list[tuple[str, str]]:
        """``(run_id, node_name)`` of up to ``limit`` nodes ``waiting_approval`` whose
        ``gate_deadline_at <= now``, oldest deadline first."""
