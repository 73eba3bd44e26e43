"""``Queue``, the object users hold: configuration, the task registry, hooks, events and the
worker entry point. Enqueue, inspection, admin and the async mirrors live in the mixins."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from taskito import queue_validation as check
from taskito.events import EventBus, EventCallback, EventType
from taskito.exceptions import ConfigurationError
from taskito.queue_async import AsyncMixin
from taskito.queue_flow import FlowMixin
from taskito.queue_ops import OpsMixin
from taskito.queue_workers import RunningWorkers
from taskito.registry import ExecutionEnv, Hooks, PeriodicSpec, QueueLimits, TaskSpec
from taskito.serializers import CloudpickleSerializer
from taskito.signing import signer_from_settings, warn_if_unsigned
from taskito.storage import open_storage, resolve_target
from taskito.storage.base import DEFAULT_MAX_RESCUES
from taskito.task import TaskWrapper, check_task_options

if TYPE_CHECKING:
    from taskito.storage import StorageTarget
    from taskito.testing import TestMode

logger = logging.getLogger("taskito.app")

F = TypeVar("F", bound=Callable[..., Any])

POOLS = ("thread", "prefork", "async")


class Queue(FlowMixin, OpsMixin, AsyncMixin):
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
    ) -> None:
        self._closed = True  # until storage is open, close() has nothing to do
        if not isinstance(db_path, str | os.PathLike):
            raise TypeError(f"db_path must be a str or path, not {type(db_path).__name__}")
        self._db_path = os.fspath(db_path)
        self._workers = check.check_int("workers", workers, minimum=0) or os.cpu_count() or 1
        self._default_retry = check.check_count("default_retry", default_retry)
        self._default_timeout = check.check_optional_seconds(
            "default_timeout", default_timeout, allow_zero=False
        )
        self._default_timeout_ms = (
            None if self._default_timeout is None else round(self._default_timeout * 1000)
        )
        self._default_priority = check.check_priority("default_priority", default_priority)
        self._result_ttl = check.check_optional_seconds("result_ttl", result_ttl)
        self._serializer = (
            CloudpickleSerializer()
            if serializer is None
            else check.check_serializer("serializer", serializer)
        )
        # Read here, never at import: None falls back to $TASKITO_SIGNING_KEY.
        self._signer = signer_from_settings(signing_key)
        self._global_middleware = check.check_middleware("middleware", middleware)
        target = _check_backend(backend, self._db_path, db_url)
        self._backend, self._db_path, self._db_url = target.backend, target.db_path, target.db_url
        self._schema = check.check_name("schema", schema)
        self._pool_size = check.check_optional_int("pool_size", pool_size, minimum=1)
        self._drain_timeout = check.check_seconds("drain_timeout", drain_timeout, maximum=1e9)
        self._async_concurrency = check.check_int("async_concurrency", async_concurrency, minimum=1)
        event_workers = check.check_int("event_workers", event_workers, minimum=1)
        self._scheduler_poll_interval_ms = check.check_seconds(
            "scheduler_poll_interval_ms", scheduler_poll_interval_ms, allow_zero=False
        )
        self._scheduler_reap_interval = check.check_int(
            "scheduler_reap_interval", scheduler_reap_interval, minimum=1
        )
        self._scheduler_cleanup_interval = check.check_int(
            "scheduler_cleanup_interval", scheduler_cleanup_interval, minimum=1
        )
        self.namespace = None if namespace is None else check.check_name("namespace", namespace)
        # How long a worker that does not know a job's task puts it back for one that does.
        self._unknown_task_window_ms = round(
            check.check_seconds("unknown_task_window", unknown_task_window) * 1000
        )
        # Rescues (a job's worker died or gave it up) before the job is a poison pill.
        self._max_rescues = check.check_int("max_rescues", max_rescues, minimum=0)
        if not isinstance(durable_enqueue, bool):
            raise TypeError(f"durable_enqueue must be a bool, not {type(durable_enqueue).__name__}")
        self._task_registry: dict[str, TaskSpec] = {}
        self._queue_limits: dict[str, QueueLimits] = {}
        self._periodic: dict[str, PeriodicSpec] = {}
        self._hooks = Hooks()
        self._test_mode_active = False
        self._async_executor = None
        self._running_workers = RunningWorkers()

        self._storage = open_storage(
            self._backend,
            db_path=self._db_path,
            db_url=self._db_url,
            schema=self._schema,
            pool_size=self._pool_size,
            durable_enqueue=durable_enqueue,
        )
        try:
            self._event_bus = EventBus(max_workers=event_workers)
        except BaseException:
            self._storage.close()
            raise
        self._closed = False

    def __repr__(self) -> str:
        return f"<Queue {self._storage.describe()!r} tasks={len(self._task_registry)}>"

    # --- lifecycle ----------------------------------------------------------------------

    def close(self) -> None:
        """Stop the event bus and the async executor, close storage. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._shutdown_async_executor()
        self._event_bus.shutdown(wait=True)
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
            result_ttl_ms=None if self._result_ttl is None else round(self._result_ttl * 1000),
            signer=self._signer,
            unknown_task_window_ms=self._unknown_task_window_ms,
            max_rescues=self._max_rescues,
        )

    # --- tasks, hooks, events -----------------------------------------------------------

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
    ) -> Callable[[Callable[..., Any]], TaskWrapper]:
        """Register a function as a task: ``@queue.task()`` (the parentheses are required).

        Every option is checked now; a bad one raises ``TypeError``/``ValueError``.
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
        ``workers`` (>= 1) and ``drain_timeout`` (seconds) override the Queue's ``workers=``
        and ``drain_timeout=`` for this worker only; None keeps them.
        """
        _check_pool(pool, app)
        if workers is not None:
            workers = check.check_int("workers", workers, minimum=1)
        if drain_timeout is not None:
            drain_timeout = check.check_seconds("drain_timeout", drain_timeout, maximum=1e9)
        check.check_int("max_tasks_per_child", max_tasks_per_child, minimum=0)
        if max_tasks_per_child and pool != "prefork":
            raise ConfigurationError(
                f"max_tasks_per_child applies to pool='prefork' only, not pool={pool!r}"
            )
        if queues is not None:
            queues = list(check.check_names("queues", queues))
            if not queues:
                raise ConfigurationError("queues=[] consumes nothing: pass None for every queue")
        tags = list(check.check_names("tags", tags))
        from taskito.worker import Worker

        with self._running_workers.starting():
            worker = Worker(
                self._execution_env(),
                self._event_bus,
                queues=queues,
                tags=tags or (),
                pool=pool,
                app=app,
                threads=self._workers if workers is None else workers,
                drain_timeout_s=self._drain_timeout if drain_timeout is None else drain_timeout,
                async_concurrency=self._async_concurrency,
                max_tasks_per_child=max_tasks_per_child,
                cleanup_interval_s=self._cleanup_interval_s(),
            )
            self._running_workers.register(worker)
        warn_if_unsigned(self._signer)
        try:
            worker.run()
        finally:
            self._running_workers.discard(worker)

    def _cleanup_interval_s(self) -> float:
        """Expired results are deleted every ``scheduler_cleanup_interval`` scheduler ticks of
        ``scheduler_poll_interval_ms`` (the reference's units: 1200 x 50 ms = 60 s)."""
        return self._scheduler_cleanup_interval * self._scheduler_poll_interval_ms / 1000

    def request_shutdown(self) -> None:
        """Ask every worker running on this Queue to drain and stop, including one whose
        ``run_worker`` call is still starting. Any thread may call it."""
        self._running_workers.request_shutdown()

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
        installed = _install_signal_handlers(loop, self.request_shutdown)
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


def _check_backend(backend: object, db_path: str, db_url: object) -> StorageTarget:
    """The backend named by ``backend=`` or inferred from the URL's scheme (``storage``
    knows the names); a contradiction or an unknown scheme is a ``ConfigurationError``."""
    if backend is not None and not isinstance(backend, str):
        raise TypeError(f"backend must be a str, not {type(backend).__name__}")
    check.check_optional_str("db_url", db_url)
    assert db_url is None or isinstance(db_url, str)
    try:
        return resolve_target(backend, db_path, db_url)
    except ConfigurationError:
        raise
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None


def _check_pool(pool: object, app: object) -> None:
    if pool == "prefork":
        if sys.platform == "win32":
            raise NotImplementedError(
                "pool='prefork' is not supported on Windows; use pool='thread'"
            )
        if not app:
            raise ConfigurationError(
                "app= is required when pool='prefork' (e.g. app='myapp.tasks:queue'), "
                "so that child processes can import the Queue"
            )
    elif pool not in POOLS:
        raise ConfigurationError(f"Unknown pool {pool!r}: expected one of {', '.join(POOLS)}")
    if app is not None and not isinstance(app, str):
        raise TypeError(f"app must be a 'module:attribute' string, not {type(app).__name__}")


def _install_signal_handlers(
    loop: asyncio.AbstractEventLoop, callback: Callable[[], None]
) -> list[signal.Signals]:
    """Route SIGINT/SIGTERM to ``callback`` where the loop can (main thread, not Windows)."""
    if threading.current_thread() is not threading.main_thread() or sys.platform == "win32":
        return []
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, callback)
            installed.append(sig)
    return installed


__all__ = ["POOLS", "Queue"]
