"""``TaskWrapper``, the object users call ``.delay()`` on, and ``Signature`` (``task.s()``), a call
ready to apply later, which the canvas composes. The decorator's options are checked in
``task_options``."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from taskito.celery_habits import (
    APPLY_ASYNC_KEYWORDS,
    SIGNATURE_ATTRIBUTES,
    TASK_ATTRIBUTES,
    apply_async_delay,
    missing_attribute,
    refuse_celery_keywords,
)
from taskito.exceptions import ConfigurationError
from taskito.queue.protocol import ENQUEUE_OPTIONS
from taskito.queue.state import QueueBase
from taskito.registry import (
    TaskSpec,
)

if TYPE_CHECKING:
    from datetime import datetime

    from taskito.interception.report import InterceptionReport
    from taskito.queue.protocol import TaskQueue
    from taskito.result import JobResult


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
        self._expires_s = spec.expires_s

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
        """Enqueue with the decorator's priority, queue, max_retries, timeout and expires."""
        return self._queue.enqueue(
            self._name,
            args,
            kwargs or None,
            priority=self._priority,
            queue=self._task_queue,
            max_retries=self._max_retries,
            timeout=self._timeout_s,
            expires=self._expires_s,
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
            expires=self._expires_s if expires is None else expires,
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
            expires=self._expires_s,
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
            "expires": task._expires_s,
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


__all__ = ["DEFAULT_STEP_TIMEOUT_S", "Signature", "TaskWrapper"]
