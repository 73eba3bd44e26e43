"""The ``@queue.task()`` decorator's options, checked into ``TaskOptions`` at definition time
(docs/architecture.md, invariant 8), and the default task name of a function."""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from taskito import _checks
from taskito.exceptions import ConfigurationError
from taskito.inject import merge_injected
from taskito.queue import checks as check
from taskito.queue.debounce import check_debounce
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
    from taskito.middleware import TaskMiddleware
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
    expires_s: float | None = None
    max_in_flight_per_task: int | None = None

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
            expires_s=self.expires_s,
            max_in_flight_per_task=self.max_in_flight_per_task,
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
    debounce: object = None,
    debounce_key: object = None,
    debounce_max_wait: object = None,
    debounce_replace_payload: object = False,
    expires: object = None,
    max_in_flight_per_task: object = None,
) -> TaskOptions:
    """Check every decorator option; raise ``TypeError``/``ValueError`` naming the bad one.
    The keywords are ``@queue.task()``'s."""
    if callable(name):
        raise TypeError("@queue.task must be called with parentheses: use @queue.task()")
    window = check_debounce(debounce, debounce_key, debounce_max_wait, debounce_replace_payload)
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
        expires_s=check.check_optional_duration("expires", expires, allow_zero=False),
        max_in_flight_per_task=_checks.check_optional_int(
            "max_in_flight_per_task", max_in_flight_per_task, minimum=1, error=ConfigurationError
        ),
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


__all__ = ["TaskOptions", "check_task_options", "default_task_name"]
