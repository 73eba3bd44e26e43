"""``Queue.enqueue`` and ``Queue.enqueue_many``: check the call, turn it into ``NewJob`` rows
(``jobs.py``, ``batches.py``), store them, announce them, and hand back ``JobResult`` handles.
Test mode is a seam here: a call goes to ``TestMode`` instead of storage.

This is the producer's hot path: per-call work is kept to what each job needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from taskito.events import EventType
from taskito.exceptions import QueueError
from taskito.job import JobBatch, NewJob, now_ms
from taskito.queue import checks as check
from taskito.queue.arguments import as_args, as_kwargs
from taskito.queue.batches import PerJobLists, build_batch
from taskito.queue.debounce import call_options, enqueue_debounced, refuse_combinations
from taskito.queue.idempotency import auto_key, check_idempotent, explicit_key, wants_auto_key
from taskito.queue.jobs import build_job, run_on_enqueue
from taskito.queue.protocol import EnqueueOptions
from taskito.queue.state import QueueBase
from taskito.registry import DebounceOptions
from taskito.result import JobResult

if TYPE_CHECKING:
    from taskito.serializers import Serializer

_ENQUEUED = EventType.JOB_ENQUEUED


class EnqueueMixin(QueueBase):
    """Putting jobs into storage."""

    @property
    def max_payload_bytes(self) -> int:
        """The largest encoded payload (after serialization, signing and encryption) an
        enqueue stores, in bytes; 0 for no limit. Settable; a call may pass its own."""
        return self._max_payload_bytes

    @max_payload_bytes.setter
    def max_payload_bytes(self, value: int) -> None:
        self._max_payload_bytes = check.check_max_payload_bytes("max_payload_bytes", value)

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
        idempotency_key: str | None = None,
        idempotent: bool | None = None,
        max_payload_bytes: int | None = None,
        debounce: float | str | None = None,
        debounce_key: str | None = None,
        debounce_max_wait: float | str | None = None,
        debounce_replace_payload: bool | None = None,
    ) -> JobResult:
        """Store one job and return its handle.

        ``max_retries=0``: no retries; ``timeout=None``: the queue's ``default_timeout``.
        Nothing is stored when the arguments do not serialize (``SerializationError``), a
        ``depends_on`` job is missing, dead or cancelled (``DependencyError``) or the payload
        exceeds ``max_payload_bytes`` (``PayloadTooLargeError``). ``idempotency_key`` (or the
        key of an idempotent call) returns the job holding it (``queue/idempotency.py``);
        ``debounce*`` give the call its own debounce window (``queue/debounce.py``)."""
        window = self._debounce_window(
            task_name,
            call_options(debounce, debounce_key, debounce_max_wait, debounce_replace_payload),
            delay=delay,
            unique_key=unique_key,
            idempotency_key=idempotency_key,
            idempotent=idempotent,
        )
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
        args, kwargs, envelope, options, serializer = self._prepare_call(
            task_name, args, kwargs, options
        )
        limit = _payload_limit(max_payload_bytes)
        if window is not None:
            call = (args, kwargs, envelope)
            return enqueue_debounced(self, task_name, call, serializer, options, window, limit)
        options = self._with_idempotency_key(
            task_name, args, kwargs, serializer, envelope, options, idempotency_key, idempotent
        )
        job = build_job(
            self, task_name, args, kwargs, serializer, now_ms(), options, envelope, limit
        )
        return self._store_one(task_name, job)

    def _debounce_window(
        self,
        task_name: str,
        window: DebounceOptions | None,
        *,
        delay: float | None,
        unique_key: str | None,
        idempotency_key: str | None,
        idempotent: bool | None,
    ) -> DebounceOptions | None:
        """The call's debounce window (its own, else the task's), after refusing the options
        a debounced call cannot take."""
        if window is None and self._task_registry:
            spec = self._task_registry.get(task_name)
            window = None if spec is None else spec.debounce
        if window is not None:
            refuse_combinations(
                task_name,
                delay=delay,
                unique_key=unique_key,
                idempotency_key=idempotency_key,
                idempotent=self._task_is_idempotent(task_name)
                if idempotent is None
                else idempotent,
            )
        return window

    def _prepare_call(
        self,
        task_name: str,
        args: tuple[Any, ...] | list[Any],
        kwargs: dict[str, Any] | None,
        options: EnqueueOptions,
    ) -> tuple[tuple[Any, ...], dict[str, Any], dict[str, Any] | None, EnqueueOptions, Serializer]:
        """Check the task name and arguments, run ``on_enqueue`` middleware and interception,
        and check the call against the task's signature: ``(args, kwargs, envelope, options,
        serializer)``."""
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
        return args, kwargs, envelope, options, serializer

    def _store_one(self, task_name: str, job: NewJob) -> JobResult:
        """Store one job (against its queue's ``max_pending`` cap, if any) and announce it."""
        cap = self._caps.cap_for(self._storage, job.queue)
        if cap is None:
            record = self._storage.enqueue(job)
        else:
            record = self._storage.enqueue_capped([job], cap, batch=False)[0]
        # Announced when stored: a call coalesced onto the holder of its key is not.
        if record.id == job.id and self._event_bus.has_listeners(_ENQUEUED):
            self._event_bus.emit(
                _ENQUEUED, {"task_name": task_name, "job_id": record.id, "queue": record.queue}
            )
        return JobResult(record, self)

    def _with_idempotency_key(
        self,
        task_name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        serializer: Serializer,
        envelope: dict[str, Any] | None,
        options: EnqueueOptions,
        idempotency_key: object,
        idempotent: object,
    ) -> EnqueueOptions:
        """``options`` with the call's unique key: ``unique_key`` if given, else the
        ``idempotency_key``, else the automatic key of an idempotent call."""
        if (
            idempotency_key is None
            and idempotent is None
            and not self._task_is_idempotent(task_name)
        ):
            return options
        given = check_idempotent("idempotent", idempotent)
        wanted = wants_auto_key(self._task_is_idempotent(task_name), given)
        key = explicit_key("idempotency_key", idempotency_key)
        if options.unique_key is not None:
            return options
        if key is None and wanted:
            key = auto_key(serializer, task_name, args, kwargs, envelope)
        options.unique_key = key
        return options

    def _task_is_idempotent(self, task_name: str) -> bool:
        spec = self._task_registry.get(task_name)
        return spec is not None and spec.idempotent

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
        idempotency_keys: Sequence[str | None] | None = None,
        idempotent: bool | None = None,
        max_payload_bytes: int | None = None,
    ) -> list[JobResult]:
        """Store one job per entry of ``args_list`` in one transaction: all or nothing.

        Every ``*_list`` must match ``args_list`` in length and overrides the shared value for
        its job. ``on_enqueue`` runs per job through the global and the task's middleware.
        Unique keys alone are not deduplicated: one held by an active job fails the whole
        batch. With ``idempotency_keys`` or an idempotent call (``idempotent=``, or the
        task's default) each job coalesces on its key instead: a key held by an active job,
        or by an earlier job of the batch, gives that job's handle in its place. A payload
        over ``max_payload_bytes`` raises naming its index; nothing of the batch is stored.
        """
        self._check_batch_call(task_name, args_list)
        auto_keys = wants_auto_key(
            self._task_is_idempotent(task_name), check_idempotent("idempotent", idempotent)
        )
        lists = PerJobLists(
            kwargs_list,
            delay_list,
            unique_keys,
            metadata_list,
            expires_list,
            result_ttl_list,
            idempotency_keys,
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
        limit = None
        if max_payload_bytes is not None:
            limit = check.check_max_payload_bytes("max_payload_bytes", max_payload_bytes)
        batch = build_batch(self, task_name, args_list, lists, shared, auto_keys, limit)
        if auto_keys or idempotency_keys is not None:
            assert not isinstance(batch, JobBatch)  # keyed batches are built job by job
            return self._store_coalescing(task_name, batch)
        return self._store_batch(task_name, batch)

    def _check_batch_call(self, task_name: str, args_list: object) -> None:
        """Refuse a batch of a debounced task and an ``args_list`` that is not a list."""
        check.check_storable_name("task_name", task_name)
        spec = self._task_registry.get(task_name)
        if spec is not None and spec.debounce is not None:
            raise ValueError(
                f"task {task_name!r} is debounced: enqueue_many() and map() cannot debounce a"
                " batch; call delay() or apply_async() once per call"
            )
        if isinstance(args_list, str | bytes) or not isinstance(args_list, Sequence):
            raise TypeError(
                f"args_list must be a list of argument tuples, not {type(args_list).__name__}"
            )

    def _store_batch(self, task_name: str, batch: list[NewJob] | JobBatch) -> list[JobResult]:
        """Store an unkeyed batch in one transaction (against its cap, if any), announce it."""
        cap = self._batch_cap(batch)
        if cap is not None:
            jobs = batch.jobs() if isinstance(batch, JobBatch) else batch
            stored = self._storage.enqueue_capped(jobs, cap, batch=True)
            handles = [JobResult(record, self) for record in stored]
        elif isinstance(batch, JobBatch):
            if batch.ids:
                self._storage.enqueue_batch(batch)
            handles = JobResult.of_batch(batch, self)
        else:
            handles = [JobResult(record, self) for record in self._storage.enqueue_many(batch)]
        if self._event_bus.has_listeners(_ENQUEUED):
            for handle in handles:
                self._event_bus.emit(_ENQUEUED, {"job_id": handle.id, "task_name": task_name})
        return handles

    def _batch_cap(self, batch: list[NewJob] | JobBatch) -> int | None:
        """The ``max_pending`` cap a batch is checked against: its queue's, or None. A batch
        that middleware spread over several queues, one of them capped, is refused."""
        if isinstance(batch, JobBatch):
            return self._caps.cap_for(self._storage, batch.queue) if batch.ids else None
        queues = {job.queue for job in batch}
        caps = {name: self._caps.cap_for(self._storage, name) for name in queues}
        capped = sorted(name for name, cap in caps.items() if cap is not None)
        if capped and len(queues) > 1:
            raise QueueError(
                f"a batch spread over queues {sorted(queues)} cannot be checked against the"
                f" max_pending cap of {capped}: enqueue one batch per queue"
            )
        return caps[capped[0]] if capped else None

    def _store_coalescing(self, task_name: str, jobs: list[NewJob]) -> list[JobResult]:
        """Store a keyed batch, each job coalescing on its key; announce the inserted ones."""
        outcomes = self._storage.enqueue_coalescing(jobs, self._batch_cap(jobs))
        if self._event_bus.has_listeners(_ENQUEUED):
            for record, inserted in outcomes:
                if inserted:
                    self._event_bus.emit(_ENQUEUED, {"job_id": record.id, "task_name": task_name})
        return [JobResult(record, self) for record, _ in outcomes]


def _payload_limit(max_payload_bytes: int | None) -> int | None:
    """A call's own ``max_payload_bytes``, checked (None: the queue's applies)."""
    if max_payload_bytes is None:
        return None
    return check.check_max_payload_bytes("max_payload_bytes", max_payload_bytes)


__all__ = ["EnqueueMixin"]
