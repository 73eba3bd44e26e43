"""``Queue``, the object users hold: configuration, the task registry, hooks, events and the
worker entry point. Enqueue, inspection, admin and the async mirrors live in the mixins."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import os
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from taskito.celery_habits import (
    QUEUE_ATTRIBUTES,
    TASK_KEYWORDS,
    missing_attribute,
    refuse_celery_keywords,
)
from taskito.codecs import with_codecs
from taskito.events import EventBus, EventCallback, EventType
from taskito.exceptions import ConfigurationError
from taskito.queue.admin import AdminMixin
from taskito.queue.admission import AdmissionMixin
from taskito.queue.async_api import AsyncMixin
from taskito.queue.blocking import BlockingCalls
from taskito.queue.caps import CapCache
from taskito.queue.checks import DEFAULT_MAX_PAYLOAD_BYTES
from taskito.queue.enqueue import EnqueueMixin
from taskito.queue.flow import FlowMixin
from taskito.queue.inspection import InspectionMixin
from taskito.queue.interception_api import InterceptionMixin
from taskito.queue.interception_parts import InterceptionParts
from taskito.queue.metrics import MetricsMixin
from taskito.queue.operations import OpsMixin
from taskito.queue.operator import OperatorMixin
from taskito.queue.overrides_api import OverridesMixin
from taskito.queue.periodic_catalog import PeriodicCatalogMixin
from taskito.queue.resources_api import ResourcesMixin
from taskito.queue.settings import QueueSettings
from taskito.queue.webhook_api import WebhookMixin
from taskito.queue.workers import RunningWorkers, install_signal_handlers, worker_settings
from taskito.queue.workflow_inspection import WorkflowInspectionMixin
from taskito.queue.workflows_api import WorkflowsMixin
from taskito.registry import (
    DEFAULT_METRICS_RETENTION_S,
    ExecutionEnv,
    Hooks,
    OnExcess,
    PeriodicSpec,
    QueueLimits,
    TaskSpec,
)
from taskito.retention import Retention, dlq_auto_retry_options
from taskito.signing import warn_if_unsigned
from taskito.storage import open_storage
from taskito.storage.base import DEFAULT_MAX_RESCUES
from taskito.task import TaskWrapper
from taskito.task_options import check_task_options

if TYPE_CHECKING:
    from taskito.interception.interceptor import ArgumentInterceptor
    from taskito.testing import TestMode

F = TypeVar("F", bound=Callable[..., Any])


class Queue(
    EnqueueMixin,
    AdmissionMixin,
    InspectionMixin,
    MetricsMixin,
    AdminMixin,
    OpsMixin,
    OperatorMixin,
    FlowMixin,
    PeriodicCatalogMixin,
    OverridesMixin,
    WebhookMixin,
    InterceptionMixin,
    ResourcesMixin,
    WorkflowsMixin,
    WorkflowInspectionMixin,
    AsyncMixin,
):
    """A task queue backed by one storage (SQLite by default).

    Every argument is checked here, and storage is opened here, so a bad path, a corrupt
    database or one written by a newer taskito fails at construction.
    """

    def __init__(
        self,
        db_path: str | os.PathLike[str] = ".taskito/taskito.db",
        workers: int = 0,
        default_retry: int = 3,
        default_timeout: float | None = 300,
        default_priority: int = 0,
        result_ttl: float | None = None,
        serializer: Any = None,
        middleware: list[Any] | None = None,
        backend: str | None = None,
        db_url: str | None = None,
        schema: str = "taskito",
        pool_size: int | None = None,
        drain_timeout: float = 30,
        async_concurrency: int = 100,
        event_workers: int = 4,
        scheduler_poll_interval_ms: float = 50,
        scheduler_reap_interval: int = 100,
        scheduler_cleanup_interval: int = 1200,
        namespace: str | None = None,
        signing_key: str | bytes | list[str | bytes] | None = None,
        unknown_task_window: float = 3600,
        max_rescues: int = DEFAULT_MAX_RESCUES,
        durable_enqueue: bool = True,
        metrics_retention: int | None = DEFAULT_METRICS_RETENTION_S,
        interception: str = "off",
        max_intercept_depth: int = 10,
        recipe_signing_key: str | bytes | None = None,
        max_reconstruction_timeout: float = 10,
        file_path_allowlist: list[str] | None = None,
        disabled_proxies: list[str] | None = None,
        retention: Retention | None = None,
        dlq_auto_retry_delay: float | None = None,
        dlq_auto_retry_max: int = 1,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        codec: Any = None,
        codecs: dict[str, Any] | None = None,
    ) -> None:
        self._closed = True  # until storage is open, close() has nothing to do
        if retention is not None and not isinstance(retention, Retention):
            raise TypeError(
                f"retention must be a Retention or None, not {type(retention).__name__}"
            )
        self._retention = retention
        self._dlq_auto_retry_delay_ms, self._dlq_auto_retry_max = dlq_auto_retry_options(
            dlq_auto_retry_delay, dlq_auto_retry_max
        )
        settings = QueueSettings.from_options(
            db_path=db_path,
            workers=workers,
            default_retry=default_retry,
            default_timeout=default_timeout,
            default_priority=default_priority,
            result_ttl=result_ttl,
            serializer=serializer,
            middleware=middleware,
            backend=backend,
            db_url=db_url,
            schema=schema,
            pool_size=pool_size,
            drain_timeout=drain_timeout,
            async_concurrency=async_concurrency,
            event_workers=event_workers,
            scheduler_poll_interval_ms=scheduler_poll_interval_ms,
            scheduler_reap_interval=scheduler_reap_interval,
            scheduler_cleanup_interval=scheduler_cleanup_interval,
            namespace=namespace,
            signing_key=signing_key,
            unknown_task_window=unknown_task_window,
            max_rescues=max_rescues,
            durable_enqueue=durable_enqueue,
            metrics_retention=metrics_retention,
            interception=interception,
            max_intercept_depth=max_intercept_depth,
            recipe_signing_key=recipe_signing_key,
            max_reconstruction_timeout=max_reconstruction_timeout,
            file_path_allowlist=file_path_allowlist,
            disabled_proxies=disabled_proxies,
            codec=codec,
            codecs=codecs,
        )
        self._settings = settings
        self._share_state(settings)
        self.max_payload_bytes = max_payload_bytes
        self._open(settings)

    def _share_state(self, settings: QueueSettings) -> None:
        """The state every part reads (``state.QueueBase``): what the parts and the engine
        share, taken from the settings once, and the registries, empty."""
        self.namespace = settings.namespace
        # Payloads and results of tasks without their own serializer or codecs.
        self._serializer = with_codecs(settings.serializer, settings.codec)
        self._signer = settings.signer
        self._global_middleware = list(settings.middleware)
        self._task_registry: dict[str, TaskSpec] = {}
        self._queue_limits: dict[str, QueueLimits] = {}
        self._periodic: dict[str, PeriodicSpec] = {}
        self._hooks = Hooks()
        self._test_mode = None
        self._blocking = BlockingCalls()
        self._running_workers = RunningWorkers()
        self._webhook_manager = None
        self._interception = InterceptionParts.from_settings(settings)
        self._resource_definitions = {}
        self._caps = CapCache()
        self._workflow_registry = {}
        self._workflows = None

    def _open(self, settings: QueueSettings) -> None:
        """Open storage and start the event bus; storage is closed again if the bus fails."""
        self._storage = open_storage(
            settings.backend,
            db_path=settings.db_path,
            db_url=settings.db_url,
            schema=settings.schema,
            pool_size=settings.pool_size,
            durable_enqueue=settings.durable_enqueue,
        )
        try:
            self._event_bus = EventBus(max_workers=settings.event_workers)
        except BaseException:
            self._storage.close()
            raise
        self._closed = False

    @property
    def settings(self) -> QueueSettings:
        """The constructor's options, checked (read-only)."""
        return self._settings

    # The reference keeps these options as private attributes; they read the settings.

    @property
    def _async_concurrency(self) -> int:
        return self._settings.async_concurrency

    @property
    def _max_rescues(self) -> int:
        return self._settings.max_rescues

    @property
    def _workers(self) -> int:
        return self._settings.workers

    @property
    def _drain_timeout(self) -> float:
        return self._settings.drain_timeout

    @property
    def _interceptor(self) -> ArgumentInterceptor | None:
        """The argument interceptor; None when interception is off."""
        return self._interception.interceptor

    @property
    def _test_mode_active(self) -> bool:
        """Whether a ``test_mode()`` block is open (where the reference keeps that flag)."""
        return self._test_mode is not None

    def __repr__(self) -> str:
        return f"<Queue {self._storage.describe()!r} tasks={len(self._task_registry)}>"

    if not TYPE_CHECKING:  # hidden from type checkers, which still flag unknown attributes

        def __getattr__(self, name: str) -> Any:
            raise missing_attribute(self, name, QUEUE_ATTRIBUTES)

    # --- lifecycle ----------------------------------------------------------------------

    def close(self) -> None:
        """Stop the event bus, the webhooks' threads (a hung endpoint holds this up for about
        two seconds at most) and the async executor, close storage. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._blocking.shutdown()
        self._event_bus.shutdown(wait=True)
        if self._webhook_manager is not None:
            # After the bus: the events it was still handing out are queued for sending.
            self._webhook_manager.close()
        self._storage.close()

    def __enter__(self) -> Queue:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _execution_env(self) -> ExecutionEnv:
        """What the engine needs, sharing this Queue's registry, middleware list and hooks."""
        return ExecutionEnv(
            storage=self._storage,
            serializer=self._serializer,
            tasks=self._task_registry,
            middleware=self._global_middleware,
            hooks=self._hooks,
            namespace=self.namespace,
            queue_limits=self._queue_limits,
            periodic=self._periodic,
            result_ttl_ms=self._settings.result_ttl_ms,
            signer=self._signer,
            unknown_task_window_ms=self._settings.unknown_task_window_ms,
            max_rescues=self._settings.max_rescues,
            metrics_retention_ms=self._settings.metrics_retention_ms,
            arguments=self._interception.restore,
            resource_definitions=self._resource_definitions,
            retention=self._retention,
            dlq_auto_retry_delay_ms=self._dlq_auto_retry_delay_ms,
            dlq_auto_retry_max=self._dlq_auto_retry_max,
            advancer=self._run_advancer(),
        )

    # --- tasks, hooks, events -----------------------------------------------------------

    @refuse_celery_keywords("@queue.task()", TASK_KEYWORDS)
    def task(
        self,
        name: str | None = None,
        max_retries: int = 3,
        retry_backoff: float = 1.0,
        timeout: float | None = 300,
        priority: int = 0,
        rate_limit: str | None = None,
        queue: str = "default",
        circuit_breaker: dict[str, Any] | None = None,
        retry_on: list[type[BaseException]] | None = None,
        dont_retry_on: list[type[BaseException]] | None = None,
        soft_timeout: float | None = None,
        middleware: list[Any] | None = None,
        retry_delays: list[float] | None = None,
        inject: list[str] | None = None,
        serializer: Any = None,
        max_retry_delay: float | None = None,
        max_concurrent: int | None = None,
        idempotent: bool = False,
        codecs: list[str] | None = None,
        retry_budget: str | None = None,
        on_excess: OnExcess | str = OnExcess.DEFER,
        debounce: float | str | None = None,
        debounce_key: str | None = None,
        debounce_max_wait: float | str | None = None,
        debounce_replace_payload: bool = False,
        expires: float | None = None,
        max_in_flight_per_task: int | None = None,
    ) -> Callable[[Callable[..., Any]], TaskWrapper]:
        """Register a function as a task: ``@queue.task()`` (the parentheses are required).

        Every option is checked now; a bad one raises ``TypeError``/``ValueError`` (a name
        in ``codecs`` that ``Queue(codecs=...)`` does not define, too).
        ``retry_budget`` (``"N/s|m|h"``) caps the retries of all the task's jobs across every
        worker; ``on_excess="drop"`` dead-letters a job its rate limit refuses instead of
        deferring it (docs/operations.md).
        ``debounce`` (a window, with ``debounce_key`` and ``debounce_max_wait``) makes the
        task's calls trailing-edge debounced (docs/operations.md, "Debounce").
        ``expires`` (seconds) is the default of the calls' own ``expires``.
        ``max_in_flight_per_task`` caps the task's jobs running at once in one worker.
        """
        options = check_task_options(
            name=name,
            max_retries=max_retries,
            retry_backoff=retry_backoff,
            timeout=timeout,
            priority=priority,
            rate_limit=rate_limit,
            queue=queue,
            circuit_breaker=circuit_breaker,
            retry_on=retry_on,
            dont_retry_on=dont_retry_on,
            soft_timeout=soft_timeout,
            middleware=middleware,
            retry_delays=retry_delays,
            inject=inject,
            serializer=serializer,
            max_retry_delay=max_retry_delay,
            max_concurrent=max_concurrent,
            idempotent=idempotent,
            debounce=debounce,
            debounce_key=debounce_key,
            debounce_max_wait=debounce_max_wait,
            debounce_replace_payload=debounce_replace_payload,
            codecs=codecs,
            retry_budget=retry_budget,
            on_excess=on_excess,
            expires=expires,
            max_in_flight_per_task=max_in_flight_per_task,
        )
        options = dataclasses.replace(
            options, serializer=self._settings.task_serializer(options.serializer, options.codecs)
        )

        def register(fn: Callable[..., Any]) -> TaskWrapper:
            spec = options.spec_for(fn)
            if spec.name in self._task_registry:
                raise ConfigurationError(
                    f"a task named {spec.name!r} is already registered on this queue; "
                    "pass name= to register another"
                )
            self._task_registry[spec.name] = spec
            return TaskWrapper(spec, self)

        return register

    def _add_hook(self, hooks: list[Callable[..., Any]], fn: F) -> F:
        if not callable(fn):
            raise TypeError(f"a hook must be callable, not {type(fn).__name__}")
        hooks.append(fn)
        return fn

    def before_task(self, fn: F) -> F:
        """``fn(task_name, args, kwargs)`` before each task runs."""
        return self._add_hook(self._hooks.before_task, fn)

    def after_task(self, fn: F) -> F:
        """``fn(task_name, args, kwargs, result, error)`` after each task, error or not."""
        return self._add_hook(self._hooks.after_task, fn)

    def on_success(self, fn: F) -> F:
        """``fn(task_name, args, kwargs, result)`` after each task that returned."""
        return self._add_hook(self._hooks.on_success, fn)

    def on_failure(self, fn: F) -> F:
        """``fn(task_name, args, kwargs, error)`` after each task that raised."""
        return self._add_hook(self._hooks.on_failure, fn)

    def on_event(self, event_type: EventType, callback: EventCallback) -> None:
        """Call ``callback(event_type, payload)`` on the event thread pool for each event."""
        self._event_bus.on(event_type, callback)

    def test_mode(
        self, propagate_errors: bool = False, resources: dict[str, Any] | None = None
    ) -> TestMode:
        """A context manager that runs enqueued tasks at once, in this thread."""
        from taskito.testing import TestMode

        return TestMode(self, propagate_errors=propagate_errors, resources=resources)

    # --- the worker ---------------------------------------------------------------------

    def run_worker(
        self,
        queues: list[str] | None = None,
        tags: list[str] | None = None,
        pool: str = "thread",
        app: str | None = None,
        *,
        max_tasks_per_child: int = 0,
        workers: int | None = None,
        drain_timeout: float | None = None,
    ) -> None:
        """Consume jobs until ``request_shutdown()`` (or a signal handled by the CLI).

        ``queues=None`` consumes every queue. ``pool`` is "thread", "prefork" (needs
        ``app="module:attr"`` so children can import this Queue) or "async" (docs/pools.md).
        ``max_tasks_per_child`` (prefork only; 0 = never) replaces a child after that many jobs.
        ``workers`` and ``drain_timeout``, when given, override the Queue's for this worker.
        """
        settings = worker_settings(
            self._settings,
            queues,
            tags,
            pool,
            app,
            max_tasks_per_child=max_tasks_per_child,
            workers=workers,
            drain_timeout=drain_timeout,
        )
        from taskito.worker import Worker

        with self._running_workers.starting():
            worker = Worker(self._execution_env(), self._event_bus, settings)
            self._running_workers.register(worker)
        warn_if_unsigned(self._signer)
        try:
            worker.run()
        finally:
            self._running_workers.discard(worker)

    def request_shutdown(self) -> None:
        """Ask every worker running on this Queue to drain and stop, including one whose
        ``run_worker`` call is still starting. Any thread may call it."""
        self._running_workers.request_shutdown()

    def shutdown(self) -> None:
        """The reference's later name for ``request_shutdown()``: the same call."""
        self.request_shutdown()

    async def arun_worker(
        self,
        queues: list[str] | None = None,
        tags: list[str] | None = None,
        pool: str = "thread",
        app: str | None = None,
        *,
        max_tasks_per_child: int = 0,
        workers: int | None = None,
        drain_timeout: float | None = None,
    ) -> None:
        """``run_worker`` on a thread; SIGINT/SIGTERM (main thread) and task cancellation
        request a graceful shutdown."""
        loop = asyncio.get_running_loop()
        run = functools.partial(
            self.run_worker,
            queues=queues,
            tags=tags,
            pool=pool,
            app=app,
            max_tasks_per_child=max_tasks_per_child,
            workers=workers,
            drain_timeout=drain_timeout,
        )
        done = loop.run_in_executor(None, run)
        installed = install_signal_handlers(loop, self.request_shutdown)
        try:
            await asyncio.shield(done)
        except asyncio.CancelledError:
            # The worker may not have registered yet: keep asking until it has stopped.
            while not done.done():
                self.request_shutdown()
                await asyncio.wait({done}, timeout=0.05)
            raise
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)


__all__ = ["Queue"]
