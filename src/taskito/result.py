"""``JobResult``: the handle ``delay()`` returns. It holds the last-read snapshot of one job and
waits for its outcome, waking on storage changes rather than sleeping blindly."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from taskito.celery_habits import (
    GET_KEYWORDS,
    JOB_ATTRIBUTES,
    habit_error,
    missing_attribute,
    refuse_celery_keywords,
)
from taskito.exceptions import (
    CryptoError,
    MaxRetriesExceededError,
    SerializationError,
    SignatureError,
    TaskCancelledError,
    TaskFailedError,
)
from taskito.job import JobBatch, JobRecord, JobStatus
from taskito.serializers import loads_bound
from taskito.signing import result_context, unseal

if TYPE_CHECKING:
    from taskito.serializers import Serializer
    from taskito.signing import Signer
    from taskito.storage.base import JobError, LogEntry, Storage

_COMPLETE = JobStatus.COMPLETE
_TERMINAL = frozenset({"complete", "failed", "dead", "cancelled"})
_BACKOFF = 1.5


def job_to_dict(record: JobRecord) -> dict[str, Any]:
    """The public view of a job: exactly the reference's keys, timestamps in integer ms."""
    return {
        "id": record.id,
        "queue": record.queue,
        "task_name": record.task_name,
        "status": record.status.value,
        "priority": record.priority,
        "progress": record.progress,
        "retry_count": record.retry_count,
        "max_retries": record.max_retries,
        "created_at": record.created_at,
        "scheduled_at": record.scheduled_at,
        "started_at": record.started_at,
        "completed_at": record.completed_at,
        "error": record.error,
        "timeout_ms": record.timeout_ms,
        "unique_key": record.unique_key,
        "metadata": record.metadata,
        "namespace": record.namespace,
    }


class ResultSource(Protocol):
    """What a ``JobResult`` reads through: the storage, and the keys and codec of results."""

    @property
    def _storage(self) -> Storage: ...

    @property
    def _signer(self) -> Signer | None: ...

    @property
    def _serializer(self) -> Serializer: ...


def error_to_dict(error: JobError) -> dict[str, Any]:
    """One failed attempt, as ``Queue.job_errors`` and ``JobResult.errors`` list it."""
    return {
        "id": error.id,
        "job_id": error.job_id,
        "attempt": error.attempt,
        "error": error.error,
        "failed_at": error.failed_at,
    }


class JobResult:
    """A handle on one job. ``status``, ``progress`` and ``error`` are the last-read snapshot;
    ``refresh()`` re-reads it. ``errors``, ``dependencies`` and ``dependents`` read live."""

    __slots__ = ("_batch", "_held", "_index", "_queue", "id")

    def __init__(self, record: JobRecord, queue: ResultSource) -> None:
        self.id = record.id
        self._held: JobRecord | None = record
        self._batch: JobBatch | None = None
        self._index = 0
        self._queue = queue

    @classmethod
    def of_batch(cls, batch: JobBatch, queue: ResultSource) -> list[JobResult]:
        """A handle on each job of a stored ``JobBatch``. Its snapshot (``batch.record(i)``)
        is made when first read: a ``map()`` of many jobs makes one object per job, not two."""
        handles: list[JobResult] = []
        append, new = handles.append, cls.__new__
        for index, job_id in enumerate(batch.ids):
            handle = new(cls)
            handle.id = job_id
            handle._held = None
            handle._batch = batch
            handle._index = index
            handle._queue = queue
            append(handle)
        return handles

    @property
    def _record(self) -> JobRecord:
        record = self._held
        if record is None:
            assert self._batch is not None
            record = self._held = self._batch.record(self._index)
            self._batch = None
        return record

    @_record.setter
    def _record(self, record: JobRecord) -> None:
        self._held = record
        self._batch = None

    def __repr__(self) -> str:
        return f"<JobResult id={self.id} status={self._record.status.value}>"

    if not TYPE_CHECKING:  # hidden from type checkers, which still flag unknown attributes

        def __getattr__(self, name: str) -> Any:
            raise missing_attribute(self, name, JOB_ATTRIBUTES)

    # --- the snapshot -------------------------------------------------------------------

    @property
    def status(self) -> str:
        return self._record.status.value

    @property
    def progress(self) -> int | None:
        return self._record.progress

    @property
    def error(self) -> str | None:
        return self._record.error

    def refresh(self) -> None:
        """Re-read the job; keep the old snapshot when the row has gone (purged)."""
        record = self._queue._storage.get_job(self.id)
        if record is not None:
            self._record = record

    def to_dict(self, *, refresh: bool = True) -> dict[str, Any]:
        """Refresh, then the job as a JSON-serializable dict (see ``job_to_dict``).
        ``refresh=False`` gives the snapshot as read (a listing: no read per job)."""
        if refresh:
            self.refresh()
        return job_to_dict(self._record)

    # --- live reads ---------------------------------------------------------------------

    @property
    def errors(self) -> list[dict[str, Any]]:
        """Every failed attempt: ``{id, job_id, attempt, error, failed_at}``, by attempt."""
        return [error_to_dict(e) for e in self._queue._storage.job_errors(self.id)]

    @property
    def dependencies(self) -> list[str]:
        return self._queue._storage.dependencies(self.id)

    @property
    def dependents(self) -> list[str]:
        return self._queue._storage.dependents(self.id)

    # --- waiting for the outcome --------------------------------------------------------

    def _poll_once(self) -> tuple[str, Any]:
        """Refresh; return ``(status, value)``, the value only when complete. A failed,
        dead or cancelled job raises its error; an undecodable result SerializationError."""
        self.refresh()
        record = self._record
        status = record.status
        if status is _COMPLETE:
            return status.value, self._decode_result(record.result)
        if status is JobStatus.CANCELLED:
            raise TaskCancelledError(
                f"Job {self.id} cancelled: {record.error or 'job was cancelled'}"
            )
        if status is JobStatus.DEAD:
            raise MaxRetriesExceededError(
                f"Job {self.id} dead-lettered: {record.error or 'max retries exceeded'}"
            )
        if status is JobStatus.FAILED:
            raise TaskFailedError(f"Job {self.id} failed: {record.error or 'task failed'}")
        return status.value, None

    def _decode_result(self, data: bytes | None) -> Any:
        if data is None:
            return None
        queue = self._queue
        context = result_context(self.id, self._record.task_name)
        try:
            # Checked before anything is deserialised: a forged result is never loaded.
            data = unseal(queue._signer, context, data, "result")
        except SignatureError as exc:
            raise SignatureError(
                f"result of job {self.id}: signature check failed: {exc}"
            ) from None
        try:
            return loads_bound(queue._serializer, data, context)
        except CryptoError as exc:  # a codec refused the bytes: say so, not "deserialized"
            raise CryptoError(f"result of job {self.id} refused: {exc}") from None
        except Exception as exc:
            raise SerializationError(
                f"result of job {self.id} could not be deserialized: {type(exc).__name__}: {exc}"
            ) from exc

    def _timeout_error(self, timeout: float) -> TimeoutError:
        return TimeoutError(
            f"Job {self.id} did not complete within {timeout}s "
            f"(current status: {self._record.status.value})"
        )

    def result(
        self, timeout: float = 30.0, poll_interval: float = 0.05, max_poll_interval: float = 0.5
    ) -> Any:
        """Wait for the job and return its value; raise its error when it did not complete.

        Between polls it waits on the storage's change signal (at most the poll interval,
        which grows 1.5x up to ``max_poll_interval``). Past the deadline it polls once more,
        then raises ``TimeoutError``.
        """
        plan = _wait_plan(timeout, poll_interval, max_poll_interval)
        wait_for_change = self._queue._storage.wait_for_change
        status, value = self._poll_once()
        for wait_s in plan:
            if status == "complete":
                break
            wait_for_change(wait_s)
            status, value = self._poll_once()
        if status == "complete":
            return value
        raise self._timeout_error(timeout)

    @refuse_celery_keywords("get()", GET_KEYWORDS)
    def get(
        self, timeout: float = 30.0, poll_interval: float = 0.05, max_poll_interval: float = 0.5
    ) -> Any:
        """``result()`` under Celery's name (``AsyncResult.get``): the same arguments and
        errors. Celery's ``timeout=None`` waits forever; taskito's waits are bounded."""
        if timeout is None:
            raise habit_error(
                "get(timeout=None), which waits forever,",
                "every wait is bounded: pass timeout=<seconds>",
            )
        return self.result(timeout, poll_interval, max_poll_interval)

    async def aresult(
        self, timeout: float = 30.0, poll_interval: float = 0.05, max_poll_interval: float = 0.5
    ) -> Any:
        """``result()`` for async code: the same contract, waiting with ``asyncio.sleep``."""
        plan = _wait_plan(timeout, poll_interval, max_poll_interval)
        status, value = self._poll_once()
        for wait_s in plan:
            if status == "complete":
                break
            await asyncio.sleep(wait_s)
            status, value = self._poll_once()
        if status == "complete":
            return value
        raise self._timeout_error(timeout)

    # --- partial results ----------------------------------------------------------------

    def _stream_step(self, last_id: int) -> tuple[bool, list[Any], int]:
        """Whether the job had ended, the partial results published after log ``last_id``
        (decoded), and the new last id. Status is read first so nothing published before
        the end is missed."""
        self.refresh()
        finished = self.status in _TERMINAL
        values: list[Any] = []
        for entry in self._queue._storage.task_logs(self.id):
            if entry.level == "result" and entry.id > last_id:
                values.append(_decode_partial(entry))
                last_id = entry.id
        return finished, values, last_id

    def stream(self, timeout: float = 60.0, poll_interval: float = 0.5) -> Iterator[Any]:
        """Yield each value the task publishes with ``current_job.publish()``, until the job
        ends; ``TimeoutError`` if it has not ended within ``timeout`` seconds."""
        plan = _wait_plan(timeout, poll_interval, poll_interval)
        wait_for_change = self._queue._storage.wait_for_change
        last_id = 0
        while True:
            finished, values, last_id = self._stream_step(last_id)
            yield from values
            if finished:
                return
            wait_s = next(plan, None)
            if wait_s is None:
                raise self._timeout_error(timeout)
            wait_for_change(wait_s)

    async def astream(
        self, timeout: float = 60.0, poll_interval: float = 0.5
    ) -> AsyncIterator[Any]:
        """``stream()`` for async code."""
        plan = _wait_plan(timeout, poll_interval, poll_interval)
        last_id = 0
        while True:
            finished, values, last_id = self._stream_step(last_id)
            for value in values:
                yield value
            if finished:
                return
            wait_s = next(plan, None)
            if wait_s is None:
                raise self._timeout_error(timeout)
            await asyncio.sleep(wait_s)


def _wait_plan(timeout: float, poll_interval: float, max_poll_interval: float) -> Iterator[float]:
    """The waits between polls, for a caller that polls once, then waits and polls again for
    each value. The interval grows 1.5x up to ``max_poll_interval`` and never passes the
    deadline; the plan ends once the deadline has passed, so the last poll comes after it."""
    _check_wait_arguments(timeout, poll_interval, max_poll_interval)
    return _waits(time.monotonic() + timeout, poll_interval, max_poll_interval)


def _waits(deadline: float, interval: float, max_interval: float) -> Iterator[float]:
    while True:
        yield max(0.0, min(interval, deadline - time.monotonic()))
        # Resumed after the caller waited and polled again.
        if time.monotonic() >= deadline:
            return
        interval = min(interval * _BACKOFF, max_interval)


def _decode_partial(entry: LogEntry) -> Any:
    if entry.extra is None:
        return None
    try:
        return json.loads(entry.extra)
    except ValueError:
        return entry.extra  # published with the str() fallback


def _check_wait_arguments(timeout: float, poll_interval: float, max_poll_interval: float) -> None:
    if not isinstance(timeout, int | float) or isinstance(timeout, bool):
        raise TypeError(f"timeout must be a number of seconds, not {type(timeout).__name__}")
    if not timeout > 0:
        raise ValueError("timeout must be positive")
    for name, value in (("poll_interval", poll_interval), ("max_poll_interval", max_poll_interval)):
        if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
            raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")


__all__ = ["JobResult", "ResultSource", "error_to_dict", "job_to_dict"]
