"""The one idempotent ``advance(run_id)`` (workflows spec 2.3): from stored state only, it
reconciles nodes whose job ended without settling them, runs the fail-fast sweep, starts
every deferred node whose predecessors are terminal, settles fan-out parents, sub-workflow
nodes and gates, and finalizes the run. Each effect is one compare-and-set, so any number
of processes may advance the same run at once; events fire only where a set won.

The engine belongs to one Queue (``WorkflowEngine(queue)``) and is the Queue's
``RunAdvancer``: the worker calls ``advance`` and ``expire_gate`` without importing it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from taskito.events import EventType
from taskito.job import JobRecord, JobStatus, now_ms
from taskito.storage.workflow_contract import (
    NODE_TERMINAL,
    RUN_TERMINAL,
    ParentSettle,
    WorkflowNodeRecord,
    WorkflowRunRecord,
    result_digest,
)
from taskito.workflows import gates, steps
from taskito.workflows.dag import Dag

if TYPE_CHECKING:
    from taskito.queue.state import QueueBase
    from taskito.storage.base import Storage

logger = logging.getLogger("taskito.workflows")

#: Node statuses a compare-and-set may move a node out of.
NON_TERMINAL = frozenset({"pending", "ready", "running", "waiting_approval"})
#: Run states an advance, a cancel or a finalize may move a run out of.
_OPEN_RUN = ("pending", "running", "paused")
#: Passes of one advance before it stops (each pass acts on what the last one changed).
MAX_PASSES = 100
#: A run not terminal after an advance is due again this much later: the safety net for
#: jobs cancelled by hand (their cancel settles nothing).
SAFETY_NET_MS = 10_000


class WorkflowEngine:
    """Drives the workflow runs of one Queue."""

    def __init__(self, queue: QueueBase) -> None:
        self.queue = queue
        self.storage: Storage = queue._storage
        self._dags: dict[str, Dag] = {}

    # --- reading ----------------------------------------------------------------------------

    def dag_of(self, run: WorkflowRunRecord) -> Dag:
        dag = self._dags.get(run.definition_id)
        if dag is None:
            definition = self.storage.get_workflow_definition(run.definition_id)
            if definition is None:
                raise LookupError(f"definition {run.definition_id} of run {run.id} is missing")
            dag = self._dags[run.definition_id] = Dag.from_json(definition.dag)
        return dag

    def remember(self, definition_id: str, dag: Dag) -> None:
        self._dags[definition_id] = dag

    def nodes(self, run_id: str) -> dict[str, WorkflowNodeRecord]:
        return {node.name: node for node in self.storage.workflow_nodes(run_id)}

    def emit(self, event: EventType, payload: dict[str, Any]) -> None:
        try:
            self.queue._event_bus.emit(event, payload)
        except Exception:
            logger.exception("emitting %s failed", event)

    def set_node(self, node: WorkflowNodeRecord, changes: dict[str, object], **extra: Any) -> bool:
        """Compare-and-set ``node`` from the status it was read in."""
        return self.storage.update_workflow_node(
            node.run_id, node.name, (node.status,), changes, **extra
        )

    # --- advancing --------------------------------------------------------------------------

    def advance(self, run_id: str) -> None:
        """Bring ``run_id`` as far as its stored state allows; safe to call at any time, from
        any process, any number of times."""
        run = self.storage.get_workflow_run(run_id)
        if run is None or run.state in RUN_TERMINAL:
            return
        if run.state == "cancelling":
            self._finish_cancel(run_id)
            return
        seen_due = run.advance_due_at
        dag = self.dag_of(run)
        for _ in range(MAX_PASSES):
            if not self._pass(run, dag, self.nodes(run_id)):
                break
        finished = self._finalize(run, self.nodes(run_id))
        self.storage.clear_workflow_due(
            run_id, seen_due, None if finished else now_ms() + SAFETY_NET_MS
        )

    def expire_gate(self, run_id: str, node_name: str, now: int) -> None:
        """Resolve the gate's timeout if its deadline passed, then advance the run."""
        node = self.nodes(run_id).get(node_name)
        run = self.storage.get_workflow_run(run_id)
        if node is not None and run is not None:
            gates.expire(self, self.dag_of(run), node, now)
        self.advance(run_id)

    def _pass(self, run: WorkflowRunRecord, dag: Dag, nodes: dict[str, WorkflowNodeRecord]) -> bool:
        """One pass over the run's nodes; True when something changed."""
        now = now_ms()
        jobs = self._jobs_of(nodes)
        if self._reconcile(nodes, jobs, now):
            return True
        failed = any(n.status == "failed" for n in nodes.values())
        if run.on_failure == "fail_fast" and failed and self._sweep(dag, nodes, jobs, now):
            return True
        changed = False
        for node in nodes.values():
            changed |= self._visit(run, dag, nodes, node, now)
        return changed

    def _visit(
        self,
        run: WorkflowRunRecord,
        dag: Dag,
        nodes: dict[str, WorkflowNodeRecord],
        node: WorkflowNodeRecord,
        now: int,
    ) -> bool:
        status = node.status
        if status == "waiting_approval":
            return gates.settle_waiting(self, dag, node, now)
        if status == "running" and node.kind == "fan_out":
            return steps.settle_fan_out(self, nodes, node, now)
        if status == "running" and node.kind == "subworkflow":
            return steps.settle_subworkflow(self, node, now)
        if status != "pending" or node.job_id is not None:
            return False
        meta = dag.nodes.get(node.name)
        if meta is None or not meta.deferred:
            return False
        if any(nodes[p].status not in NODE_TERMINAL for p in meta.after):
            return False
        return steps.start(self, run, dag, nodes, node, meta, now)

    def _jobs_of(self, nodes: dict[str, WorkflowNodeRecord]) -> dict[str, JobRecord | None]:
        """The job of each non-terminal node that has one."""
        return {
            node.name: self.storage.get_job(node.job_id)
            for node in nodes.values()
            if node.job_id is not None and node.status in NON_TERMINAL
        }

    def _reconcile(
        self,
        nodes: dict[str, WorkflowNodeRecord],
        jobs: dict[str, JobRecord | None],
        now: int,
    ) -> bool:
        """Settle nodes whose job is terminal (or gone) while the node is not: jobs cancelled
        without a finish (a cascade: skipped; any other cancel: failed "cancelled")."""
        changed = False
        for name, job in jobs.items():
            node = nodes[name]
            changes = _settlement(job, now)
            if changes is not None:
                changed |= self.set_node(node, changes)
        return changed

    def _sweep(
        self,
        dag: Dag,
        nodes: dict[str, WorkflowNodeRecord],
        jobs: dict[str, JobRecord | None],
        now: int,
    ) -> bool:
        """fail_fast: skip every not-yet-started node whose condition is the default, and
        cancel its pending job (workflows spec 2.6)."""
        changed = False
        for node in nodes.values():
            if node.status not in NON_TERMINAL or not _default_condition(dag, node):
                continue
            job = jobs.get(node.name)
            if node.status == "waiting_approval":
                started = False
            elif node.status in ("pending", "ready"):
                started = job is not None and job.status is not JobStatus.PENDING
            else:
                started = True
            if started:
                continue
            if self.set_node(
                node, {"status": "skipped", "gate_deadline_at": None, "completed_at": now}
            ):
                changed = True
                if node.job_id is not None:
                    self.storage.cancel_pending(node.job_id, now)
        return changed

    # --- finishing --------------------------------------------------------------------------

    def _finalize(self, run: WorkflowRunRecord, nodes: dict[str, WorkflowNodeRecord]) -> bool:
        """Finish the run once every node is terminal; True when it is terminal now."""
        if any(node.status not in NODE_TERMINAL for node in nodes.values()):
            return False
        failed = [node for node in nodes.values() if node.status == "failed"]
        state = "failed" if failed else "completed"
        error = f"node '{failed[0].name}' failed: {failed[0].error}" if failed else None
        now = now_ms()
        settle = None
        if run.parent_run_id is not None and run.parent_node_name is not None:
            settle = ParentSettle(
                run_id=run.parent_run_id,
                node_name=run.parent_node_name,
                status="completed" if state == "completed" else "failed",
                error=None if state == "completed" else f"sub-workflow {run.id} {state}: {error}",
                now=now,
            )
        won = self.storage.update_workflow_run(
            run.id,
            _OPEN_RUN,
            {"state": state, "completed_at": now, "error": error, "advance_due_at": None},
            settle_parent=settle,
        )
        if won:
            event = EventType.WORKFLOW_FAILED if failed else EventType.WORKFLOW_COMPLETED
            self.emit(event, {"run_id": run.id, "state": state, "error": error})
            if run.parent_run_id is not None:
                self.advance(run.parent_run_id)
        return True

    def cancel(self, run_id: str) -> None:
        """Cancel the run and its child runs (workflows spec 2.11, ours). The run first turns
        ``cancelling`` (one compare-and-set), then its nodes are skipped, their jobs cancelled
        and its children cancelled, then it turns ``cancelled``. A process that dies in between
        leaves a ``cancelling`` run that is due: whoever advances it next finishes the cancel."""
        run = self.storage.get_workflow_run(run_id)
        if run is None:
            raise ValueError(f"workflow run '{run_id}' not found")
        state: str | None = run.state
        if state in _OPEN_RUN:
            if self.storage.update_workflow_run(
                run_id, _OPEN_RUN, {"state": "cancelling", "advance_due_at": now_ms()}
            ):
                state = "cancelling"
            else:  # it moved meanwhile
                current = self.storage.get_workflow_run(run_id)
                state = None if current is None else current.state
        if state in ("cancelling", "cancelled"):
            self._finish_cancel(run_id)

    def _finish_cancel(self, run_id: str) -> None:
        """Carry out a cancel: skip every open node (again, until none is left: an advance
        that read the run before the cancel may still have moved one), cancel the child runs,
        then turn the run ``cancelled``; idempotent."""
        now = now_ms()
        for _ in range(MAX_PASSES):
            if not self._skip_all(run_id, now):
                break
        for child in self.storage.child_workflow_runs(run_id):
            self.cancel(child.id)
        run = self.storage.get_workflow_run(run_id)
        if run is None or run.state != "cancelling" or not self._mark_cancelled(run, now):
            return
        self.emit(
            EventType.WORKFLOW_CANCELLED, {"run_id": run_id, "state": "cancelled", "error": None}
        )
        if run.parent_run_id is not None:
            self.advance(run.parent_run_id)

    def _mark_cancelled(self, run: WorkflowRunRecord, now: int) -> bool:
        """Compare-and-set the run from cancelling to cancelled (a child's parent node fails
        with it)."""
        settle = None
        if run.parent_run_id is not None and run.parent_node_name is not None:
            error = f"sub-workflow {run.id} cancelled: None"
            settle = ParentSettle(run.parent_run_id, run.parent_node_name, "failed", error, now)
        return self.storage.update_workflow_run(
            run.id,
            ("cancelling",),
            {"state": "cancelled", "completed_at": now, "advance_due_at": None},
            settle_parent=settle,
        )

    def _skip_all(self, run_id: str, now: int) -> bool:
        """Skip every node not yet terminal and cancel its job (a running one gets a cancel
        request, delivered to whichever pool runs it); True when any node was still open."""
        found = False
        for node in self.nodes(run_id).values():
            if node.status not in NON_TERMINAL:
                continue
            found = True
            skipped = self.set_node(
                node, {"status": "skipped", "gate_deadline_at": None, "completed_at": now}
            )
            if skipped and node.job_id is not None:
                self.storage.cancel(node.job_id, False, now)
        return found


def _settlement(job: JobRecord | None, now: int) -> dict[str, object] | None:
    """The node change a terminal (or missing) job calls for; None while it is not over."""
    if job is None:
        return {"status": "failed", "error": "the node's job no longer exists", "completed_at": now}
    status = job.status
    done_at = job.completed_at or now
    if status is JobStatus.COMPLETE:
        return {
            "status": "completed",
            "result_hash": result_digest(job.result),
            "completed_at": done_at,
        }
    if status in (JobStatus.DEAD, JobStatus.FAILED):
        return {"status": "failed", "error": job.error, "completed_at": done_at}
    if status is JobStatus.CANCELLED:
        if (job.error or "").startswith("dependency "):
            return {"status": "skipped", "completed_at": done_at}
        return {"status": "failed", "error": "cancelled", "completed_at": done_at}
    return None


def _default_condition(dag: Dag, node: WorkflowNodeRecord) -> bool:
    """Whether the node's step has the default condition (a fan-out child: its step's)."""
    name = node.name.split("[", 1)[0] if node.kind == "fan_out_child" else node.name
    meta = dag.nodes.get(name)
    if meta is None:
        return False
    if node.kind == "fan_out_child":
        return True
    return meta.condition in (None, "on_success")


__all__ = ["NON_TERMINAL", "SAFETY_NET_MS", "WorkflowEngine"]
