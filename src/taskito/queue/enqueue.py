"""``Queue.enqueue`` and ``Queue.enqueue_many``: check the call, turn it into ``NewJob`` rows
(``jobs.py``, ``batches.py``), store them, announce them, and hand back ``JobResult`` handles.
Test mode is a seam here: a call goes to ``TestMode`` instead of storage.

This is the producer's hot path: per-call work is kept to what each job needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from taskito.events import EventType
from taskito.job import JobBatch, now_ms
from taskito.queue import checks as check
from taskito.queue.arguments import as_args, as_kwargs
from taskito.queue.batches import PerJobLists, build_batch
from taskito.queue.jobs import build_job, run_on_enqueue
from taskito.queue.protocol import EnqueueOptions
from taskito.queue.state import QueueBase
from taskito.result import JobResult

if TYPE_CHECKING:
    from taskito.serializers import Serializer

_ENQUEUED = EventType.JOB_ENQUEUED


class EnqueueMixin(QueueBase):
    """Putting jobs into storage."""

    def _check_call(
        self, task_name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Serializer:
        """Refuse a call the task's function could not bind (``TypeError``, nothing stored)
        and return the task's serializer. A task not registered here cannot be checked."""
        spec = self._task_registry.get(task_name)
        if spec is None:
            return self._serializer
        spec.call_shape.check(task_name, args, kwargs)
        return self._serializer if spec.serializer is None else spec.serializer

    def enqueue(
        self,
        task_name: str,
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
    ) -> JobResult:
        """Store one job and return its handle.

        ``max_retries=0`` means no retries; a ``timeout`` of None takes the queue's
        ``default_timeout``. Unserializable arguments raise ``SerializationError`` and store
        nothing; ``depends_on`` naming a missing, dead or cancelled job raises
        ``DependencyError`` (a ``RuntimeError``).
        """
        options = EnqueueOptions(
            priority,
            delay,
            queue,
            max_retries,
            timeout,
            unique_key,
            metadata,
            depends_on,
            expires,
            result_ttl,
        )
        if self._test_mode is not None:
            # Test mode runs the call now; its EagerJob has JobResult's surface.
            return cast("JobResult", self._test_mode.run_now(task_name, args, kwargs, options))
        if type(task_name) is not str or not task_name:
            check.check_storable_name("task_name", task_name)
        if type(args) is not tuple:
            args = as_args(args)
        kwargs = as_kwargs(kwargs)
        if self._global_middleware:
            options = run_on_enqueue(self._global_middleware, task_name, args, kwargs, options)
        envelope = None
        if self._interception.interceptor is not None:
            # Before the call is checked: lenient mode may have dropped an argument.
            call = self._interception.intercept(args, kwargs)
            args, kwargs, envelope = call.args, call.kwargs, call.envelope
        serializer = self._check_call(task_name, args, kwargs)
        job = build_job(self, task_name, args, kwargs, serializer, now_ms(), options, envelope)
        record = self._storage.enqueue(job)
        if self._event_bus.has_listeners(_ENQUEUED):
            self._event_bus.emit(
                _ENQUEUED, {"task_name": task_name, "job_id": record.id, "queue": record.queue}
            )
        return JobResult(record, self)

    def enqueue_many(
        self,
        task_name: str,
        args_list: Sequence[tuple[Any, ...] | list[Any]],
        kwargs_list: Sequence[dict[str, Any] | None] | None = None,
        priority: int | None = None,
        queue: str | None = None,
        max_retries: int | None = None,
        timeout: float | None = None,
        delay: float | None = None,
        delay_list: Sequence[float | None] | None = None,
        unique_keys: Sequence[str | None] | None = None,
        metadata: str | None = None,
        metadata_list: Sequence[str | None] | None = None,
        expires: float | None = None,
        expires_list: Sequence[float | None] | None = None,
        result_ttl: float | None = None,
        result_ttl_list: Sequence[float | None] | None = None,
    ) -> list[JobResult]:
        """Store one job per entry of ``args_list`` in one transaction: all or nothing.

        Every ``*_list`` must match ``args_list`` in length and overrides the shared value for
        its job. ``on_enqueue`` runs per job through the global and the task's middleware.
        Unique keys are not deduplicated: one held by an active job fails the whole batch.
        """
        check.check_storable_name("task_name", task_name)
        if isinstance(args_list, str | bytes) or not isinstance(args_list, Sequence):
            raise TypeError(
                f"args_list must be a list of argument tuples, not {type(args_list).__name__}"
            )
        lists = PerJobLists(
            kwargs_list, delay_list, unique_keys, metadata_list, expires_list, result_ttl_list
        )
        lists.check(len(args_list))
        shared = EnqueueOptions(
            priority=priority,
            delay=delay,
            queue=queue,
            max_retries=max_retries,
            timeout=timeout,
            metadata=metadata,
            expires=expires,
            result_ttl=result_ttl,
        )
        batch = build_batch(self, task_name, args_list, lists, shared)
        if isinstance(batch, JobBatch):
            if batch.ids:
                self._storage.enqueue_batch(batch)
            handles = JobResult.of_batch(batch, self)
        else:
            handles = [JobResult(record, self) for record in self._storage.enqueue_many(batch)]
        if self._event_bus.has_listeners(_ENQUEUED):
            for handle in handles:
                self._event_bus.emit(_ENQUEUED, {"job_id": handle.id, "task_name": task_name})
        return handles


__all__ = ["EnqueueMixin"]
