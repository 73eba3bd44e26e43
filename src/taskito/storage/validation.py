"""Checks every backend applies to its input before writing anything: finishes that no
transition allows, and batch dependencies that must already be stored."""

from __future__ import annotations

from collections.abc import Sequence

from taskito.exceptions import DependencyError
from taskito.job import JobStatus, NewJob
from taskito.storage.base import Finish

_FINISHABLE = frozenset(
    {JobStatus.COMPLETE, JobStatus.PENDING, JobStatus.DEAD, JobStatus.CANCELLED, JobStatus.FAILED}
)


def validate_finishes(finishes: Sequence[Finish]) -> None:
    """Reject outcomes that no transition allows before anything is written."""
    for finish in finishes:
        if not isinstance(finish, Finish):
            raise TypeError(f"finish_many expects Finish records, got {type(finish).__name__}")
        if not isinstance(finish.status, JobStatus) or finish.status not in _FINISHABLE:
            raise ValueError(
                f"cannot finish job {finish.job_id} with status {finish.status!r}: a finish"
                " moves a running job to pending, complete, failed, dead or cancelled"
            )


def batch_outside_dependencies(batch: Sequence[NewJob]) -> list[str]:
    """Dependencies of a batch that are not earlier jobs of the same batch (those must exist
    already). A job may depend on an earlier job of its batch, never on itself or a later one."""
    earlier: set[str] = set()
    outside: list[str] = []
    for job in batch:
        for parent in job.depends_on:
            if parent == job.id:
                raise DependencyError(f"job {job.id} cannot depend on itself")
            if parent not in earlier:
                outside.append(parent)
        earlier.add(job.id)
    return outside


def require_count(name: str, value: object) -> int:
    """A limit, offset or count: a non-negative int (bool refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return value


def require_lease(lease_ms: object) -> int:
    if isinstance(lease_ms, bool) or not isinstance(lease_ms, int) or lease_ms <= 0:
        raise ValueError(f"lease_ms must be a positive integer, got {lease_ms!r}")
    return lease_ms


def require_new_job(job: object) -> NewJob:
    if not isinstance(job, NewJob):
        raise TypeError(f"expected a NewJob, got {type(job).__name__}")
    if not isinstance(job.payload, bytes | bytearray | memoryview):
        raise TypeError(f"job {job.id}: payload must be bytes, got {type(job.payload).__name__}")
    return job
