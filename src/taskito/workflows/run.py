"""``WorkflowRun``: the handle ``submit_workflow`` returns. Every method reads storage, so a
handle works from any process: ``status`` (a fresh snapshot), ``node_status``, ``wait``,
``cancel`` and ``visualize`` (the run's own DAG with each node's status)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Protocol

from taskito.exceptions import TaskitoError
from taskito.job import JobStatus
from taskito.workflows.dag import Dag
from taskito.workflows.types import NodeSnapshot, NodeStatus, WorkflowState, WorkflowStatus

if TYPE_CHECKING:
    from taskito.storage.base import Storage
    from taskito.storage.workflow_contract import WorkflowNodeRecord


class WorkflowTimeoutError(TaskitoError, TimeoutError):
    """``WorkflowRun.wait()`` ran out of time before the run ended."""


class RunHost(Protocol):
    """What a run handle needs from its Queue."""

    _storage: Storage

    def _cancel_workflow_run(self, run_id: str) -> None: ...


class WorkflowRun:
    """One run of a workflow."""

    def __init__(self, queue: RunHost, run_id: str, name: str) -> None:
        self._queue = queue
        self.id = run_id
        self.name = name

    def __repr__(self) -> str:
        return f"WorkflowRun(id={self.id!r}, name={self.name!r})"

    def status(self) -> WorkflowStatus:
        """The run as stored now (``ValueError`` for an unknown run). A node waiting on a
        job reads ``running`` while that job runs."""
        storage = self._queue._storage
        run = storage.get_workflow_run(self.id)
        if run is None:
            raise ValueError(f"workflow run '{self.id}' not found")
        nodes = {
            node.name: NodeSnapshot(
                node.name, _shown_status(storage, node), node.job_id, node.error
            )
            for node in storage.workflow_nodes(self.id)
        }
        return WorkflowStatus(
            run_id=run.id,
            state=WorkflowState(run.state),
            started_at=run.started_at,
            completed_at=run.completed_at,
            error=run.error,
            nodes=nodes,
        )

    def node_status(self, name: str) -> NodeStatus:
        """The status of one node (children such as ``"process[0]"`` too); ``KeyError`` for
        a node the run does not have."""
        nodes = self.status().nodes
        if name not in nodes:
            raise KeyError(f"workflow run '{self.id}' has no node {name!r}")
        return nodes[name].status

    def wait(self, timeout: float | None = None, poll_interval: float = 0.1) -> WorkflowStatus:
        """Poll until the run ends and return that snapshot; ``WorkflowTimeoutError`` when
        ``timeout`` seconds pass first (None: wait for ever)."""
        if poll_interval <= 0:
            raise ValueError(f"poll_interval must be positive, got {poll_interval!r}")
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            snapshot = self.status()
            if snapshot.state.is_terminal:
                return snapshot
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WorkflowTimeoutError(
                        f"workflow run {self.id} did not complete within {timeout}s"
                    )
                time.sleep(min(poll_interval, left))
            else:
                time.sleep(poll_interval)

    def cancel(self) -> None:
        """Cancel the run and its child runs (a terminal run: nothing happens)."""
        self._queue._cancel_workflow_run(self.id)

    def visualize(self, fmt: str = "mermaid") -> str:
        """The run's DAG with each node's status: Mermaid, or DOT for ``fmt="dot"``."""
        from taskito.workflows.visualization import render_dot, render_mermaid

        storage = self._queue._storage
        run = storage.get_workflow_run(self.id)
        if run is None:
            raise ValueError(f"workflow run '{self.id}' not found")
        definition = storage.get_workflow_definition(run.definition_id)
        if definition is None:
            raise ValueError(f"the definition of workflow run '{self.id}' is missing")
        dag = Dag.from_json(definition.dag)
        statuses: dict[str, Any] = {
            name: snap.status.value for name, snap in self.status().nodes.items()
        }
        render = render_dot if fmt == "dot" else render_mermaid
        return render(list(dag.nodes), dag.edges(), statuses)


def _shown_status(storage: Any, node: WorkflowNodeRecord) -> NodeStatus:
    """A node that waits on its job shows ``running`` while the job runs, else pending."""
    if node.status in ("pending", "ready") and node.job_id is not None:
        job = storage.get_job(node.job_id)
        if job is not None and job.status is JobStatus.RUNNING:
            return NodeStatus.RUNNING
        return NodeStatus.PENDING
    return NodeStatus.parse(node.status)


__all__ = ["WorkflowRun", "WorkflowTimeoutError"]
