"""The state every part of ``Queue`` shares, declared once. Each part (enqueue, inspection,
metrics, admin, operations, flow, webhooks, async) derives from this class and from no other
part, so a part type-checks against the state alone; ``queue.Queue`` lists the parts and fills
the state in ``__init__``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taskito.events import EventBus
    from taskito.middleware import TaskMiddleware
    from taskito.queue.blocking import BlockingCalls
    from taskito.queue.caps import CapCache
    from taskito.queue.interception_parts import InterceptionParts
    from taskito.queue.protocol import EnqueueSink
    from taskito.queue.settings import QueueSettings
    from taskito.queue.workers import RunningWorkers
    from taskito.registry import Hooks, PeriodicSpec, QueueLimits, TaskSpec
    from taskito.resources.definition import ResourceDefinition
    from taskito.serializers import Serializer
    from taskito.signing import Signer
    from taskito.storage.base import Storage
    from taskito.webhooks import WebhookManager


class QueueBase:
    """Attributes only; behaviour lives in the parts and in ``queue.Queue``."""

    namespace: str | None
    _settings: QueueSettings
    _storage: Storage
    _serializer: Serializer
    _signer: Signer | None
    _task_registry: dict[str, TaskSpec]
    _queue_limits: dict[str, QueueLimits]
    _periodic: dict[str, PeriodicSpec]
    _global_middleware: list[TaskMiddleware]
    _hooks: Hooks
    _event_bus: EventBus
    _test_mode: EnqueueSink | None
    _blocking: BlockingCalls
    _webhook_manager: WebhookManager | None
    _interception: InterceptionParts
    _resource_definitions: dict[str, ResourceDefinition]
    _running_workers: RunningWorkers
    _closed: bool
    _max_payload_bytes: int
    _caps: CapCache
    #: ``@queue.workflow()`` proxies by name, and the workflow engine once built (typed
    #: loosely: the workflows package imports the queue's parts, not the other way round).
    _workflow_registry: dict[str, Any]
    _workflows: Any
