"""Routes over one job or the jobs table: listing (by offset or by cursor), detail, errors,
logs, replay history, the DAG, arguments and result, cancel and replay."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import taskito
from taskito.dashboard.api.errors import ApiError, bad_request, not_found
from taskito.dashboard.api.params import Cursor, Page
from taskito.dashboard.api.values import to_jsonable

#: Status filters the jobs list takes (``completed`` is the reference's alias of ``complete``).
STATUSES = ("pending", "running", "complete", "completed", "failed", "dead", "cancelled")
#: The statuses a job never leaves: its result, error or cancellation is final.
FINISHED = frozenset({"complete", "failed", "dead", "cancelled"})
JOB_NOT_FOUND = "Job not found"


@dataclass(frozen=True)
class JobQuery:
    """The filters of ``GET /api/jobs``; None filters nothing."""

    status: str | None = None
    queue: str | None = None
    task: str | None = None
    metadata: str | None = None
    error: str | None = None
    created_after: int | None = None
    created_before: int | None = None

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in STATUSES:
            raise bad_request(f"status must be one of {', '.join(STATUSES)}, not {self.status!r}")


def list_jobs(queue: taskito.Queue, query: JobQuery, page: Page) -> list[dict[str, Any]]:
    """Jobs newest first (``created_at``, then ``id``, descending). A page starts after
    ``page.offset`` rows, or after a cursor: ``<created_at>,<id>`` of the last row seen (the
    next page of a list that grows at the top does not repeat rows), read by key from the
    index the filters choose, so a deep page costs what the first one does."""
    cursor = page.cursor
    if page.after_id is not None:
        cursor = _cursor_of(queue, page.after_id)
    if page.limit == 0:
        return []
    before = None if cursor is None else (cursor.time_ms, cursor.id)
    offset = page.offset if cursor is None else 0
    jobs = queue.list_jobs_filtered(
        status=query.status,
        queue=query.queue,
        task_name=query.task,
        metadata_like=query.metadata,
        error_like=query.error,
        created_after=query.created_after,
        created_before=query.created_before,
        limit=page.limit,
        offset=offset,
        before=before,
    )
    return [job.to_dict(refresh=False) for job in jobs]


def _cursor_of(queue: taskito.Queue, job_id: str) -> Cursor:
    job = queue.get_job(job_id)
    if job is None:
        raise bad_request(
            f"after={job_id!r}: no such job (it may have been purged); "
            "page with after=<created_at>,<id> instead"
        )
    row = job.to_dict(refresh=False)
    return Cursor(row["created_at"], row["id"])


def _job(queue: taskito.Queue, job_id: str) -> taskito.JobResult:
    job = queue.get_job(job_id)
    if job is None:
        raise not_found(JOB_NOT_FOUND)
    return job


def get_job(queue: taskito.Queue, job_id: str) -> dict[str, Any]:
    return _job(queue, job_id).to_dict(refresh=False)


def job_errors(queue: taskito.Queue, job_id: str) -> list[dict[str, Any]]:
    _job(queue, job_id)
    return queue.job_errors(job_id)


def job_logs(queue: taskito.Queue, job_id: str) -> list[dict[str, Any]]:
    _job(queue, job_id)
    return queue.task_logs(job_id)


def job_replay_history(queue: taskito.Queue, job_id: str) -> list[dict[str, Any]]:
    _job(queue, job_id)
    return queue.replay_history(job_id)


def job_dag(queue: taskito.Queue, job_id: str) -> dict[str, list[dict[str, Any]]]:
    _job(queue, job_id)
    return queue.job_dag(job_id)


def job_arguments(queue: taskito.Queue, job_id: str) -> dict[str, Any]:
    """``{id, args, kwargs, error}``: the arguments decoded by the queue's own rules (a
    signed queue verifies first); ``error`` says why they could not be shown."""
    try:
        decoded = queue.job_arguments(job_id)
    except taskito.SerializationError as exc:  # SignatureError included
        return {"id": job_id, "args": None, "kwargs": None, "error": str(exc)}
    if decoded is None:
        raise not_found(JOB_NOT_FOUND)
    args, kwargs = decoded
    return {"id": job_id, "args": to_jsonable(args), "kwargs": to_jsonable(kwargs), "error": None}


def job_result(
    queue: taskito.Queue,
    job_id: str,
    *,
    serialize: Callable[[Any], Any] = to_jsonable,
    read_timeout_s: float = 1.0,
) -> dict[str, Any]:
    """``{id, status, result, error, result_error}``: the decoded result of a complete job
    (through ``JobResult.result``, which verifies a signed result before loading it) made
    JSON by ``serialize`` (by default: JSON values as they are, anything else its ``repr``).
    ``result_error`` says why a stored result could not be decoded. Nothing waits for an
    unfinished job: a caller that waits polls this until ``status`` is in ``FINISHED``."""
    job = _job(queue, job_id)
    answer: dict[str, Any] = {
        "id": job_id,
        "status": job.status,
        "result": None,
        "error": job.error,
        "result_error": None,
    }
    if job.status != "complete":
        return answer
    try:
        value = job.result(timeout=read_timeout_s)
    except taskito.SerializationError as exc:
        answer["result_error"] = str(exc)
        return answer
    answer["result"] = serialize(value)
    return answer


def cancel_job(queue: taskito.Queue, job_id: str, force: bool) -> dict[str, Any]:
    """Cancel in any state: ``outcome`` is ``cancelled`` (it was pending), ``requested``
    (running: its worker stops it; ``force`` asks the pool to stop a task that never checks)
    or ``finished``; an unknown job is a 404 with outcome ``not_found``."""
    outcome = str(queue.cancel_outcome(job_id, force=force))
    if outcome == "not_found":
        raise ApiError(404, JOB_NOT_FOUND, outcome=outcome)
    return {"cancelled": outcome in ("cancelled", "requested"), "outcome": outcome}


def replay_job(queue: taskito.Queue, job_id: str) -> dict[str, Any]:
    _job(queue, job_id)
    return {"replay_job_id": queue.replay(job_id).id}


__all__ = [
    "FINISHED",
    "JOB_NOT_FOUND",
    "STATUSES",
    "JobQuery",
    "cancel_job",
    "get_job",
    "job_arguments",
    "job_dag",
    "job_errors",
    "job_logs",
    "job_replay_history",
    "job_result",
    "list_jobs",
    "replay_job",
]
