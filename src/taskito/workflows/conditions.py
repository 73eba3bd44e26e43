"""Whether a deferred node runs once its predecessors are terminal (workflows spec 2.5): the
named conditions, callable conditions (pickled at submit with cloudpickle and signed when the
queue signs, so a blob rewritten in storage is never unpickled) and the ``WorkflowContext``
they are called with."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from taskito.exceptions import SerializationError
from taskito.signing import bound_context, seal, unseal

if TYPE_CHECKING:
    from taskito.signing import Signer
    from taskito.storage.workflow_contract import WorkflowNodeRecord

logger = logging.getLogger("taskito.workflows")

_CONDITION = b"workflow-condition"
SUCCEEDED = frozenset({"completed", "cache_hit"})


def seal_condition(
    signer: Signer | None, run_id: str, step: str, condition: Callable[..., Any]
) -> bytes:
    """The stored form of a callable condition; an unpicklable one raises
    ``SerializationError`` naming the step."""
    import cloudpickle

    try:
        blob = cloudpickle.dumps(condition)
    except Exception as exc:
        raise SerializationError(
            f"the condition of step {step!r} cannot be pickled: {type(exc).__name__}: {exc}"
        ) from exc
    return seal(signer, bound_context(_CONDITION, run_id, step), blob)


def load_condition(signer: Signer | None, run_id: str, step: str, blob: bytes) -> Any:
    """The callable back, its signature checked first when the queue signs."""
    import pickle

    data = unseal(signer, bound_context(_CONDITION, run_id, step), blob, "condition")
    return pickle.loads(data)


def decide(
    condition: str | None,
    predecessors: list[WorkflowNodeRecord],
    call: Callable[[], Any] | None = None,
) -> bool:
    """True when the node runs. ``call`` evaluates a callable condition (an error in it is
    logged and skips the node)."""
    statuses = [node.status for node in predecessors]
    if condition == "always":
        return True
    if condition == "on_failure":
        return any(status == "failed" for status in statuses)
    if condition == "callable":
        assert call is not None
        try:
            return bool(call())
        except Exception:
            logger.exception("a workflow condition raised; the step is skipped")
            return False
    return all(status in SUCCEEDED for status in statuses)


def context_fields(
    run_id: str, nodes: Mapping[str, WorkflowNodeRecord], results: dict[str, Any]
) -> dict[str, Any]:
    """The fields of a ``WorkflowContext``: results of succeeded nodes, every status, counts."""
    statuses = {name: node.status for name, node in nodes.items()}
    return {
        "run_id": run_id,
        "results": results,
        "statuses": statuses,
        "params": None,
        "failure_count": sum(1 for s in statuses.values() if s == "failed"),
        "success_count": sum(1 for s in statuses.values() if s in SUCCEEDED),
    }


__all__ = ["SUCCEEDED", "context_fields", "decide", "load_condition", "seal_condition"]
