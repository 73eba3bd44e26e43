"""The jobs of one ``Queue.enqueue_many`` call: its per-job lists (``PerJobLists``), checked
against ``args_list``, and one ``NewJob`` per entry. Jobs are built one by one when a list or
``on_enqueue`` middleware can change a job's options; otherwise (the ``map()`` path) the
options are checked once for the whole batch and only the arguments are encoded per job.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from taskito.ids import new_job_id
from taskito.job import NewJob, now_ms
from taskito.queue.arguments import as_args, as_kwargs, check_same_length
from taskito.queue.jobs import build_job, encode_payload, run_on_enqueue
from taskito.queue.payloads import payload_serializer
from taskito.queue.protocol import EnqueueOptions

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

    def check(self, jobs: int) -> None:
        """Every list given is a list of ``jobs`` entries."""
        for name in _LIST_NAMES:
            check_same_length(name, getattr(self, name), jobs)

    def given(self) -> bool:
        return any(getattr(self, name) is not None for name in _LIST_NAMES)

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
) -> list[NewJob]:
    """One checked job per entry of ``args_list``, all created at the same time."""
    spec = queue._task_registry.get(task_name)
    chain = [*queue._global_middleware, *(spec.middleware if spec is not None else ())]
    serializer = payload_serializer(queue, task_name)
    shape = None if spec is None else spec.call_shape
    now = now_ms()
    if chain or lists.given():
        return _build_one_by_one(
            queue, task_name, args_list, lists, shared, chain, serializer, now, shape
        )
    return _build_uniform(queue, task_name, args_list, shared, serializer, now, shape)


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
) -> list[NewJob]:
    """The general path: per-job lists and ``on_enqueue`` middleware."""
    jobs: list[NewJob] = []
    for index, raw_args in enumerate(args_list):
        args = as_args(raw_args)
        kwargs = lists.kwargs_for(index)
        options = lists.options_for(index, shared)
        if chain:
            options = run_on_enqueue(chain, task_name, args, kwargs, options)
            options.depends_on = None  # batches carry no dependencies
        if shape is not None:
            shape.check(task_name, args, kwargs)
        jobs.append(build_job(queue, task_name, args, kwargs, serializer, now, options))
    return jobs


def _build_uniform(
    queue: QueueBase,
    task_name: str,
    args_list: Sequence[tuple[Any, ...] | list[Any]],
    shared: EnqueueOptions,
    serializer: Serializer,
    now: int,
    shape: CallShape | None,
) -> list[NewJob]:
    """The ``map()`` path: options checked once, then only arguments vary per job."""
    template = build_job(queue, task_name, (), {}, serializer, now, shared)
    queue_name, priority, scheduled_at = template.queue, template.priority, template.scheduled_at
    max_retries, timeout_ms, metadata = (
        template.max_retries,
        template.timeout_ms,
        template.metadata,
    )
    expires_at, result_ttl_ms, namespace = (
        template.expires_at,
        template.result_ttl_ms,
        template.namespace,
    )
    empty: dict[str, Any] = {}
    jobs: list[NewJob] = []
    append = jobs.append
    encode = encode_payload
    for raw_args in args_list:
        args = raw_args if type(raw_args) is tuple else as_args(raw_args)
        job_id = new_job_id()
        if shape is not None:
            shape.check(task_name, args, empty)
        append(
            NewJob(
                job_id,
                queue_name,
                task_name,
                encode(queue, serializer, job_id, task_name, args, empty),
                priority,
                now,
                scheduled_at,
                max_retries,
                timeout_ms,
                None,
                metadata,
                (),
                expires_at,
                result_ttl_ms,
                namespace,
            )
        )
    return jobs


__all__ = ["PerJobLists", "build_batch"]
