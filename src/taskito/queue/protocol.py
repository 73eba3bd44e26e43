"""What the objects a ``Queue`` hands out need from it, as small protocols.

``TaskWrapper``, ``Signature`` and ``TestMode`` type-check against these (``JobResult``
against ``result.ResultSource``, next to it), not against ``Queue``: they sit beside the
façade, and naming the protocol instead of the class keeps the imports one way (``queue/``
imports them, never the reverse).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from taskito.events import EventBus
    from taskito.registry import ExecutionEnv, TaskSpec
    from taskito.result import JobResult

#: The keywords of ``Queue.enqueue`` besides the call itself: what a ``Signature`` may carry
#: and what ``on_enqueue`` middleware sees and may change.
ENQUEUE_OPTIONS = frozenset(
    {
        "priority",
        "delay",
        "queue",
        "max_retries",
        "timeout",
        "unique_key",
        "metadata",
        "depends_on",
        "expires",
        "result_ttl",
    }
)


class EnqueueSink(Protocol):
    """Where ``Queue.enqueue`` sends a call instead of storing it: test mode runs it now."""

    def run_now(
        self,
        task_name: str,
        args: tuple[Any, ...] | list[Any] = (),
        kwargs: dict[str, Any] | None = None,
        priority: int | None = None,
        delay: float | None = None,
        queue: str | None = None,
        max_retries: int | None = None,
        timeout: float | None = None,
        unique_key: str | None = None,
        metadata: str | None = None,
        depends_on: str | list[str] | None = None,
        expires: float | None = None,
        result_ttl: float | None = None,
    ) -> Any: ...


class TaskQueue(Protocol):
    """What a ``TaskWrapper`` and a ``Signature`` enqueue through."""

    def enqueue(
        self,
        task_name: str,
        args: tuple[Any, ...] | list[Any] = (),
        kwargs: dict[str, Any] | None = None,
        priority: int | None = None,
        delay: float | None = None,
        queue: str | None = None,
        max_retries: int | None = None,
        timeout: float | None = None,
        unique_key: str | None = None,
        metadata: str | None = None,
        depends_on: str | list[str] | None = None,
        expires: float | None = None,
        result_ttl: float | None = None,
    ) -> JobResult: ...

    def enqueue_many(
        self,
        task_name: str,
        args_list: Sequence[tuple[Any, ...] | list[Any]],
        kwargs_list: Sequence[dict[str, Any] | None] | None = None,
        priority: int | None = None,
        queue: str | None = None,
        max_retries: int | None = None,
        timeout: float | None = None,
        delay: float | None = None,
        delay_list: Sequence[float | None] | None = None,
        unique_keys: Sequence[str | None] | None = None,
        metadata: str | None = None,
        metadata_list: Sequence[str | None] | None = None,
        expires: float | None = None,
        expires_list: Sequence[float | None] | None = None,
        result_ttl: float | None = None,
        result_ttl_list: Sequence[float | None] | None = None,
    ) -> list[JobResult]: ...


class TestModeHost(Protocol):
    """What ``TestMode`` runs tasks with: the registry, the engine's environment, the event
    bus, and the seam in enqueue it plugs into."""

    _test_mode: EnqueueSink | None

    @property
    def _task_registry(self) -> dict[str, TaskSpec]: ...

    @property
    def _event_bus(self) -> EventBus: ...

    def _execution_env(self) -> ExecutionEnv: ...


__all__ = ["ENQUEUE_OPTIONS", "EnqueueSink", "TaskQueue", "TestModeHost"]
