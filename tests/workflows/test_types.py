"""The workflow value types (spec workflows.md §1.4): states and statuses with the storage
contract's strings and terminal sets, lenient status parsing, the snapshots, the frozen
context and the gate configuration's checks."""

from __future__ import annotations

import dataclasses

import pytest

from taskito.storage.workflow_contract import (
    NODE_STATUSES,
    NODE_TERMINAL,
    RUN_STATES,
    RUN_TERMINAL,
)
from taskito.workflows import (
    GateConfig,
    NodeSnapshot,
    NodeStatus,
    WorkflowContext,
    WorkflowState,
    WorkflowStatus,
)


def test_states_are_the_contract_strings() -> None:
    assert [state.value for state in WorkflowState] == [
        "pending",
        "running",
        "completed",
        "failed",
        "cancelled",
        "paused",
        "cancelling",  # ours: a cancel being carried out
    ]
    assert {state.value for state in WorkflowState} == RUN_STATES
    assert {state.value for state in WorkflowState if state.is_terminal} == RUN_TERMINAL
    assert {"completed", "failed", "cancelled"} == RUN_TERMINAL
    assert WorkflowState("running") == "running"


def test_statuses_are_the_contract_strings() -> None:
    assert [status.value for status in NodeStatus] == [
        "pending",
        "ready",
        "running",
        "completed",
        "failed",
        "skipped",
        "waiting_approval",
        "cache_hit",
    ]
    assert {status.value for status in NodeStatus} == NODE_STATUSES
    assert {status.value for status in NodeStatus if status.is_terminal} == NODE_TERMINAL
    assert {"completed", "failed", "skipped", "cache_hit"} == NODE_TERMINAL


@pytest.mark.parametrize("status", list(NodeStatus))
def test_parse_reads_every_stored_status(status: NodeStatus) -> None:
    assert NodeStatus.parse(status.value) is status
    assert NodeStatus.parse(status) is status


@pytest.mark.parametrize("stored", ["compensating", "", "COMPLETED", None, 3])
def test_parse_reads_anything_unknown_as_pending(stored: object) -> None:
    assert NodeStatus.parse(stored) is NodeStatus.PENDING


def test_snapshots_are_mutable_dataclasses() -> None:
    node = NodeSnapshot("a", NodeStatus.PENDING)
    assert (node.job_id, node.error) == (None, None)
    node.status = NodeStatus.COMPLETED
    status = WorkflowStatus("run-1", WorkflowState.RUNNING, 1000, None, None, {"a": node})
    assert status.nodes["a"].status is NodeStatus.COMPLETED
    assert WorkflowStatus("run-2", WorkflowState.PENDING).nodes == {}


def test_the_context_is_frozen() -> None:
    ctx = WorkflowContext(
        run_id="r",
        results={"validate": {"score": 0.9}},
        statuses={"validate": NodeStatus.COMPLETED},
        params=None,
        failure_count=0,
        success_count=1,
    )
    assert ctx.results["validate"]["score"] == 0.9
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.success_count = 2  # type: ignore[misc]
    empty = WorkflowContext("r")
    assert (empty.results, empty.statuses, empty.params) == ({}, {}, None)
    assert (empty.failure_count, empty.success_count) == (0, 0)


def test_gate_config_defaults_and_checks() -> None:
    assert GateConfig() == GateConfig(timeout=None, on_timeout="reject", message=None)
    assert GateConfig(timeout=2).timeout == 2.0
    with pytest.raises(ValueError, match="on_timeout must be 'approve' or 'reject', got 'wait'"):
        GateConfig(on_timeout="wait")
    with pytest.raises(ValueError, match="timeout must be a finite positive number"):
        GateConfig(timeout=-1)
    with pytest.raises(ValueError, match="timeout must be at most"):
        GateConfig(timeout=1e13)
    with pytest.raises(TypeError, match="message must be a str, a callable or None"):
        GateConfig(message=b"bytes")  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        GateConfig().timeout = 3  # type: ignore[misc]
