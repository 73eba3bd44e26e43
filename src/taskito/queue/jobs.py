"""One enqueue call turned into a checked ``NewJob``, for both enqueue paths (``enqueue.py``
and ``batches.py``): the ``on_enqueue`` middleware that may change the call's options
(``protocol.EnqueueOptions``), the options checked against the queue's defaults, and the
payload, bound to its job when the queue signs or the serializer encrypts (docs/security.md).

This is the producer's hot path: an option left at None or given a usual value costs a type
test; only an unusual value goes through the full check, for its message.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from taskito.exceptions import ConfigurationError, PayloadTooLargeError
from taskito.ids import new_job_id
from taskito.job import NewJob
from taskito.queue import checks as check
from taskito.queue.arguments import serialize_args, to_ms
from taskito.queue.protocol import ENQUEUE_OPTIONS, EnqueueOptions
from taskito.serializers import binds_context
from taskito.signing import payload_context, seal
from taskito.storable import check_storable, is_storable

if TYPE_CHECKING:
    from collections.abc import Sequence

    from taskito.middleware import TaskMiddleware
    from taskito.queue.settings import QueueSettings
    from taskito.queue.state import QueueBase
    from taskito.serializers import Serializer

logger = logging.getLogger("taskito.enqueue")

_PRIORITY_MIN, _PRIORITY_MAX = check.PRIORITY_MIN, check.PRIORITY_MAX
_MAX_COUNT = check.MAX_EXACT_INT


def run_on_enqueue(
    chain: Sequence[TaskMiddleware],
    task_name: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    options: EnqueueOptions,
) -> EnqueueOptions:
    """``options`` as the middleware of ``chain`` leave them: each reads and may change them
    as a dict; one that raises is logged.

    A key the enqueue call does not know is an error: it would otherwise be ignored.
    """
    given = options.as_dict()
    for mw in chain:
        try:
            mw.on_enqueue(task_name, args, kwargs, given)
        except Exception:
            logger.exception(
                "middleware on_enqueue() error",
                extra={"task_name": task_name, "middleware": type(mw).__name__},
            )
    unknown = sorted(str(key) for key in given if key not in ENQUEUE_OPTIONS)
    if unknown:
        raise ConfigurationError(f"on_enqueue middleware set unknown enqueue options {unknown}")
    return EnqueueOptions(**given)


def encode_payload(
    queue: QueueBase,
    serializer: Serializer,
    job_id: str,
    task_name: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    envelope: dict[str, Any] | None = None,
) -> bytes:
    """The job's payload, bound to its id and task name when the queue signs or the
    serializer encrypts (docs/security.md); plain bytes otherwise (the fast path).
    ``envelope``: interception left markers in the arguments (``interception.markers``)."""
    signer = queue._signer
    if signer is None and not binds_context(serializer):
        return serialize_args(serializer, task_name, args, kwargs, envelope=envelope)
    context = payload_context(job_id, task_name)
    payload = serialize_args(serializer, task_name, args, kwargs, context, envelope)
    return seal(signer, context, payload)


def build_job(
    queue: QueueBase,
    task_name: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    serializer: Serializer,
    now: int,
    options: EnqueueOptions,
    envelope: dict[str, Any] | None = None,
    payload_limit: int | None = None,
) -> NewJob:
    """Check every option of one job and encode its args, in the order ``enqueue`` lists the
    options (so of several bad ones, the first is reported). ``payload_limit``: the call's
    ``max_payload_bytes`` (None: the queue's)."""
    settings = queue._settings
    job_id = new_job_id()
    payload = encode_payload(queue, serializer, job_id, task_name, args, kwargs, envelope)
    limit = queue._max_payload_bytes if payload_limit is None else payload_limit
    if limit and len(payload) > limit:
        raise_too_large(task_name, len(payload), limit)
    priority, queue_name, max_retries, timeout_ms = _with_queue_defaults(settings, options)
    unique_key = options.unique_key
    if unique_key is not None:
        unique_key = check.check_storable_name("unique_key", unique_key)
    metadata = options.metadata
    if metadata is not None:
        _check_metadata(metadata)
    delay, expires, result_ttl = options.delay, options.expires, options.result_ttl
    return NewJob(
        job_id,
        queue_name,
        task_name,
        payload,
        priority,
        now,
        now if not delay else now + to_ms(check.check_delay(delay)),
        max_retries,
        timeout_ms,
        unique_key,
        metadata,
        () if options.depends_on is None else check.check_depends_on(options.depends_on),
        None if expires is None else now + to_ms(check.check_duration("expires", expires)),
        settings.result_ttl_ms
        if result_ttl is None
        else to_ms(check.check_duration("result_ttl", result_ttl)),
        queue.namespace,
    )


def raise_too_large(task_name: str, size: int, limit: int) -> None:
    raise PayloadTooLargeError(
        f"the payload of task {task_name!r} is {size} bytes, over max_payload_bytes ({limit});"
        " nothing was stored: pass large data by reference (a file path, a URL, a row id)"
    )


def _with_queue_defaults(
    settings: QueueSettings, options: EnqueueOptions
) -> tuple[int, str, int, int | None]:
    """The options that fall back on the queue's defaults when None: priority, queue (named
    "default"), max_retries and timeout (in ms), checked."""
    priority = options.priority
    if priority is None:
        priority = settings.default_priority
    elif type(priority) is not int or not _PRIORITY_MIN <= priority <= _PRIORITY_MAX:
        priority = check.check_priority("priority", priority)
    queue_name = options.queue
    if queue_name is None:
        queue_name = "default"
    elif type(queue_name) is not str or not queue_name or not is_storable(queue_name):
        queue_name = check.check_storable_name("queue", queue_name)
    max_retries = options.max_retries
    if max_retries is None:
        max_retries = settings.default_retry
    elif type(max_retries) is not int or not 0 <= max_retries <= _MAX_COUNT:
        max_retries = check.check_exact_count("max_retries", max_retries)
    timeout = options.timeout
    if timeout is None:
        return priority, queue_name, max_retries, settings.default_timeout_ms
    return (
        priority,
        queue_name,
        max_retries,
        to_ms(check.check_duration("timeout", timeout, allow_zero=False)),
    )


def _check_metadata(metadata: object) -> None:
    if type(metadata) is not str:
        raise TypeError(f"metadata must be a str (e.g. JSON), not {type(metadata).__name__}")
    # Refused rather than escaped: the caller's text (often JSON) must stay as given.
    check_storable("metadata", metadata)


__all__ = ["build_job", "encode_payload", "raise_too_large", "run_on_enqueue"]
