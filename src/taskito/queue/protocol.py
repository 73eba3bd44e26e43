"""What the objects a ``Queue`` hands out need from it, as small protocols, and the options
of one enqueue call they pass (``EnqueueOptions``).

``TaskWrapper``, ``Signature`` and ``TestMode`` type-check against these (``JobResult``
against ``result.ResultSource``, next to it), not against ``Queue``: they sit beside the
façade, and naming the protocol instead of the class keeps the imports one way (``queue/``
imports them, never the reverse).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from taskito.events import EventBus
    from taskito.interception.report import InterceptionReport
    from taskito.queue.interception_parts import InterceptionParts
    from taskito.registry import ExecutionEnv, TaskSpec
    from taskito.result import JobResult


@dataclass(slots=True)
class EnqueueOptions:
    """The keywords of ``Queue.enqueue`` besides the call itself, as given (None takes the
    queue's default): what a ``Signature`` may carry, what ``on_enqueue`` middleware sees (as
    a dict, ``as_dict``) and may change, and what test mode receives. One is made per call,
    so it is not frozen: a frozen record costs several times as much to make."""

    priority: Any = None
    delay: Any = None
    queue: Any = None
    max_retries: Any = None
    timeout: Any = None
    unique_key: Any = None
    metadata: Any = None
    depends_on: Any = None
    expires: Any = None
    result_ttl: Any = None

    def as_dict(self) -> dict[str, Any]:
        """The options by keyword, in ``enqueue``'s order."""
        return {name: getattr(self, name) for name in _OPTION_NAMES}


_OPTION_NAMES = tuple(field.name for field in fields(EnqueueOptions))
#: The names of the enqueue options (``EnqueueOptions``' fields).
ENQUEUE_OPTIONS = frozenset(_OPTION_NAMES)


class EnqueueSink(Protocol):
    """Where ``Queue.enqueue`` sends a call instead of storing it: test mode runs it now."""

    def run_now(
        self,
        task_name: str,
        args: tuple[Any, ...] | list[Any],
        kwargs: dict[str, Any] | None,
        options: EnqueueOptions,
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
        idempotency_key: str | None = None,
        idempotent: bool | None = None,
        max_payload_bytes: int | None = None,
        debounce: float | str | None = None,
        debounce_key: str | None = None,
        debounce_max_wait: float | str | None = None,
        debounce_replace_payload: bool | None = None,
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
        idempotency_keys: Sequence[str | None] | None = None,
        idempotent: bool | None = None,
        max_payload_bytes: int | None = None,
    ) -> list[JobResult]: ...

    def analyze_arguments(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> InterceptionReport: ...


class TestModeHost(Protocol):
    """What ``TestMode`` runs tasks with: the registry, the engine's environment, the event
    bus, and the seam in enqueue it plugs into."""

    _test_mode: EnqueueSink | None

    @property
    def _task_registry(self) -> dict[str, TaskSpec]: ...

    @property
    def _event_bus(self) -> EventBus: ...

    @property
    def _interception(self) -> InterceptionParts: ...

    def _execution_env(self) -> ExecutionEnv: ...


__all__ = ["ENQUEUE_OPTIONS", "EnqueueOptions", "EnqueueSink", "TaskQueue", "TestModeHost"]
