"""The state every part of ``Queue`` shares, declared once so the mixins (enqueue, inspection,
admin, async) type-check against it; ``queue.Queue`` fills it in ``__init__``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from taskito.events import EventBus
    from taskito.middleware import TaskMiddleware
    from taskito.queue.protocol import EnqueueSink
    from taskito.registry import Hooks, PeriodicSpec, QueueLimits, TaskSpec
    from taskito.serializers import Serializer
    from taskito.signing import Signer
    from taskito.storage.base import Storage


class QueueBase:
    """Attributes only; behaviour lives in the mixins and in ``queue.Queue``."""

    namespace: str | None
    _storage: Storage
    _serializer: Serializer
    _signer: Signer | None
    _task_registry: dict[str, TaskSpec]
    _queue_limits: dict[str, QueueLimits]
    _periodic: dict[str, PeriodicSpec]
    _global_middleware: list[TaskMiddleware]
    _hooks: Hooks
    _event_bus: EventBus
    _workers: int
    _drain_timeout: float
    _async_concurrency: int
    _default_retry: int
    _default_timeout: float | None
    _default_timeout_ms: int | None
    _default_priority: int
    _result_ttl: float | None
    _test_mode: EnqueueSink | None
    _async_executor: ThreadPoolExecutor | None
    _closed: bool
