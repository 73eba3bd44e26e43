"""Debounce (docs/operations.md, "Debounce"): the ``debounce*`` options of a task or a call,
checked into ``DebounceOptions``; the key a call resolves its template to; and the enqueue of
a debounced call, which storage finds, slides or inserts in one atomic step
(``Storage.enqueue_debounced``).

A window is trailing-edge: calls with the same key (per task and namespace) while their job
is pending and unclaimed move it to ``now + window``, never past ``max_wait`` after the first.
"""

from __future__ import annotations

import inspect
import math
import re
import string
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from taskito.events import EventType
from taskito.job import now_ms
from taskito.queue import checks as check
from taskito.queue.jobs import build_job
from taskito.registry import DebounceOptions
from taskito.result import JobResult

if TYPE_CHECKING:
    from taskito.queue.protocol import EnqueueOptions
    from taskito.queue.state import QueueBase
    from taskito.serializers import Serializer

_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h|d)\s*")
#: The longest window or wait: ``check.MAX_SECONDS``, so every backend stores the time exactly.
_MAX_MS = check.MAX_SECONDS * 1_000
_OPTION_NAMES = ("debounce_key", "debounce_max_wait", "debounce_replace_payload")


def parse_duration_ms(name: str, value: object) -> int:
    """A debounce duration in ms: a string with a unit (``"500ms"``, ``"2s"``, ``"5m"``,
    ``"1h"``, ``"1d"``) or a number of seconds. A bare numeric string (which unit?), a
    duration that is not positive, infinite or too large raises ``ValueError`` naming
    ``name``; anything else ``TypeError``."""
    if isinstance(value, str):
        match = _DURATION.fullmatch(value)
        if match is None:
            raise ValueError(
                f"{name} must be a number of seconds or a string with a unit (ms, s, m, h or d),"
                f" such as '500ms' or '2s'; got {value!r}"
            )
        ms = float(match[1]) * _UNIT_MS[match[2]]
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            ms = float(value) * 1_000
        except OverflowError:
            ms = math.inf
    else:
        raise TypeError(
            f"{name} must be a number of seconds or a string such as '2s',"
            f" not {type(value).__name__}"
        )
    if math.isnan(ms) or ms <= 0:
        raise ValueError(f"{name} must be a positive duration, got {value!r}")
    if ms > _MAX_MS:
        limit = f"{check.MAX_SECONDS:g} s"
        raise ValueError(f"{name} must be finite and at most {limit}, got {value!r}")
    # round(), not ceil(): "0.1s" is 100.00000000000001 ms in floating point. A positive
    # duration under half a millisecond still waits one.
    return max(1, round(ms))


def check_debounce(
    window: object, key: object, max_wait: object, replace_payload: object
) -> DebounceOptions | None:
    """The ``debounce``, ``debounce_key``, ``debounce_max_wait`` and
    ``debounce_replace_payload`` of a task or a call, checked (None: no window). Every
    mistake raises ``ValueError`` (a wrong type ``TypeError``) naming the option."""
    if replace_payload is not None and type(replace_payload) is not bool:
        raise TypeError(
            f"debounce_replace_payload must be True or False, not {type(replace_payload).__name__}"
        )
    if window is None:
        given = [
            name
            for name, value in zip(_OPTION_NAMES, (key, max_wait, replace_payload), strict=True)
            if value is not None and value is not False
        ]
        if given:
            raise ValueError(f"{', '.join(given)} needs debounce= (the window) as well")
        return None
    window_ms = parse_duration_ms("debounce", window)
    if key is None:
        raise ValueError("debounce= needs debounce_key= (the key calls are grouped by)")
    if max_wait is None:
        raise ValueError("debounce= needs debounce_max_wait= (the longest a job may wait)")
    max_wait_ms = parse_duration_ms("debounce_max_wait", max_wait)
    if max_wait_ms < window_ms:
        raise ValueError(
            f"debounce_max_wait ({max_wait!r}) must be at least the debounce window ({window!r})"
        )
    return DebounceOptions(window_ms, _check_template(key), max_wait_ms, bool(replace_payload))


def _check_template(key: object) -> str:
    template = check.check_storable_name("debounce_key", key)
    try:
        list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"debounce_key {template!r} is not a valid template: {exc}") from None
    return template


def call_options(
    window: object, key: object, max_wait: object, replace_payload: object
) -> DebounceOptions | None:
    """A call's own window: None when it passes no ``debounce*`` option (the task's then
    applies), else the window those options define on their own (no merge with the task's)."""
    if window is None and key is None and max_wait is None and replace_payload is None:
        return None
    options = check_debounce(window, key, max_wait, replace_payload)
    if options is None:  # only debounce_replace_payload=False
        raise ValueError("debounce_replace_payload needs debounce= (the window) as well")
    return options


def refuse_combinations(task_name: str, **given: object) -> None:
    """A debounced call cannot also carry ``delay`` (the window sets when it runs) or a
    deduplication key (the debounce key is the call's identity)."""
    for name, value in given.items():
        if value is not None and value is not False:
            raise ValueError(
                f"task {task_name!r} is debounced: {name}= cannot be combined with debounce"
                " (the window sets when the job runs, and the debounce key is its identity)"
            )


def resolve_key(
    template: str,
    task_name: str,
    fn: Callable[..., Any] | None,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> str:
    """``template`` formatted against the call: parameters by name (positional arguments
    included, defaults applied, ``**kwargs`` flattened), positions (``{0}``) as a fallback.
    A placeholder the call lacks, or an empty result, raises ``ValueError``."""
    named = _named_arguments(fn, args, kwargs)
    try:
        key = template.format(*args, **named)
    except (KeyError, IndexError):
        missing = _missing_field(template, len(args), named)
        raise ValueError(
            f"debounce_key {template!r} names {missing}, which this call of task"
            f" {task_name!r} does not have; nothing was stored"
        ) from None
    except (AttributeError, TypeError, ValueError) as exc:
        raise ValueError(
            f"debounce_key {template!r} cannot be formatted for this call of task"
            f" {task_name!r}: {exc}; nothing was stored"
        ) from None
    if not key:
        raise ValueError(
            f"debounce_key {template!r} is empty for this call of task {task_name!r};"
            " nothing was stored"
        )
    return check.check_storable_name("debounce_key", key)


def _missing_field(template: str, positional: int, named: dict[str, Any]) -> str:
    """The first placeholder of ``template`` the call cannot fill, as the message names it."""
    automatic = 0
    for _, field, _, _ in string.Formatter().parse(template):
        if field is None:
            continue
        head = re.split(r"[.\[]", field, maxsplit=1)[0]
        if head == "":
            head, automatic = str(automatic), automatic + 1
        if head.isdigit():
            if int(head) >= positional:
                return f"position {head}"
        elif head not in named:
            return repr(head)
    return "a placeholder"


def _named_arguments(
    fn: Callable[..., Any] | None, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    if fn is None:
        return dict(kwargs)
    try:
        signature = inspect.signature(fn)
        bound = signature.bind_partial(*args, **kwargs)
    except (TypeError, ValueError):
        return dict(kwargs)
    bound.apply_defaults()
    named: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        kind = signature.parameters[name].kind
        if kind is inspect.Parameter.VAR_KEYWORD:
            named.update(value)
        elif kind is not inspect.Parameter.VAR_POSITIONAL:
            named[name] = value
    return named


def enqueue_debounced(
    queue: QueueBase,
    task_name: str,
    call: tuple[tuple[Any, ...], dict[str, Any], dict[str, Any] | None],
    serializer: Serializer,
    options: EnqueueOptions,
    debounce: DebounceOptions,
    payload_limit: int | None,
) -> JobResult:
    """Store a debounced call (``call``: its args, kwargs and interception envelope): the
    job its key holds, slid, or a new one scheduled at the end of the window. Only a new job
    is announced (``JOB_ENQUEUED``) and checked against the queue's ``max_pending``."""
    args, kwargs, envelope = call
    spec = queue._task_registry.get(task_name)
    fn = None if spec is None else spec.fn
    key = resolve_key(debounce.key, task_name, fn, args, kwargs)
    now = now_ms()
    options.delay = None
    job = build_job(
        queue, task_name, args, kwargs, serializer, now, options, envelope, payload_limit
    )
    job.scheduled_at = now + debounce.window_ms
    record, slid = queue._storage.enqueue_debounced(
        job,
        key,
        debounce.window_ms,
        debounce.max_wait_ms,
        debounce.replace_payload,
        now,
        max_pending=queue._caps.cap_for(queue._storage, job.queue),
    )
    if not slid and queue._event_bus.has_listeners(EventType.JOB_ENQUEUED):
        queue._event_bus.emit(
            EventType.JOB_ENQUEUED,
            {"task_name": task_name, "job_id": record.id, "queue": record.queue},
        )
    return JobResult(record, queue)


__all__ = [
    "call_options",
    "check_debounce",
    "enqueue_debounced",
    "parse_duration_ms",
    "refuse_combinations",
    "resolve_key",
]
