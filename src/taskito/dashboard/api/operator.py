"""Routes of the operator's tools: delete one dead letter, purge a task's dead letters,
requeue a job stuck on a hung worker, and the retention windows with a purge preview."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import taskito
from taskito.dashboard.api.errors import ApiError, not_found


def delete_dead_letter(queue: taskito.Queue, dead_id: str) -> dict[str, Any]:
    """``{"deleted": true}``; 404 for a letter that is unknown or another namespace's."""
    if not queue.delete_dead(dead_id):
        raise not_found("Dead letter not found")
    return {"deleted": True}


def purge_dead_by_task(queue: taskito.Queue, task_name: str) -> dict[str, Any]:
    return {"purged": queue.purge_dead_by_task(task_name)}


def requeue_job(queue: taskito.Queue, job_id: str) -> dict[str, Any]:
    """``{"requeued": true}``; 404 for an unknown job, 409 for one that is not running."""
    if queue.requeue_job(job_id):
        return {"requeued": True}
    job = queue.get_job(job_id)
    if job is None:
        raise not_found("Job not found")
    raise ApiError(409, f"job is {job.status}, not running: nothing to requeue")


def retention(queue: taskito.Queue) -> dict[str, Any]:
    """The windows this app sets (ms; ``enabled`` False: history is kept forever) and what
    the last worker sweep reported (``reported``: None before the first sweep)."""
    configured = queue.retention()
    return {
        "enabled": configured is not None and configured.enabled,
        "windows": {} if configured is None else configured.windows_ms(),
        "reported": queue.effective_retention(),
    }


def retention_dry_run(queue: taskito.Queue, recommended: bool) -> dict[str, Any]:
    """What a sweep would delete now, per kind (nothing is deleted); under the recommended
    windows when asked."""
    preview = queue.dry_run_retention(taskito.Retention.recommended() if recommended else None)
    return {**asdict(preview), "total": preview.total}


__all__ = [
    "delete_dead_letter",
    "purge_dead_by_task",
    "requeue_job",
    "retention",
    "retention_dry_run",
]
