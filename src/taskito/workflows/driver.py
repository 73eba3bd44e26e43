"""What the engine's parts (gates, node starts, sub-workflows, submit) need from the engine,
as a protocol, so they do not import ``engine.py`` (which imports them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from taskito.events import EventType
    from taskito.queue.state import QueueBase
    from taskito.storage.base import Storage
    from taskito.storage.workflow_contract import WorkflowNodeRecord, WorkflowRunRecord
    from taskito.workflows.dag import Dag


class Driver(Protocol):
    """``WorkflowEngine``, as its parts see it."""

    queue: QueueBase
    #: The queue's storage: its jobs and its workflow runs (``Storage`` is a
    #: ``WorkflowStorage``).
    storage: Storage

    def dag_of(self, run: WorkflowRunRecord) -> Dag: ...

    def remember(self, definition_id: str, dag: Dag) -> None: ...

    def nodes(self, run_id: str) -> dict[str, WorkflowNodeRecord]: ...

    def emit(self, event: EventType, payload: dict[str, Any]) -> None: ...

    def set_node(
        self, node: WorkflowNodeRecord, changes: dict[str, object], **extra: Any
    ) -> bool: ...

    def advance(self, run_id: str) -> None: ...


__all__ = ["Driver"]
