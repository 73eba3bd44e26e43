"""``Queue.enqueue`` and ``Queue.enqueue_many``: turn a call into checked ``NewJob`` rows, run
the ``on_enqueue`` middleware, store, and hand back ``JobResult`` handles.

This is the producer's hot path: per-call work is kept to what each job needs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from taskito.events import EventType
from taskito.exceptions import ConfigurationError
from taskito.ids import new_job_id
from taskito.job import NewJob, now_ms
from taskito.queue import checks as check
from taskito.queue.arguments import as_args, as_kwargs, check_same_length, serialize_args, to_ms
from taskito.queue.protocol import ENQUEUE_OPTIONS
from taskito.queue.state import QueueBase
from taskito.result import JobResult
from taskito.serializers import binds_context
from taskito.signing import payload_context, seal
from taskito.storable import check_storable, is_storable

if TYPE_CHECKING:
    from taskito.middleware import TaskMiddleware
    from taskito.registry import CallShape
    from taskito.serializers import Serializer

logger = logging.getLogger("taskito.enqueue")

_ENQUEUED = EventType.JOB_ENQUEUED
_PRIORITY_MIN, _PRIORITY_MAX = check.PRIORITY_MIN, check.PRIORITY_MAX
_MAX_COUNT = check.MAX_EXACT_INT
_PER_JOB_LISTS = (
    "kwargs_list",
    "delay_list",
    "unique_keys",
    "metadata_list",
    "expires_list",
    "result_ttl_list",
)


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

    def _serializer_for(self, task_name: str) -> Serializer:
        spec = self._task_registry.get(task_name)
        if spec is None or spec.serializer is None:
            return self._serializer
        return spec.serializer

    def _encode_payload(
        self,
        serializer: Serializer,
        job_id: str,
        task_name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> bytes:
        """The job's payload, bound to its id and task name when the queue signs or the
        serializer encrypts (docs/security.md); plain bytes otherwise (the fast path)."""
        signer = self._signer
        if signer is None and not binds_context(serializer):
            return serialize_args(serializer, task_name, args, kwargs)
        context = payload_context(job_id, task_name)
        return seal(signer, context, serialize_args(serializer, task_name, args, kwargs, context))

    def _run_on_enqueue(
        self,
        chain: Sequence[TaskMiddleware],
        task_name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        options: dict[str, Any],
    ) -> None:
        """Let middleware read and change ``options``; a middleware that raises is logged.

        A key the enqueue call does not know is an error: it would otherwise be ignored.
        """
        for mw in chain:
            try:
                mw.on_enqueue(task_name, args, kwargs, options)
            except Exception:
                logger.exception(
                    "middleware on_enqueue() error",
                    extra={"task_name": task_name, "middleware": type(mw).__name__},
                )
        unknown = sorted(str(key) for key in options if key not in ENQUEUE_OPTIONS)
        if unknown:
            raise ConfigurationError(f"on_enqueue middleware set unknown enqueue options {unknown}")

    def _build_job(
        self,
        task_name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        serializer: Serializer,
        now: int,
        priority: Any = None,
        delay: Any = None,
        queue: Any = None,
        max_retries: Any = None,
        timeout: Any = None,
        unique_key: Any = None,
        metadata: Any = None,
        depends_on: Any = None,
        expires: Any = None,
        result_ttl: Any = None,
    ) -> NewJob:
        """Check every option of one job (cheap for the usual values) and encode its args."""
        job_id = new_job_id()
        payload = self._encode_payload(serializer, job_id, task_name, args, kwargs)
        if priority is None:
            priority = self._settings.default_priority
        elif type(priority) is not int or not _PRIORITY_MIN <= priority <= _PRIORITY_MAX:
            priority = check.check_priority("priority", priority)
        if queue is None:
            queue = "default"
        elif type(queue) is not str or not queue or not is_storable(queue):
            queue = check.check_storable_name("queue", queue)
        if max_retries is None:
            max_retries = self._settings.default_retry
        elif type(max_retries) is not int or not 0 <= max_retries <= _MAX_COUNT:
            max_retries = check.check_exact_count("max_retries", max_retries)
        if timeout is None:
            timeout_ms = self._settings.default_timeout_ms
        else:
            timeout_ms = to_ms(check.check_duration("timeout", timeout, allow_zero=False))
        if unique_key is not None:
            unique_key = check.check_storable_name("unique_key", unique_key)
        if metadata is not None:
            _check_metadata(metadata)
        return NewJob(
            job_id,
            queue,
            task_name,
            payload,
            priority,
            now,
            now if not delay else now + to_ms(check.check_delay(delay)),
            max_retries,
            timeout_ms,
            unique_key,
            metadata,
            () if depends_on is None else check.check_depends_on(depends_on),
            None if expires is None else now + to_ms(check.check_duration("expires", expires)),
            self._default_result_ttl_ms()
            if result_ttl is None
            else to_ms(check.check_duration("result_ttl", result_ttl)),
            self.namespace,
        )

    def _default_result_ttl_ms(self) -> int | None:
        """``Queue(result_ttl=...)`` for jobs enqueued without their own."""
        ttl = self._settings.result_ttl
        return None if ttl is None else to_ms(ttl)

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
        if self._test_mode is not None:
            # Test mode runs the call now; its EagerJob has JobResult's surface.
            return cast(
                "JobResult",
                self._test_mode.run_now(
                    task_name,
                    args,
                    kwargs,
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
                ),
            )
        if type(task_name) is not str or not task_name:
            check.check_storable_name("task_name", task_name)
        if type(args) is not tuple:
            args = as_args(args)
        kwargs = as_kwargs(kwargs)
        if self._global_middleware:
            options = {
                "priority": priority,
                "delay": delay,
                "queue": queue,
                "max_retries": max_retries,
                "timeout": timeout,
                "unique_key": unique_key,
                "metadata": metadata,
                "depends_on": depends_on,
                "expires": expires,
                "result_ttl": result_ttl,
            }
            self._run_on_enqueue(self._global_middleware, task_name, args, kwargs, options)
            serializer = self._check_call(task_name, args, kwargs)
            job = self._build_job(task_name, args, kwargs, serializer, now_ms(), **options)
        else:
            job = self._build_job(
                task_name,
                args,
                kwargs,
                self._check_call(task_name, args, kwargs),
                now_ms(),
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
        per_job = {
            "kwargs_list": kwargs_list,
            "delay_list": delay_list,
            "unique_keys": unique_keys,
            "metadata_list": metadata_list,
            "expires_list": expires_list,
            "result_ttl_list": result_ttl_list,
        }
        for name in _PER_JOB_LISTS:
            check_same_length(name, per_job[name], len(args_list))
        shared = {
            "priority": priority,
            "delay": delay,
            "queue": queue,
            "max_retries": max_retries,
            "timeout": timeout,
            "unique_key": None,
            "metadata": metadata,
            "depends_on": None,
            "expires": expires,
            "result_ttl": result_ttl,
        }
        spec = self._task_registry.get(task_name)
        chain = [*self._global_middleware, *(spec.middleware if spec is not None else ())]
        serializer = self._serializer_for(task_name)
        shape = None if spec is None else spec.call_shape
        now = now_ms()
        if chain or any(values is not None for values in per_job.values()):
            jobs = self._build_jobs_one_by_one(
                task_name, args_list, per_job, shared, chain, serializer, now, shape
            )
        else:
            jobs = self._build_uniform_jobs(task_name, args_list, shared, serializer, now, shape)
        records = self._storage.enqueue_many(jobs)
        if self._event_bus.has_listeners(_ENQUEUED):
            for record in records:
                self._event_bus.emit(_ENQUEUED, {"job_id": record.id, "task_name": task_name})
        return [JobResult(record, self) for record in records]

    def _build_jobs_one_by_one(
        self,
        task_name: str,
        args_list: Sequence[tuple[Any, ...] | list[Any]],
        per_job: dict[str, Sequence[Any] | None],
        shared: dict[str, Any],
        chain: Sequence[TaskMiddleware],
        serializer: Serializer,
        now: int,
        shape: CallShape | None,
    ) -> list[NewJob]:
        """The general batch path: per-job lists and ``on_enqueue`` middleware."""
        overrides = (
            ("delay", per_job["delay_list"]),
            ("unique_key", per_job["unique_keys"]),
            ("metadata", per_job["metadata_list"]),
            ("expires", per_job["expires_list"]),
            ("result_ttl", per_job["result_ttl_list"]),
        )
        kwargs_list = per_job["kwargs_list"]
        jobs: list[NewJob] = []
        for index, raw_args in enumerate(args_list):
            args = as_args(raw_args)
            kwargs = as_kwargs(kwargs_list[index] if kwargs_list is not None else None)
            options = dict(shared)
            for key, values in overrides:
                if values is not None and values[index] is not None:
                    options[key] = values[index]
            if chain:
                self._run_on_enqueue(chain, task_name, args, kwargs, options)
                options["depends_on"] = None  # batches carry no dependencies
            if shape is not None:
                shape.check(task_name, args, kwargs)
            jobs.append(self._build_job(task_name, args, kwargs, serializer, now, **options))
        return jobs

    def _build_uniform_jobs(
        self,
        task_name: str,
        args_list: Sequence[tuple[Any, ...] | list[Any]],
        shared: dict[str, Any],
        serializer: Serializer,
        now: int,
        shape: CallShape | None,
    ) -> list[NewJob]:
        """The ``map()`` path: options checked once, then only arguments vary per job."""
        template = self._build_job(task_name, (), {}, serializer, now, **shared)
        queue, priority, scheduled_at = template.queue, template.priority, template.scheduled_at
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
        encode = self._encode_payload
        for raw_args in args_list:
            args = raw_args if type(raw_args) is tuple else as_args(raw_args)
            job_id = new_job_id()
            if shape is not None:
                shape.check(task_name, args, empty)
            append(
                NewJob(
                    job_id,
                    queue,
                    task_name,
                    encode(serializer, job_id, task_name, args, empty),
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


def _check_metadata(metadata: object) -> None:
    if type(metadata) is not str:
        raise TypeError(f"metadata must be a str (e.g. JSON), not {type(metadata).__name__}")
    # Refused rather than escaped: the caller's text (often JSON) must stay as given.
    check_storable("metadata", metadata)


__all__ = ["EnqueueMixin"]
