"""What the engine knows about tasks: ``TaskSpec`` (a task's function and validated options),
the queue-level ``Hooks``, ``ExecutionEnv`` (everything ``execution.run_job`` needs from the
Queue, without importing it), ``ClaimedJob`` (a claimed job with its task, resolved once) and
``ResourceProvider`` (how the engine asks a worker for a resource by name)."""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from taskito.retention import Retention
from taskito.retry import RetryPolicy
from taskito.storage.base import DEFAULT_MAX_RESCUES

if TYPE_CHECKING:
    from taskito.advancing import RunAdvancer
    from taskito.interception.settings import RestoreSettings
    from taskito.job import JobRecord
    from taskito.middleware import TaskMiddleware
    from taskito.resources.definition import ResourceDefinition
    from taskito.serializers import Serializer
    from taskito.signing import Signer
    from taskito.storage.base import Storage


#: ``Queue(metrics_retention=...)``'s default: task metrics are kept for 7 days.
DEFAULT_METRICS_RETENTION_S = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``count`` jobs per ``period_s`` seconds, parsed from ``"N/s"``, ``"N/m"`` or ``"N/h"``."""

    count: int
    period_s: float

    @property
    def per_second(self) -> float:
        return self.count / self.period_s

    def describe(self) -> str:
        """The rate as written: ``"100/m"``."""
        unit = {1.0: "s", 60.0: "m", 3600.0: "h"}.get(self.period_s)
        return f"{self.count}/{unit}" if unit else f"{self.count} per {self.period_s:g} s"


_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*([a-z]+)\s*$")
_PERIODS_S = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hour": 3600.0,
}


def parse_rate_limit(text: str, option: str = "rate_limit") -> RateLimit:
    """Parse ``"100/m"``; anything else raises ``ValueError`` naming ``option`` (the option
    that holds the rate: ``rate_limit``, ``retry_budget``) and the accepted forms."""
    if not isinstance(text, str):
        raise TypeError(f"{option} must be a string like '10/s', not {type(text).__name__}")
    match = _RATE_RE.match(text.lower())
    if match is None or match.group(2) not in _PERIODS_S:
        raise ValueError(
            f"invalid {option} {text!r}: expected 'N/s', 'N/m' or 'N/h' (e.g. '100/m')"
        )
    count = int(match.group(1))
    if count <= 0:
        raise ValueError(f"invalid {option} {text!r}: N must be a positive whole number")
    return RateLimit(count=count, period_s=_PERIODS_S[match.group(2)])


class OnExcess(StrEnum):
    """What a worker does with a claimed job that its task's or its queue's rate limit
    refuses: ``DEFER`` puts it back to pending for when a slot frees up (the default);
    ``DROP`` dead-letters it at once, without running it (load shedding). A concurrency cap
    or an open circuit breaker always defers."""

    DEFER = "defer"
    DROP = "drop"


def retry_budget_key(namespace: str | None, task_name: str) -> str:
    """The rate-slot key of a task's retry budget: one per (namespace, task), shared by every
    worker on the database."""
    return f"retry::{namespace or ''}::{task_name}"


@dataclass(frozen=True, slots=True)
class DebounceOptions:
    """A debounce window (docs/operations.md, "Debounce"), checked by ``queue/debounce.py``:
    calls that resolve ``key`` (a ``str.format`` template over the call's arguments) to the
    same text make one job, run ``window_ms`` after the last of them, and at most
    ``max_wait_ms`` after the first; ``replace_payload`` stores the last call's arguments."""

    window_ms: int
    key: str
    max_wait_ms: int
    replace_payload: bool = False


@dataclass(frozen=True, slots=True)
class CircuitBreakerConfig:
    """Options of a task's circuit breaker."""

    threshold: int = 5
    window_s: float = 60.0
    cooldown_s: float = 300.0
    half_open_probes: int = 5
    half_open_success_rate: float = 0.8


_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


class CallShape:
    """How a task may be called, read once from its function's signature.

    ``check`` raises ``TypeError`` at ``delay()`` for a call the function would refuse when it
    runs (docs/architecture.md, invariant 8). The common calls are accepted without
    ``Signature.bind`` (about 1-2 us): only a call the fast rules cannot accept is bound, for its
    exact verdict and message. A function whose signature cannot be read (some builtins) is never
    refused. ``injected`` names parameters a worker fills with resources: callers need not pass
    them.
    """

    __slots__ = (
        "_injected",
        "_keyword_ok",
        "_max_positional",
        "_min_positional",
        "_positional_index",
        "_required_keywords",
        "_required_positional",
        "_signature",
    )

    def __init__(self, fn: Callable[..., Any], injected: Sequence[str] = ()) -> None:
        self._injected = tuple(injected)
        try:
            # The function the worker calls, not the one a decorator's ``functools.wraps``
            # names: a wrapper may take arguments of its own.
            signature: inspect.Signature | None = inspect.signature(fn, follow_wrapped=False)
        except (TypeError, ValueError):  # a builtin or C function without a readable signature
            signature = None
        self._signature = signature
        params = [] if signature is None else list(signature.parameters.values())
        positional = [p for p in params if p.kind in _POSITIONAL]
        kind = inspect.Parameter
        self._positional_index = {p.name: index for index, p in enumerate(positional)}
        required = [p for p in positional if p.default is p.empty and p.name not in injected]
        self._required_positional = tuple(p.name for p in required)
        self._min_positional = len(self._required_positional)
        self._max_positional = len(positional)
        if signature is None or any(p.kind is kind.VAR_POSITIONAL for p in params):
            self._max_positional = sys.maxsize
        self._required_keywords = tuple(
            p.name
            for p in params
            if p.kind is kind.KEYWORD_ONLY and p.default is p.empty and p.name not in injected
        )
        self._keyword_ok = frozenset(
            p.name for p in params if p.kind in (kind.POSITIONAL_OR_KEYWORD, kind.KEYWORD_ONLY)
        )

    def check(self, task_name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
        """Raise ``TypeError`` naming the task when ``fn(*args, **kwargs)`` cannot bind."""
        count = len(args)
        # Injected parameters may sit anywhere: such a task's calls are always bound.
        if (
            not self._injected
            and count <= self._max_positional
            and (self._accepts(count) if not kwargs else self._accepts_keywords(count, kwargs))
        ):
            return
        if self._signature is None:
            return
        filled = {name: None for name in self._injected if name not in kwargs}
        try:
            self._signature.bind(*args, **filled, **kwargs)
        except TypeError as exc:
            raise TypeError(
                f"task {task_name!r} cannot be called with these arguments: {exc}"
            ) from None

    def _accepts(self, count: int) -> bool:
        return count >= self._min_positional and not self._required_keywords

    def _accepts_keywords(self, count: int, kwargs: Mapping[str, Any]) -> bool:
        """Sound, not complete: True only for a call that surely binds."""
        keyword_ok, index = self._keyword_ok, self._positional_index
        for key in kwargs:
            if key not in keyword_ok or (key in index and index[key] < count):
                return False  # unknown, positional-only or given twice: let bind() decide
        for name in self._required_positional[count:]:
            if name not in kwargs:
                return False
        for name in self._required_keywords:  # noqa: SIM110 (all() and a generator: 3x slower)
            if name not in kwargs:
                return False
        return True


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """A registered task: the user's function and its validated options.

    ``timeout_s``/``soft_timeout_s`` of None mean "none". ``serializer`` None means "the
    queue's". ``middleware`` is the per-task list, run after the global one.
    """

    name: str
    fn: Callable[..., Any]
    is_async: bool = False
    queue: str = "default"
    priority: int = 0
    max_retries: int = 3
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout_s: float | None = 300.0
    soft_timeout_s: float | None = None
    rate_limit: RateLimit | None = None
    circuit_breaker: CircuitBreakerConfig | None = None
    retry_on: tuple[type[BaseException], ...] = ()
    dont_retry_on: tuple[type[BaseException], ...] = ()
    middleware: tuple[TaskMiddleware, ...] = ()
    inject: tuple[str, ...] = ()
    serializer: Serializer | None = None
    max_concurrent: int | None = None
    #: Calls store an automatic idempotency key unless they say otherwise.
    idempotent: bool = False
    #: At most this many retries of the task's jobs per period, across every worker (None:
    #: no budget); a failure that finds it spent is dead-lettered at once.
    retry_budget: RateLimit | None = None
    #: What a claimed job that a rate limit refuses becomes: deferred or dropped.
    on_excess: OnExcess = OnExcess.DEFER
    #: At most this many jobs of the task run at once in one worker (None: no share cap).
    max_in_flight_per_task: int | None = None
    #: The ``expires`` (seconds) of the task's calls that give none (None: they never expire).
    expires_s: float | None = None
    #: The task's debounce window (None: calls are not debounced unless they say so).
    debounce: DebounceOptions | None = None
    #: How ``fn`` may be called; read from its signature once, here.
    call_shape: CallShape = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "call_shape", CallShape(self.fn, self.inject))

    def allows_retry(self, exc: BaseException) -> bool:
        """``dont_retry_on`` wins; a non-empty ``retry_on`` retries only what it names."""
        if self.dont_retry_on and isinstance(exc, self.dont_retry_on):
            return False
        if self.retry_on:
            return isinstance(exc, self.retry_on)
        return True


@dataclass(slots=True)
class Hooks:
    """Queue-level hook lists, filled by ``@queue.before_task`` and friends (spec 3.3).

    before_task(task_name, args, kwargs); after_task(task_name, args, kwargs, result, error);
    on_success(task_name, args, kwargs, result); on_failure(task_name, args, kwargs, error).
    """

    before_task: list[Callable[..., Any]] = field(default_factory=list)
    after_task: list[Callable[..., Any]] = field(default_factory=list)
    on_success: list[Callable[..., Any]] = field(default_factory=list)
    on_failure: list[Callable[..., Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class QueueLimits:
    """Queue-level limits (``Queue.set_queue_rate_limit`` / ``set_queue_concurrency``),
    enforced by every worker right after it claims a job of that queue."""

    rate_limit: RateLimit | None = None
    max_concurrent: int | None = None


@dataclass(frozen=True, slots=True)
class PeriodicSpec:
    """A ``@queue.periodic`` declaration: ``cron`` is the 6-field seconds-first expression
    (optional 7th year field) already checked by ``taskito.cron``; ``timezone`` an IANA name
    (None: UTC). ``args``/``kwargs`` are encoded with the queue's serializer when fired."""

    name: str
    task_name: str
    cron: str
    timezone: str | None
    queue: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A claimed job and what the worker resolved for it once, right after the claim
    (``ExecutionEnv.resolve``): its task, None when this worker does not know it, and its
    middleware chain (the global list as it was then, then the task's own). The flow gate,
    the pool, ``execution.run_job`` and the outcome writer all read these; none looks the
    task up by name again."""

    job: JobRecord
    spec: TaskSpec | None
    middleware: tuple[TaskMiddleware, ...]
    #: Names of the task's middleware a runtime override switched off (already left out of
    #: ``middleware``); a prefork child, which resolves its own chain, is told them.
    disabled_middleware: frozenset[str] = frozenset()


class ResourceProvider(Protocol):
    """The worker's resources, as the engine asks for one: ``acquire_for_task(name)`` returns
    the instance and a callable that gives it back after the task (None when nothing needs
    giving back), or raises a ``ResourceError`` naming the resource. ``ExecutionEnv.resources``
    holds the worker's provider; arguments a producer redirected (``interception``) are
    acquired through it."""

    def acquire_for_task(self, name: str) -> tuple[Any, Callable[[], None] | None]: ...


@dataclass(slots=True)
class ExecutionEnv:
    """What ``execution.run_job`` needs from a Queue. The lists are the Queue's own, so a
    middleware appended to ``queue._global_middleware`` is seen by the next job claimed."""

    storage: Storage
    serializer: Serializer
    tasks: dict[str, TaskSpec]
    middleware: list[TaskMiddleware]
    hooks: Hooks
    namespace: str | None = None
    #: Queue name -> limits; the Queue's own dict, so limits set later reach new workers.
    queue_limits: dict[str, QueueLimits] = field(default_factory=dict)
    #: Schedule name -> declaration; fired by the worker's scheduler.
    periodic: dict[str, PeriodicSpec] = field(default_factory=dict)
    #: ``Queue(result_ttl=...)`` in ms, for jobs the worker itself enqueues (periodic slots).
    result_ttl_ms: int | None = None
    #: ``Queue(signing_key=...)``: signs results and periodic payloads, verifies payloads
    #: before they are deserialised. None: nothing is signed or verified.
    signer: Signer | None = None
    #: ``Queue(unknown_task_window=...)`` in ms: how long a job of a task this worker does not
    #: know is put back for a worker that knows it (``worker/unknown_tasks.py``); 0: fail now.
    unknown_task_window_ms: int = 3_600_000
    #: ``Queue(max_rescues=...)``: rescues of a job before it is dead-lettered as a poison pill.
    max_rescues: int = DEFAULT_MAX_RESCUES
    #: ``Queue(metrics_retention=...)`` in ms: each finished attempt writes a metric row, and
    #: the scheduler deletes rows older than this. 0: no row is written (and old ones go);
    #: None: rows are kept forever.
    metrics_retention_ms: int | None = DEFAULT_METRICS_RETENTION_S * 1000
    #: How the arguments of a payload carrying the interception envelope are restored (the
    #: Queue's proxy handlers, recipe key, time limit, reconstructors). None: such a payload
    #: fails its job.
    arguments: RestoreSettings | None = None
    #: The worker's resources by name (``ResourceProvider``); None: none are available.
    resources: ResourceProvider | None = None
    #: The Queue's resource definitions (its own dict): a worker, and each prefork child,
    #: builds its ``resources`` from them.
    resource_definitions: dict[str, ResourceDefinition] = field(default_factory=dict)
    #: ``Queue(retention=...)``: the windows the worker's sweep applies; None: off (a notice).
    retention: Retention | None = None
    #: ``Queue(dlq_auto_retry_delay=...)`` in ms (None: no automatic dead-letter retry) and
    #: ``dlq_auto_retry_max``: automatic retries per job.
    dlq_auto_retry_delay_ms: int | None = None
    dlq_auto_retry_max: int = 1
    #: The Queue's workflow engine (built on first use); None: this worker drives no
    #: workflow runs.
    advancer: RunAdvancer | None = None

    @property
    def records_metrics(self) -> bool:
        return self.metrics_retention_ms != 0

    def resolve(self, job: JobRecord) -> ClaimedJob:
        """``job`` with its task and middleware chain: the one look-up a claimed job gets."""
        spec = self.lookup(job.task_name)
        return ClaimedJob(job, spec, self.middleware_for(spec))

    def middleware_for(self, spec: TaskSpec | None) -> tuple[TaskMiddleware, ...]:
        """The chain a run of ``spec`` goes through: the global middleware, then the task's."""
        if spec is None or not spec.middleware:
            return tuple(self.middleware)
        return (*self.middleware, *spec.middleware)

    def lookup(self, task_name: str) -> TaskSpec | None:
        """The task for ``task_name``; a ``__main__.x`` name matches a task ending in ``.x``."""
        spec = self.tasks.get(task_name)
        if spec is not None or not task_name.startswith("__main__."):
            return spec
        suffix = task_name[len("__main__") :]
        matches: Sequence[TaskSpec] = [s for n, s in self.tasks.items() if n.endswith(suffix)]
        return matches[0] if len(matches) == 1 else None
