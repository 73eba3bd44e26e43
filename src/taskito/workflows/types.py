"""The values a workflow is described and observed with: run states, node statuses, the
snapshots ``WorkflowRun.status()`` returns, the context a callable condition reads, and a
gate's configuration.

The state and status strings are the storage contract's (``storage/workflow_contract.py``);
the enums here are their façade names, with the same terminal sets.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from taskito.queue.checks import check_duration
from taskito.storage.workflow_contract import NODE_TERMINAL, RUN_TERMINAL

#: The two ways a gate resolves when its timeout passes without a decision.
GATE_TIMEOUT_ACTIONS = ("approve", "reject")


class WorkflowState(StrEnum):
    """The state of a run; ``paused`` exists for compatibility and is never produced.
    ``cancelling`` (ours) is a run whose cancel was asked and is being carried out: its
    nodes are being skipped and their jobs cancelled; it ends ``cancelled``."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PAUSED = "paused"
    CANCELLING = "cancelling"

    @property
    def is_terminal(self) -> bool:
        """True once the run can never change again."""
        return self.value in RUN_TERMINAL


class NodeStatus(StrEnum):
    """The status of one node of a run (a step, or a fan-out child ``"<step>[i]"``)."""

    PENDING = "pending"
    READY = "ready"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    WAITING_APPROVAL = "waiting_approval"
    CACHE_HIT = "cache_hit"

    @property
    def is_terminal(self) -> bool:
        """True once the node can never change again."""
        return self.value in NODE_TERMINAL

    @classmethod
    def parse(cls, value: object) -> NodeStatus:
        """The status a stored string names; anything unknown reads as ``pending``, so a row
        written by a newer version never breaks a snapshot."""
        if isinstance(value, NodeStatus):
            return value
        return _STATUS_BY_VALUE.get(value, cls.PENDING) if isinstance(value, str) else cls.PENDING


_STATUS_BY_VALUE = {status.value: status for status in NodeStatus}


@dataclass
class NodeSnapshot:
    """One node as a snapshot saw it."""

    name: str
    status: NodeStatus
    job_id: str | None = None
    error: str | None = None


@dataclass
class WorkflowStatus:
    """A run as one read of storage saw it. Times are epoch milliseconds; ``started_at`` is
    the submit time. ``nodes`` holds every node, fan-out children included, by name, in the
    order the nodes were created."""

    run_id: str
    state: WorkflowState
    started_at: int | None = None
    completed_at: int | None = None
    error: str | None = None
    nodes: dict[str, NodeSnapshot] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkflowContext:
    """What a callable condition is given: the run's nodes as they stand when the step is
    evaluated. ``results`` holds the decoded results of completed (and cached) nodes,
    ``statuses`` every node's status; ``params`` is reserved and None."""

    run_id: str
    results: Mapping[str, Any] = field(default_factory=dict)
    statuses: Mapping[str, NodeStatus] = field(default_factory=dict)
    params: Any = None
    failure_count: int = 0
    success_count: int = 0


@dataclass(frozen=True)
class GateConfig:
    """An approval gate: how long it waits for a decision (``timeout`` seconds, None for ever),
    what happens then (``on_timeout``), and the message shown when it is reached (a str, or a
    callable the engine calls with the run's ``WorkflowContext``)."""

    timeout: float | None = None
    on_timeout: str = "reject"
    message: str | Callable[..., str] | None = None

    def __post_init__(self) -> None:
        if self.on_timeout not in GATE_TIMEOUT_ACTIONS:
            raise ValueError(f"on_timeout must be 'approve' or 'reject', got {self.on_timeout!r}")
        if self.timeout is not None:
            seconds = check_duration("timeout", self.timeout, allow_zero=False)
            object.__setattr__(self, "timeout", seconds)
        if not (self.message is None or isinstance(self.message, str) or callable(self.message)):
            raise TypeError(
                f"message must be a str, a callable or None, not {type(self.message).__name__}"
            )


__all__ = [
    "GATE_TIMEOUT_ACTIONS",
    "GateConfig",
    "NodeSnapshot",
    "NodeStatus",
    "WorkflowContext",
    "WorkflowState",
    "WorkflowStatus",
]
