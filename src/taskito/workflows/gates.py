"""Approval gates (workflows spec 2.8): entering one (``waiting_approval``, its deadline
stored, ``WORKFLOW_GATE_REACHED``), a decision (applied at once when the gate waits, stored
and applied on arrival when it has not been reached), and the stored deadline's expiry."""

from __future__ import annotations

from typing import TYPE_CHECKING

from taskito.events import EventType
from taskito.job import now_ms
from taskito.storage.workflow_contract import NODE_TERMINAL, WorkflowNodeRecord

if TYPE_CHECKING:
    from taskito.workflows.dag import Dag, NodeMeta
    from taskito.workflows.driver import Driver

APPROVE = "approve"
_REJECT = "reject:"
#: Tries of a decision racing the gate's arrival before giving up.
_DECIDE_TRIES = 5


def outcome_of(decision: str) -> dict[str, object]:
    """The node change a stored decision makes."""
    if decision == APPROVE:
        return {"status": "completed"}
    return {"status": "failed", "error": decision[len(_REJECT) :]}


def enter(engine: Driver, node: WorkflowNodeRecord, meta: NodeMeta, now: int) -> bool:
    """Reach the gate: apply a decision made beforehand, else wait for one."""
    if node.gate_decision is not None:
        change = {**outcome_of(node.gate_decision), "started_at": now, "completed_at": now}
        return engine.set_node(node, change)
    gate = meta.gate
    timeout_s = None if gate is None else gate.timeout_s
    deadline = now + round(timeout_s * 1000) if timeout_s and timeout_s > 0 else None
    won = engine.set_node(
        node, {"status": "waiting_approval", "gate_deadline_at": deadline, "started_at": now}
    )
    if won:
        engine.emit(
            EventType.WORKFLOW_GATE_REACHED,
            {
                "run_id": node.run_id,
                "node_name": node.name,
                "message": None if gate is None else gate.message,
            },
        )
    return won


def settle_waiting(engine: Driver, dag: Dag, node: WorkflowNodeRecord, now: int) -> bool:
    """A waiting gate with a stored decision, or past its deadline, is resolved."""
    if node.gate_decision is not None:
        change = {**outcome_of(node.gate_decision), "gate_deadline_at": None, "completed_at": now}
        return engine.set_node(node, change)
    return expire(engine, dag, node, now)


def expire(engine: Driver, dag: Dag, node: WorkflowNodeRecord, now: int) -> bool:
    """Resolve a waiting gate whose deadline passed, as its ``on_timeout`` says."""
    deadline = node.gate_deadline_at
    if node.status != "waiting_approval" or deadline is None or deadline > now:
        return False
    meta = dag.nodes.get(node.name)
    on_timeout = "reject" if meta is None or meta.gate is None else meta.gate.on_timeout
    if on_timeout == "approve":
        change: dict[str, object] = {"status": "completed"}
    else:
        change = {"status": "failed", "error": "gate timeout"}
    return engine.set_node(node, {**change, "gate_deadline_at": None, "completed_at": now})


def decide(engine: Driver, run_id: str, node_name: str, approve: bool, error: str) -> None:
    """Approve or reject the gate (``KeyError``: unknown run or node; ``ValueError``: not a
    gate, or already resolved), then advance the run."""
    decision = APPROVE if approve else _REJECT + error
    for _ in range(_DECIDE_TRIES):
        node = _gate(engine, run_id, node_name)
        if node.status == "waiting_approval":
            change = {
                **outcome_of(decision),
                "gate_decision": decision,
                "gate_deadline_at": None,
                "completed_at": now_ms(),
            }
            if engine.set_node(node, change):
                break
        elif node.gate_decision is not None:
            raise ValueError(f"gate {node_name!r} of workflow run '{run_id}' is already decided")
        elif engine.set_node(node, {"gate_decision": decision}):
            break
    else:
        raise ValueError(f"gate {node_name!r} of workflow run '{run_id}' changed while deciding")
    engine.advance(run_id)


def _gate(engine: Driver, run_id: str, node_name: str) -> WorkflowNodeRecord:
    if engine.storage.get_workflow_run(run_id) is None:
        raise KeyError(f"workflow run '{run_id}' not found")
    node = engine.nodes(run_id).get(node_name)
    if node is None:
        raise KeyError(f"workflow run '{run_id}' has no node {node_name!r}")
    if node.kind != "gate":
        raise ValueError(f"node {node_name!r} of workflow run '{run_id}' is not a gate")
    if node.status in NODE_TERMINAL:
        raise ValueError(
            f"gate {node_name!r} of workflow run '{run_id}' is already resolved ({node.status})"
        )
    return node


__all__ = ["APPROVE", "decide", "enter", "expire", "outcome_of", "settle_waiting"]
