"""A job's progress as a sequence of events, for a live view (the FastAPI router's
server-sent events): ``{"status", "progress"}`` whenever either changes, and, when asked,
``{"status", "progress", "partial_result"}`` for each value the task published with
``current_job.publish()``, until the job finishes. The event that reports the job
finished comes last. The caller decides how to wait between polls; each poll is one or two
quick storage reads."""

from __future__ import annotations

import json
from typing import Any

import taskito
from taskito.dashboard.api.errors import not_found
from taskito.dashboard.api.jobs import FINISHED, JOB_NOT_FOUND
from taskito.dashboard.api.values import to_jsonable

#: The status reported when the job disappears while it is watched (purged).
GONE = "not_found"
#: The log level ``current_job.publish()`` writes partial results under.
_PARTIAL_LEVEL = "result"


class ProgressWatch:
    """Polls one job. The first ``poll()`` raises ``ApiError(404)`` for an unknown job and
    reports its current state; later ones report only what changed. ``finished`` turns
    true once an event reported a finished job (or one that disappeared): the last poll."""

    def __init__(self, queue: taskito.Queue, job_id: str, *, include_results: bool) -> None:
        self._queue = queue
        self._job_id = job_id
        self._include_results = include_results
        self._last: tuple[str, int | None] | None = None
        self._last_log_id = 0
        self.finished = False

    def poll(self) -> list[dict[str, Any]]:
        """The events since the last poll, oldest first (empty when nothing changed)."""
        job = self._queue.get_job(self._job_id)
        if job is None:
            if self._last is None:
                raise not_found(JOB_NOT_FOUND)
            self.finished = True
            return [{"status": GONE, "progress": None}]
        # Status before logs: a value published before the job finished is never missed.
        state = (job.status, job.progress)
        events: list[dict[str, Any]] = []
        if self._include_results:
            events += [{**_event(state), "partial_result": v} for v in self._new_partials()]
        # The state last: a client that stops at a finished status has seen every value.
        if state != self._last:
            events.append(_event(state))
            self._last = state
        self.finished = state[0] in FINISHED
        return events

    def _new_partials(self) -> list[Any]:
        values = []
        for entry in self._queue.task_logs(self._job_id):
            if entry["level"] == _PARTIAL_LEVEL and entry["id"] > self._last_log_id:
                values.append(_decode_partial(entry["extra"]))
                self._last_log_id = entry["id"]
        return values


def _event(state: tuple[str, int | None]) -> dict[str, Any]:
    return {"status": state[0], "progress": state[1]}


def _decode_partial(extra: str | None) -> Any:
    """A published value: its JSON decoded, or the text itself when the task's value was not
    JSON (``publish`` then stored its ``str()``)."""
    if extra is None:
        return None
    try:
        return to_jsonable(json.loads(extra))
    except ValueError:
        return to_jsonable(extra)


__all__ = ["GONE", "ProgressWatch"]
