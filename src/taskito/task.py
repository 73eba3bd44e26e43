"""The ``@queue.task()`` decorator's work: checking options into a ``TaskSpec`` at definition
time (docs/architecture.md, invariant 8); ``TaskWrapper``, the object users call ``.delay()`` on;
and ``Signature`` (``task.s()``), a call ready to apply later, which the canvas composes."""

from __future__ import annotations

import functools
import inspect
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from taskito import _checks
from taskito.celery_habits import (
    APPLY_ASYNC_KEYWORDS,
    SIGNATURE_ATTRIBUTES,
    TASK_ATTRIBUTES,
    apply_async_delay,
    missing_attribute,
    refuse_celery_keywords,
)
from taskito.exceptions import ConfigurationError
from taskito.inject import merge_injected
from taskito.queue import checks as check
from taskito.queue.debounce import check_debounce
from taskito.queue.protocol import ENQUEUE_OPTIONS
from taskito.queue.state import QueueBase
from taskito.registry import (
    CircuitBreakerConfig,
    DebounceOptions,
    OnExcess,
    RateLimit,
    TaskSpec,
    parse_rate_limit,
)
from taskito.retry import RetryPolicy

if TYPE_CHECKING:
    from datetime import datetime

    from taskito.interception.report import InterceptionReport
    from taskito.middleware import TaskMiddleware
    from taskito.queue.protocol import TaskQueue
    from taskito.result import JobResult
    from taskito.serializers import Serializer

_BREAKER_KEYS = ("threshold", "window", "cooldown", "half_open_probes", "half_open_success_rate")


@dataclass(frozen=True, slots=True)
class TaskOptions:
    """The decorator's options, checked; ``spec_for`` binds them to a function."""

    name: str | None
    max_retries: int
    retry: RetryPolicy
    timeout_s: float | None
    soft_timeout_s: float | None
    priority: int
    rate_limit: RateLimit | None
    queue: str
    circuit_breaker: CircuitBreakerConfig | None
    retry_on: tuple[type[BaseException], ...]
    dont_retry_on: tuple[type[BaseException], ...]
    middleware: tuple[TaskMiddleware, ...]
    inject: tuple[str, ...]
    serializer: Serializer | None
    max_concurrent: int | None
    idempotent: bool
    #: Names of the queue's codecs this task's payloads go through (``Queue(codecs=...)``).
    codecs: tuple[str, ...] = ()
    retry_budget: RateLimit | None = None
    on_excess: OnExcess = OnExcess.DEFER
    debounce: DebounceOptions | None = None

    def spec_for(self, fn: Callable[..., Any]) -> TaskSpec:
        if not callable(fn):
            raise TypeError(f"@queue.task() decorates a function, not {type(fn).__name__}")
        return TaskSpec(
            name=self.name or default_task_name(fn),
            fn=fn,
            is_async=inspect.iscoroutinefunction(fn),
            queue=self.queue,
            priority=self.priority,
            max_retries=self.max_retries,
            retry=self.retry,
            timeout_s=self.timeout_s,
            soft_timeout_s=self.soft_timeout_s,
            rate_limit=self.rate_limit,
            circuit_breaker=self.circuit_breaker,
            retry_on=self.retry_on,
            dont_retry_on=self.dont_retry_on,
            middleware=self.middleware,
            inject=merge_injected(self.inject, fn),
            serializer=self.serializer,
            max_concurrent=self.max_concurrent,
            idempotent=self.idempotent,
            retry_budget=self.retry_budget,
            on_excess=self.on_excess,
            debounce=self.debounce,
        )


def check_task_options(
    *,
    name: object,
    max_retries: object,
    retry_backoff: object,
    timeout: object,
    priority: object,
    rate_limit: object,
    queue: object,
    circuit_breaker: object,
    retry_on: object,
    dont_retry_on: object,
    soft_timeout: object,
    middleware: object,
    retry_delays: object,
    inject: object,
    serializer: object,
    max_retry_delay: object,
    max_concurrent: object,
    idempotent: object = False,
    codecs: object = None,
    retry_budget: object = None,
    on_excess: object = OnExcess.DEFER,
    debounce: tuple[object, object, object, object] = (None, None, None, False),
) -> TaskOptions:
    """Check every decorator option; raise ``TypeError``/``ValueError`` naming the bad one.
    ``debounce``: the ``debounce``, ``debounce_key``, ``debounce_max_wait`` and
    ``debounce_replace_payload`` options, in that order."""
    if callable(name):
        raise TypeError("@queue.task must be called with parentheses: use @queue.task()")
    window = check_debounce(*debounce)
    if window is not None and idempotent is True:
        raise ValueError(
            "idempotent=True cannot be combined with debounce: the debounce key is the"
            " identity of a debounced call"
        )
    return TaskOptions(
        name=None if name is None else check.check_storable_name("name", name),
        max_retries=check.check_exact_count("max_retries", max_retries),
        retry=RetryPolicy(
            backoff_s=check.check_duration("retry_backoff", retry_backoff),
            delays_s=_check_retry_delays(retry_delays),
            max_delay_s=check.check_optional_duration("max_retry_delay", max_retry_delay),
        ),
        timeout_s=check.check_optional_duration("timeout", timeout, allow_zero=False),
        soft_timeout_s=check.check_optional_duration(
            "soft_timeout", soft_timeout, allow_zero=False
        ),
        priority=check.check_priority("priority", priority),
        rate_limit=None if rate_limit is None else parse_rate_limit(rate_limit),  # type: ignore[arg-type]
        queue=check.check_storable_name("queue", queue),
        circuit_breaker=_check_circuit_breaker(circuit_breaker),
        retry_on=check.check_exception_classes("retry_on", retry_on),
        dont_retry_on=check.check_exception_classes("dont_retry_on", dont_retry_on),
        middleware=tuple(check.check_middleware("middleware", middleware)),
        inject=_check_inject(inject),
        serializer=None if serializer is None else check.check_serializer("serializer", serializer),
        max_concurrent=_checks.check_optional_int(
            "max_concurrent", max_concurrent, minimum=1, error=ConfigurationError
        ),
        idempotent=_check_idempotent_task(idempotent),
        codecs=_check_codec_names(codecs),
        retry_budget=_check_retry_budget(retry_budget),
        on_excess=_check_on_excess(on_excess),
        debounce=window,
    )


def _check_retry_budget(value: object) -> RateLimit | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(
            f"retry_budget must be a string like '100/m' or None, not {type(value).__name__}"
        )
    return parse_rate_limit(value, "retry_budget")


def _check_on_excess(value: object) -> OnExcess:
    choices = ", ".join(repr(choice.value) for choice in OnExcess)
    if not isinstance(value, str):
        raise TypeError(f"on_excess must be one of {choices}, not {type(value).__name__}")
    try:
        return OnExcess(value)
    except ValueError:
        raise ValueError(f"invalid on_excess {value!r}: expected one of {choices}") from None


def _check_idempotent_task(value: object) -> bool:
    if type(value) is not bool:
        raise TypeError(f"idempotent must be True or False, not {type(value).__name__}")
    return value


def _check_codec_names(value: object) -> tuple[str, ...]:
    """``codecs=``: names of the queue's codecs (looked up by ``Queue.task``), in order."""
    if value is None:
        return ()
    names = _checks.check_names("codecs", value)
    if not names:
        raise ValueError("codecs is an empty list: name at least one codec, or leave it out")
    return names


def _check_inject(value: object) -> tuple[str, ...]:
    """``inject=`` names worker resources. They may be defined after the task (or only in the
    worker's process), so a name is not looked up here: a worker that lacks it fails the
    task's jobs with an error naming it (and warns at start)."""
    names = check.check_storable_names("inject", value)
    return tuple(dict.fromkeys(names))


def _check_retry_delays(value: object) -> tuple[float, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list | tuple):
        raise TypeError(f"retry_delays must be a list of seconds, not {type(value).__name__}")
    return tuple(check.check_duration("retry_delays entries", item) for item in value)


def _check_circuit_breaker(value: object) -> CircuitBreakerConfig | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TypeError(f"circuit_breaker must be a dict, not {type(value).__name__}")
    unknown = sorted(str(key) for key in value if key not in _BREAKER_KEYS)
    if unknown:
        raise ConfigurationError(
            f"circuit_breaker has unknown keys {unknown}: expected {', '.join(_BREAKER_KEYS)}"
        )
    defaults = CircuitBreakerConfig()
    return CircuitBreakerConfig(
        threshold=_checks.check_int(
            "circuit_breaker['threshold']",
            value.get("threshold", defaults.threshold),
            minimum=1,
            error=ConfigurationError,
        ),
        window_s=check.check_duration(
            "circuit_breaker['window']", value.get("window", defaults.window_s), allow_zero=False
        ),
        cooldown_s=check.check_duration(
            "circuit_breaker['cooldown']", value.get("cooldown", defaults.cooldown_s)
        ),
        half_open_probes=_checks.check_int(
            "circuit_breaker['half_open_probes']",
            value.get("half_open_probes", defaults.half_open_probes),
            minimum=1,
            error=ConfigurationError,
        ),
        half_open_success_rate=_checks.check_fraction(
            "circuit_breaker['half_open_success_rate']",
            value.get("half_open_success_rate", defaults.half_open_success_rate),
            error=ConfigurationError,
        ),
    )


def default_task_name(fn: Callable[..., Any]) -> str:
    """``module.qualname``; a ``__main__`` module is named as it would be when imported, so a
    worker that imports the script finds the same name."""
    module = getattr(fn, "__module__", None) or "__main__"
    qualname = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    if qualname is None:
        raise TypeError(f"cannot derive a task name for {fn!r}: pass name=")
    if module == "__main__":
        module = _main_module_name()
    return f"{module}.{qualname}"


def _main_module_name() -> str:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and getattr(spec, "name", None):
        name: str = spec.name
        return name
    path = getattr(main, "__file__", None)
    if isinstance(path, str) and path:
        return os.path.splitext(os.path.basename(path))[0]
    return "__main__"


class TaskWrapper:
    """A registered task: call it to run the function here, ``.delay()`` to enqueue it."""

    # Copied from the function by functools.update_wrapper.
    __name__: str
    __wrapped__: Callable[..., Any]

    def __init__(self, spec: TaskSpec, queue: TaskQueue) -> None:
        functools.update_wrapper(self, spec.fn)
        self._spec = spec
        self._queue = queue
        self._taskito_is_async = spec.is_async
        self._taskito_async_fn = spec.fn if spec.is_async else None
        # The decorator defaults, read on every delay(): kept as plain attributes.
        self._name = spec.name
        self._task_queue = spec.queue
        self._priority = spec.priority
        self._max_retries = spec.max_retries
        self._timeout_s = spec.timeout_s

    @property
    def name(self) -> str:
        return self._name

    @property
    def inject(self) -> list[str]:
        return list(self._spec.inject)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._spec.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<TaskWrapper {self._name!r}>"

    if not TYPE_CHECKING:  # hidden from type checkers, which still flag unknown attributes

        def __getattr__(self, name: str) -> Any:
            raise missing_attribute(self, name, TASK_ATTRIBUTES)

    def delay(self, *args: Any, **kwargs: Any) -> JobResult:
        """Enqueue with the decorator's priority, queue, max_retries and timeout."""
        return self._queue.enqueue(
            self._name,
            args,
            kwargs or None,
            priority=self._priority,
            queue=self._task_queue,
            max_retries=self._max_retries,
            timeout=self._timeout_s,
        )

    @refuse_celery_keywords("apply_async()", APPLY_ASYNC_KEYWORDS)
    def apply_async(
        self,
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
        *,
        countdown: float | None = None,
        eta: datetime | None = None,
        idempotency_key: str | None = None,
        idempotent: bool | None = None,
        max_payload_bytes: int | None = None,
        debounce: float | str | None = None,
        debounce_key: str | None = None,
        debounce_max_wait: float | str | None = None,
        debounce_replace_payload: bool | None = None,
    ) -> JobResult:
        """Enqueue with per-call options; each None falls back to the decorator's value.

        ``countdown`` (seconds) is Celery's name for ``delay``; ``eta`` a timezone-aware
        datetime to run at (a past one means now). Give at most one of the three. Any
        ``debounce*`` option gives this call its own window in place of the task's.
        """
        if countdown is not None or eta is not None:
            delay = apply_async_delay(delay, countdown, eta)
        return self._queue.enqueue(
            self._name,
            args,
            kwargs,
            priority=self._priority if priority is None else priority,
            delay=delay,
            queue=self._task_queue if queue is None else queue,
            max_retries=self._max_retries if max_retries is None else max_retries,
            timeout=self._timeout_s if timeout is None else timeout,
            unique_key=unique_key,
            metadata=metadata,
            depends_on=depends_on,
            expires=expires,
            result_ttl=result_ttl,
            idempotency_key=idempotency_key,
            idempotent=idempotent,
            max_payload_bytes=max_payload_bytes,
            debounce=debounce,
            debounce_key=debounce_key,
            debounce_max_wait=debounce_max_wait,
            debounce_replace_payload=debounce_replace_payload,
        )

    def map(self, iterable_of_arg_tuples: Iterable[tuple[Any, ...] | list[Any]]) -> list[JobResult]:
        """Enqueue one job per argument tuple in a single transaction."""
        return self._queue.enqueue_many(
            self._name,
            list(iterable_of_arg_tuples),
            priority=self._priority,
            queue=self._task_queue,
            max_retries=self._max_retries,
            timeout=self._timeout_s,
        )

    def analyze(self, *args: Any, **kwargs: Any) -> InterceptionReport:
        """What the queue's interception would do with these arguments, without doing it:
        an entry per argument and per value inside one that is not simply passed on (empty
        when interception is off)."""
        return self._queue.analyze_arguments(args, kwargs)

    def s(self, *args: Any, **kwargs: Any) -> Signature:
        """A signature whose args get the previous chain step's result prepended."""
        return Signature(self, args, kwargs)

    def si(self, *args: Any, **kwargs: Any) -> Signature:
        """An immutable signature: a chain passes it nothing."""
        return Signature(self, args, kwargs, immutable=True)


#: Seconds a composition waits for one step's result when its options give no timeout.
DEFAULT_STEP_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Signature:
    """A task with its arguments and enqueue options, ready to apply later.

    ``options`` are ``queue.enqueue`` keywords; the task's decorator values fill the gaps.
    An ``immutable`` signature (``task.si()``) takes no result from a previous chain step.
    """

    task: TaskWrapper
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    immutable: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.task, TaskWrapper):
            raise TypeError(f"Signature needs a task, not {type(self.task).__name__}")
        if not isinstance(self.args, tuple | list):
            raise TypeError(f"Signature args must be a tuple, not {type(self.args).__name__}")
        object.__setattr__(self, "args", tuple(self.args))
        if not isinstance(self.kwargs, dict):
            raise TypeError(f"Signature kwargs must be a dict, not {type(self.kwargs).__name__}")
        if not isinstance(self.options, dict):
            raise TypeError(f"Signature options must be a dict, not {type(self.options).__name__}")
        unknown = sorted(str(key) for key in self.options if key not in ENQUEUE_OPTIONS)
        if unknown:
            known = ", ".join(sorted(ENQUEUE_OPTIONS))
            raise ConfigurationError(f"unknown Signature options {unknown}: expected {known}")

    if not TYPE_CHECKING:  # hidden from type checkers, which still flag unknown attributes

        def __getattr__(self, name: str) -> Any:
            raise missing_attribute(self, name, SIGNATURE_ATTRIBUTES)

    @property
    def result_timeout_s(self) -> float:
        """How long a composition waits for this step: its ``timeout`` option, else 300 s."""
        timeout = self.options.get("timeout")
        return DEFAULT_STEP_TIMEOUT_S if timeout is None else float(timeout)

    def apply(self, queue: TaskQueue | None = None) -> JobResult:
        """Enqueue on ``queue`` (default: the task's own Queue)."""
        return self._enqueue(queue, self.args)

    async def apply_async(self, queue: TaskQueue | None = None) -> JobResult:
        return self._enqueue(queue, self.args)

    def _enqueue(self, queue: TaskQueue | None, args: tuple[Any, ...]) -> JobResult:
        target = _target_queue(self.task, queue)
        task = self.task
        options = {
            "priority": task._priority,
            "queue": task._task_queue,
            "max_retries": task._max_retries,
            "timeout": task._timeout_s,
            **self.options,
        }
        return target.enqueue(task.name, args, dict(self.kwargs) or None, **options)

    def _check_call(self) -> None:
        """Raise ``TypeError`` now when the task could not take this signature's arguments."""
        self.task._spec.call_shape.check(self.task.name, self.args, self.kwargs)

    def _args_after(self, previous: Any) -> tuple[Any, ...]:
        """This step's args once the previous step returned ``previous``."""
        if self.immutable or previous is None:
            return self.args
        return (previous, *self.args)


def _target_queue(task: TaskWrapper, queue: TaskQueue | None) -> TaskQueue:
    if queue is None:
        return task._queue
    if not isinstance(queue, QueueBase):
        raise TypeError(
            f"apply(queue=) takes a Queue, not {type(queue).__name__}; "
            "set the queue name with options={'queue': ...}"
        )
    return queue


__all__ = [
    "DEFAULT_STEP_TIMEOUT_S",
    "Signature",
    "TaskOptions",
    "TaskWrapper",
    "check_task_options",
    "default_task_name",
]
