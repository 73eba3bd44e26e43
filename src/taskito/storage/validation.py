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
