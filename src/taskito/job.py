"""Job statuses, the job record, what a run produces (``Outcome``), the allowed transitions, and
what a finished attempt cost (``AttemptMetric``, stored as ``TaskMetric``).

Everything here is plain data: no I/O, no clock, no serializer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum


def now_ms() -> int:
    """Wall-clock time as integer milliseconds since the epoch, the unit storage uses."""
    return time.time_ns() // 1_000_000


class JobStatus(StrEnum):
    """The six statuses a job can have; storage keeps them as the integer ``code``."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"
    DEAD = "dead"
    CANCELLED = "cancelled"

    @property
    def code(self) -> int:
        return _CODES[self]

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES

    @classmethod
    def from_code(cls, code: int) -> JobStatus:
        try:
            return _BY_CODE[code]
        except KeyError:
            raise ValueError(f"Invalid status code: {code!r}") from None

    @classmethod
    def parse(cls, value: str | JobStatus) -> JobStatus:
        """Parse a status filter; ``"completed"`` is accepted as an alias of ``complete``."""
        if isinstance(value, JobStatus):
            return value
        if not isinstance(value, str):
            raise ValueError(f"Invalid status: {value!r} (expected a string)")
        name = value.strip().lower()
        if name == "completed":
            return cls.COMPLETE
        try:
            return cls(name)
        except ValueError:
            choices = ", ".join(s.value for s in cls)
            raise ValueError(f"Invalid status: {value!r} (expected one of {choices})") from None


_CODES: dict[JobStatus, int] = {status: index for index, status in enumerate(JobStatus)}
_BY_CODE: dict[int, JobStatus] = {index: status for status, index in _CODES.items()}

TERMINAL_STATUSES = frozenset(
    {JobStatus.COMPLETE, JobStatus.FAILED, JobStatus.DEAD, JobStatus.CANCELLED}
)

#: Which status may follow which. Storage applies nothing else.
#: pending -> running (claim), pending -> cancelled (cancel, expiry, purge, revoke,
#: dependency failed); running -> pending (retry, expired lease), running -> any terminal.
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.PENDING: frozenset({JobStatus.RUNNING, JobStatus.CANCELLED}),
    JobStatus.RUNNING: frozenset(
        {
            JobStatus.PENDING,
            JobStatus.COMPLETE,
            JobStatus.FAILED,
            JobStatus.DEAD,
            JobStatus.CANCELLED,
        }
    ),
    JobStatus.COMPLETE: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.DEAD: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}


def can_transition(current: JobStatus, new: JobStatus) -> bool:
    """True when storage may move a job from ``current`` to ``new``."""
    return new in TRANSITIONS[current]


# NewJob and JobRecord are built once per job on the enqueue and claim hot paths, where a
# frozen dataclass costs ~5 us (every field goes through object.__setattr__) against ~0.6 us.
# They are not frozen for that reason only: treat them as immutable.


@dataclass(slots=True)
class NewJob:
    """A job as the producer hands it to storage. Times are integer ms since the epoch."""

    id: str
    queue: str
    task_name: str
    payload: bytes
    priority: int
    created_at: int
    scheduled_at: int
    max_retries: int
    timeout_ms: int | None
    unique_key: str | None = None
    metadata: str | None = None
    depends_on: tuple[str, ...] = ()
    expires_at: int | None = None
    result_ttl_ms: int | None = None
    namespace: str | None = None


@dataclass(slots=True)
class JobRecord:
    """One stored job. ``attempt`` counts claims and fences outcomes (docs/architecture.md,
    invariant 3); ``rescue_count`` counts the times the job went back to pending because its worker
    died or gave it up (never a retry: docs/architecture.md, invariant 4). New fields go last
    (positional rows)."""

    id: str
    queue: str
    task_name: str
    payload: bytes
    status: JobStatus
    priority: int
    created_at: int
    scheduled_at: int
    retry_count: int
    max_retries: int
    timeout_ms: int | None
    started_at: int | None = None
    completed_at: int | None = None
    result: bytes | None = None
    error: str | None = None
    unique_key: str | None = None
    progress: int | None = None
    metadata: str | None = None
    cancel_requested: bool = False
    expires_at: int | None = None
    result_ttl_ms: int | None = None
    namespace: str | None = None
    worker_id: str | None = None
    attempt: int = 0
    lease_expires_at: int | None = None
    rescue_count: int = 0

    @classmethod
    def from_new(cls, job: NewJob) -> JobRecord:
        """The record storage holds right after inserting ``job``."""
        # Positional, in field order: this runs once per job of every enqueue, and keyword
        # arguments cost more than twice as much.
        return cls(
            job.id,
            job.queue,
            job.task_name,
            job.payload,
            JobStatus.PENDING,
            job.priority,
            job.created_at,
            job.scheduled_at,
            0,  # retry_count
            job.max_retries,
            job.timeout_ms,
            None,  # started_at
            None,  # completed_at
            None,  # result
            None,  # error
            job.unique_key,
            None,  # progress
            job.metadata,
            False,  # cancel_requested
            job.expires_at,
            job.result_ttl_ms,
            job.namespace,
        )


@dataclass(frozen=True, slots=True)
class JobBatch:
    """Jobs of one task that share every option but their id and payload, as columns: what
    ``map()`` hands to storage (``Storage.enqueue_batch``) without an object per job. None of
    them has a unique key or dependencies. ``ids`` and ``payloads`` have one entry per job."""

    ids: list[str]
    payloads: list[bytes]
    queue: str
    task_name: str
    priority: int
    created_at: int
    scheduled_at: int
    max_retries: int
    timeout_ms: int | None
    metadata: str | None = None
    expires_at: int | None = None
    result_ttl_ms: int | None = None
    namespace: str | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def jobs(self) -> list[NewJob]:
        """One ``NewJob`` per entry, for a backend that stores a batch job by job."""
        return [
            NewJob(
                job_id,
                self.queue,
                self.task_name,
                payload,
                self.priority,
                self.created_at,
                self.scheduled_at,
                self.max_retries,
                self.timeout_ms,
                None,
                self.metadata,
                (),
                self.expires_at,
                self.result_ttl_ms,
                self.namespace,
            )
            for job_id, payload in zip(self.ids, self.payloads, strict=True)
        ]

    def record(self, index: int) -> JobRecord:
        """The record storage holds right after inserting job ``index`` of the batch
        (``JobRecord.from_new`` of that job)."""
        return JobRecord(
            self.ids[index],
            self.queue,
            self.task_name,
            self.payloads[index],
            JobStatus.PENDING,
            self.priority,
            self.created_at,
            self.scheduled_at,
            0,  # retry_count
            self.max_retries,
            self.timeout_ms,
            None,  # started_at
            None,  # completed_at
            None,  # result
            None,  # error
            None,  # unique_key
            None,  # progress
            self.metadata,
            False,  # cancel_requested
            self.expires_at,
            self.result_ttl_ms,
            self.namespace,
        )


class OutcomeKind(StrEnum):
    """How one run of a job ended."""

    SUCCESS = "success"
    FAILURE = "failure"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What running a job produced, before any retry decision.

    ``result`` is the encoded return value (SUCCESS only); ``error`` the traceback text;
    ``retryable`` is False when ``retry_on``/``dont_retry_on`` rule the exception out or the
    job can never succeed (unknown task, undecodable payload).
    """

    kind: OutcomeKind
    result: bytes | None = None
    error: str | None = None
    retryable: bool = True
    wall_time_ns: int = 0
    exception_type: str | None = field(default=None, compare=False)


# AttemptMetric is built once per finished attempt on the worker's hot path and TaskMetric once
# per row read: not frozen for the same reason as NewJob and JobRecord. Treat them as immutable.


@dataclass(slots=True)
class AttemptMetric:
    """What one finished attempt cost, as the worker measured it. It travels on the attempt's
    ``Finish`` and storage writes it in the same transaction as the outcome, only when the
    outcome applies (a fenced finish that is dropped writes no metric).

    ``outcome`` is how the written attempt ended (an ``OutcomeKind`` value: ``success`` for a
    completion; ``failure`` or ``timed_out`` for a retry or a dead letter; ``cancelled``);
    ``started_at`` is when the attempt was claimed (ms since the epoch) and ``wall_ns`` how
    long its task ran.
    """

    task_name: str
    queue: str
    outcome: OutcomeKind
    started_at: int
    wall_ns: int


@dataclass(slots=True)
class TaskMetric:
    """One stored metric row: an ``AttemptMetric`` with the attempt it measured and when that
    attempt's outcome was written (``finished_at``, ms since the epoch)."""

    job_id: str
    attempt: int
    task_name: str
    queue: str
    outcome: OutcomeKind
    started_at: int
    finished_at: int
    wall_ns: int
