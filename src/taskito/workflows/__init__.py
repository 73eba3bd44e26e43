"""Durable workflows: a DAG of steps (tasks, approval gates, sub-workflows; fan-out and
fan-in; conditions) run as jobs, with its whole state in storage (docs/workflows.md)."""

from taskito.workflows.builder import StepSpec, SubWorkflowRef, Workflow
from taskito.workflows.proxy import WorkflowProxy
from taskito.workflows.run import WorkflowRun, WorkflowTimeoutError
from taskito.workflows.types import (
    GateConfig,
    NodeSnapshot,
    NodeStatus,
    WorkflowContext,
    WorkflowState,
    WorkflowStatus,
)

__all__ = [
    "GateConfig",
    "NodeSnapshot",
    "NodeStatus",
    "StepSpec",
    "SubWorkflowRef",
    "Workflow",
    "WorkflowContext",
    "WorkflowProxy",
    "WorkflowRun",
    "WorkflowState",
    "WorkflowStatus",
    "WorkflowTimeoutError",
]
