"""The jobs of one ``Queue.enqueue_many`` call: its per-job lists (``PerJobLists``), checked
against ``args_list``. Jobs are built one by one (a ``NewJob`` each) when a list or
``on_enqueue`` middleware can change a job's options; otherwise (the ``map()`` path) the
options are checked once for the whole batch, ids are made in one go, only the arguments are
checked and encoded per job, and the batch goes to storage as columns (``JobBatch``).
A bad entry raises naming its index in ``args_list``; nothing of the batch is stored.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from taskito.exceptions import (
    ConfigurationError,
    DependencyError,
    PayloadTooLargeError,
    SerializationError,
)
from taskito.ids import new_job_ids
from taskito.job import JobBatch, NewJob, now_ms
from taskito.queue.arguments import as_args, as_kwargs, check_same_length
from taskito.queue.idempotency import auto_key, explicit_key
from taskito.queue.jobs import build_job, encode_payload, raise_too_large, run_on_enqueue
from taskito.queue.payloads import payload_serializer
from taskito.queue.protocol import EnqueueOptions
from taskito.serializers import plain_call_encoder

if TYPE_CHECKING:
    from collections.abc import Sequence

    from taskito.middleware import TaskMiddleware
    from taskito.queue.state import QueueBase
    from taskito.registry import CallShape
    from taskito.serializers import Serializer


@dataclass(frozen=True, slots=True)
class PerJobLists:
    """The ``*_list`` arguments of ``enqueue_many``: each None or one entry per job, where an
    entry that is not None overrides the shared option (or kwargs) for its job."""

    kwargs_list: Sequence[dict[str, Any] | None] | None = None
    delay_list: Sequence[float | None] | None = None
    unique_keys: Sequence[str | None] | None = None
    metadata_list: Sequence[str | None] | None = None
    expires_list: Sequence[float | None] | None = None
    result_ttl_list: Sequence[float | None] | None = None
    idempotency_keys: Sequence[str | None] | None = None

    def check(self, jobs: int) -> None:
        """Every list given is a list of ``jobs`` entries."""
        for name in _LIST_NAMES:
            check_same_length(name, getattr(self, name), jobs)

    def given(self) -> bool:
        return any(getattr(self, name) is not None for name in _LIST_NAMES)

    def idempotency_key_for(self, index: int) -> str | None:
        if self.idempotency_keys is None:
            return None
        return explicit_key(f"idempotency_keys[{index}]", self.idempotency_keys[index])

    def kwargs_for(self, index: int) -> dict[str, Any]:
        return as_kwargs(None if self.kwargs_list is None else self.kwargs_list[index])

    def options_for(self, index: int, shared: EnqueueOptions) -> EnqueueOptions:
        """``shared`` with job ``index``'s entries of the option lists that are not None."""
        overrides: dict[str, Any] = {}
        for option, values in (
            ("delay", self.delay_list),
            ("unique_key", self.unique_keys),
            ("metadata", self.metadata_list),
            ("expires", self.expires_list),
            ("result_ttl", self.result_ttl_list),
        ):
            if values is not None and values[index] is not None:
                overrides[option] = values[index]
        return dataclasses.replace(shared, **overrides)


_LIST_NAMES = tuple(field.name for field in dataclasses.fields(PerJobLists))


def build_batch(
    queue: QueueBase,
    task_name: str,
    args_list: Sequence[tuple[Any, ...] | list[Any]],
    lists: PerJobLists,
    shared: EnqueueOptions,
    auto_keys: bool = False,
    payload_limit: int | None = None,
) -> list[NewJob] | JobBatch:
    """One checked job per entry of ``args_list``, all created at the same time: a
    ``JobBatch`` (columns) when only the arguments vary, else one ``NewJob`` per entry. A bad
    entry raises naming its index, before anything of the batch is stored. ``auto_keys``:
    a job without a unique or idempotency key gets its call's automatic key.
    ``payload_limit``: the call's ``max_payload_bytes`` (None: the queue's)."""
    limit = queue._max_payload_bytes if payload_limit is None else payload_limit
    spec = queue._task_registry.get(task_name)
    chain = [*queue._global_middleware, *(spec.middleware if spec is not None else ())]
    serializer = payload_serializer(queue, task_name)
    shape = None if spec is None else spec.call_shape
    now = now_ms()
    if auto_keys or chain or lists.given() or queue._interception.interceptor is not None:
        return _build_one_by_one(
            queue,
            task_name,
            args_list,
            lists,
            shared,
            chain,
            serializer,
            now,
            shape,
            (auto_keys, limit),
        )
    return _build_uniform(queue, task_name, args_list, shared, serializer, now, shape, limit)


def _build_one_by_one(
    queue: QueueBase,
    task_name: str,
    args_list: Sequence[tuple[Any, ...] | list[Any]],
    lists: PerJobLists,
    shared: EnqueueOptions,
    chain: Sequence[TaskMiddleware],
    serializer: Serializer,
    now: int,
    shape: CallShape | None,
    keys_and_limit: tuple[bool, int],
) -> list[NewJob]:
    """The general path: per-job lists, ``on_enqueue`` middleware, interception, keys
    (``keys_and_limit``: automatic idempotency keys, and the payload size limit)."""
    auto_keys, limit = keys_and_limit
    jobs: list[NewJob] = []
    for index, raw_args in enumerate(args_list):
        try:
            args = as_args(raw_args)
            kwargs = lists.kwargs_for(index)
            options = lists.options_for(index, shared)
            if chain:
                options = run_on_enqueue(chain, task_name, args, kwargs, options)
                options.depends_on = None  # batches carry no dependencies
            # One refused job raises here, before anything of the batch is stored.
            call = queue._interception.intercept(args, kwargs)
            if shape is not None:
                shape.check(task_name, call.args, call.kwargs)
            if options.unique_key is None:
                options.unique_key = lists.idempotency_key_for(index)
            if options.unique_key is None and auto_keys:
                options.unique_key = auto_key(
                    serializer, task_name, call.args, call.kwargs, call.envelope
                )
            jobs.append(
                build_job(
                    queue,
                    task_name,
                    call.args,
                    call.kwargs,
                    serializer,
                    now,
                    options,
                    call.envelope,
                    limit,
                )
            )
        except Exception as exc:
            raise _naming_job(exc, index) from exc.__cause__
    return jobs


def _build_uniform(
    queue: QueueBase,
    task_name: str,
    args_list: Sequence[tuple[Any, ...] | list[Any]],
    shared: EnqueueOptions,
    serializer: Serializer,
    now: int,
    shape: CallShape | None,
    limit: int,
) -> JobBatch:
    """The ``map()`` path: options checked once (as ``build_job`` checks them), ids made in
    one go, and per job only its arguments checked and encoded."""
    template = build_job(queue, task_name, (), {}, serializer, now, shared, payload_limit=0)
    ids = new_job_ids(len(args_list))
    payloads = _encode_arguments(queue, task_name, args_list, ids, serializer, shape)
    if limit:
        for index, payload in enumerate(payloads):
            if len(payload) > limit:
                try:
                    raise_too_large(task_name, len(payload), limit)
                except PayloadTooLargeError as exc:
                    raise _naming_job(exc, index) from None
    return JobBatch(
        ids,
        payloads,
        template.queue,
        task_name,
        template.priority,
        now,
        template.scheduled_at,
        template.max_retries,
        template.timeout_ms,
        template.metadata,
        template.expires_at,
        template.result_ttl_ms,
        template.namespace,
    )


def _encode_arguments(
    queue: QueueBase,
    task_name: str,
    args_list: Sequence[tuple[Any, ...] | list[Any]],
    ids: list[str],
    serializer: Serializer,
    shape: CallShape | None,
) -> list[bytes]:
    """The payload of each ``(args, {})`` call, checked against the task's signature: the same
    bytes ``delay()`` stores for that call (``encode_payload``), through the serializer's plain
    data shortcut where the queue neither signs nor binds payloads to their job."""
    empty: dict[str, Any] = {}
    plain = None if queue._signer is not None else plain_call_encoder(serializer, empty)
    payloads: list[bytes] = []
    append = payloads.append
    index = 0
    try:
        for index, raw_args in enumerate(args_list):
            args = raw_args if type(raw_args) is tuple else as_args(raw_args)
            if shape is not None:
                shape.check(task_name, args, empty)
            payload = None if plain is None else plain(args)
            if payload is None:
                payload = encode_payload(queue, serializer, ids[index], task_name, args, empty)
            append(payload)
    except Exception as exc:
        raise _naming_job(exc, index) from exc.__cause__
    return payloads


def _naming_job(exc: Exception, index: int) -> Exception:
    """``exc`` with the batch index of the job it is about in its message (``args_list[3]:
    ...``), as the same type; a type whose constructor takes more than a message gets the
    index as a note instead."""
    if type(exc) in _RENAMEABLE:
        renamed = type(exc)(f"args_list[{index}]: {exc}")
        renamed.__traceback__ = exc.__traceback__
        return renamed
    exc.add_note(f"raised for args_list[{index}] of the batch")
    return exc


_RENAMEABLE = frozenset(
    {
        TypeError,
        ValueError,
        ConfigurationError,
        SerializationError,
        DependencyError,
        PayloadTooLargeError,
    }
)


__all__ = ["PerJobLists", "build_batch"]
