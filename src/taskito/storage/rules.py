"""The reason texts every backend records on a transition it makes by itself, written once.

The contract (``storage/base.py``) promises these texts: a pending job past ``expires_at`` met
by a claim is cancelled as ``EXPIRED``; the pending dependents of a job that went dead or was
cancelled are cancelled with ``dependency_failed`` / ``dependency_cancelled`` of it (the
cascade); a job whose lease ran out goes back to pending with ``lease_expired`` of its worker.
The SQL backends call these; the Redis scripts build the same texts in Lua, and
``tests/storage/test_rules.py`` asserts that they agree.
"""

from __future__ import annotations

from taskito.job import JobStatus

#: The error of a pending job cancelled by a claim because its ``expires_at`` had passed.
EXPIRED = "expired before execution"


def dependency_failed(job_id: str) -> str:
    """The error of a pending dependent cancelled because ``job_id`` went dead."""
    return f"dependency failed: {job_id}"


def dependency_cancelled(job_id: str) -> str:
    """The error of a pending dependent cancelled because ``job_id`` was cancelled (directly,
    or itself by a cascade: the cascade names the nearest cancelled dependency)."""
    return f"dependency cancelled: {job_id}"


def cascade_reason(status: JobStatus, job_id: str) -> str | None:
    """The error the cascade gives the pending dependents of ``job_id`` once it has reached
    ``status``; None when that status cancels no dependent."""
    if status is JobStatus.DEAD:
        return dependency_failed(job_id)
    if status is JobStatus.CANCELLED:
        return dependency_cancelled(job_id)
    return None


def lease_expired(worker_id: str | None) -> str:
    """The error row of a running job rescued because its worker stopped renewing the lease."""
    return f"rescued: worker {worker_id} stopped renewing its lease"


__all__ = [
    "EXPIRED",
    "cascade_reason",
    "dependency_cancelled",
    "dependency_failed",
    "lease_expired",
]
