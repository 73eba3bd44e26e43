"""Routes over durable workflow runs: the runs (by state, a keyset page at a time), one run
with its nodes, its DAG and its child runs (``Queue.list_workflow_runs`` and the rest), and
the operator's decisions: approve or reject a waiting gate, cancel a run. An unknown run or
node is a 404; a gate already decided (or a node that is not a gate) a 409."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import taskito
from taskito.dashboard.api.errors import ApiError, bad_request, not_found
from taskito.dashboard.api.params import body_object, body_text, checked_text, json_type

#: The error a rejected gate carries when the request gives none (as ``reject_gate``'s).
DEFAULT_REJECT_ERROR = "rejected"
#: The longest rejection reason a request may give.
MAX_REASON = 2000


def _run_missing(run_id: str) -> ApiError:
    return not_found(f"no workflow run with id {run_id!r}")


def _workflows_unsupported(exc: NotImplementedError) -> ApiError:
    return ApiError(501, str(exc))


def list_runs(
    queue: taskito.Queue, state: str | None, limit: int, cursor: str | None
) -> dict[str, Any]:
    """``{"runs": [summary...], "next_cursor": str | null}``, newest first; 400 for an
    unknown state or a cursor no page gave."""
    try:
        page = queue.list_workflow_runs(state, limit=limit, after=cursor)
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    except NotImplementedError as exc:
        raise _workflows_unsupported(exc) from None
    return {"runs": list(page.items), "next_cursor": page.next_cursor}


def run_detail(queue: taskito.Queue, run_id: str) -> dict[str, Any]:
    """The run's summary, its ``nodes`` and its ``dag``."""
    try:
        return queue.workflow_run_detail(run_id)
    except KeyError:
        raise _run_missing(run_id) from None
    except NotImplementedError as exc:
        raise _workflows_unsupported(exc) from None


def run_dag(queue: taskito.Queue, run_id: str) -> dict[str, Any]:
    """``{"nodes": [{name, kind, status, job_id, children}], "edges": [{from, to}]}``."""
    dag: dict[str, Any] = run_detail(queue, run_id)["dag"]
    return dag


def run_children(queue: taskito.Queue, run_id: str) -> list[dict[str, Any]]:
    """Summaries of the sub-workflow runs this run started, oldest first."""
    try:
        return queue.workflow_run_children(run_id)
    except KeyError:
        raise _run_missing(run_id) from None
    except NotImplementedError as exc:
        raise _workflows_unsupported(exc) from None


def _gate_node(body: Any, allowed: frozenset[str]) -> tuple[str, dict[str, Any]]:
    fields = body_object(body)
    unknown = sorted(set(fields) - allowed)
    if unknown:
        expected = ", ".join(sorted(allowed))
        raise bad_request(f"unknown field(s) {', '.join(unknown)}: expected {expected}")
    return body_text(fields, "node"), fields


def _decide(queue: taskito.Queue, run_id: str, node: str, decision: Callable[[], object]) -> None:
    run_detail(queue, run_id)  # an unknown run (or another namespace's) is a 404
    try:
        decision()
    except KeyError:
        raise not_found(f"workflow run {run_id!r} has no node named {node!r}") from None
    except ValueError as exc:
        raise ApiError(409, str(exc)) from None


def approve_gate(queue: taskito.Queue, run_id: str, body: Any) -> dict[str, Any]:
    """``{"node": "<gate>"}``: approve the gate (or store the approval until the run reaches
    it); ``{"approved": node}``."""
    node, _ = _gate_node(body, frozenset({"node"}))
    _decide(queue, run_id, node, lambda: queue.approve_gate(run_id, node))
    return {"approved": node}


def reject_gate(queue: taskito.Queue, run_id: str, body: Any) -> dict[str, Any]:
    """``{"node": "<gate>", "error": "why"?}``: reject the gate (its error defaults to
    ``"rejected"``); ``{"rejected": node, "error": ...}``."""
    node, fields = _gate_node(body, frozenset({"node", "error"}))
    error = fields.get("error", DEFAULT_REJECT_ERROR)
    if not isinstance(error, str) or not error.strip():
        raise bad_request(f"error must be a non-empty string, not {json_type(error)}")
    if len(error) > MAX_REASON:
        raise bad_request(f"error must be at most {MAX_REASON} characters")
    _decide(queue, run_id, node, lambda: queue.reject_gate(run_id, node, error=error))
    return {"rejected": node, "error": error}


def cancel_run(queue: taskito.Queue, run_id: str) -> dict[str, Any]:
    """Cancel the run and its child runs (a finished run is left as it is): ``{"cancelled":
    bool, "state": <the run's state now>}``."""
    from taskito.workflows import WorkflowRun

    before = run_detail(queue, run_id)
    WorkflowRun(queue, run_id, before["name"]).cancel()
    after = run_detail(queue, run_id)
    moved = before["state"] != "cancelled" and after["state"] == "cancelled"
    return {"cancelled": moved, "state": after["state"]}


def run_id_of(value: str) -> str:
    return checked_text("run id", value)


__all__ = [
    "approve_gate",
    "cancel_run",
    "list_runs",
    "reject_gate",
    "run_children",
    "run_dag",
    "run_detail",
    "run_id_of",
]
