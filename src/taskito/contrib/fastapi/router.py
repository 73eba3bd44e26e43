"""``TaskitoRouter``: a FastAPI ``APIRouter`` serving a Queue's job API. Each route parses its
parameters with FastAPI (so they appear in the OpenAPI schema), calls one function of the
dashboard's JSON layer off the event loop, and answers what it returns; the logic of every
route lives there, written once for the dashboard and this router."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fastapi import APIRouter, Query
from fastapi.params import Depends
from fastapi.responses import JSONResponse, StreamingResponse

import taskito
from taskito.contrib.fastapi.options import RouterOptions, select_routes
from taskito.contrib.fastapi.waits import (
    http_errors,
    off_loop,
    progress_events,
    wait_for_result,
)
from taskito.dashboard.api import dead_letters, jobs, params, queues, system
from taskito.dashboard.api.params import Page
from taskito.dashboard.api.progress import ProgressWatch
from taskito.health import NOT_READY, check_health, check_queue, check_readiness

#: The longest ``?timeout=`` of the result route, in seconds (the reference's bound).
MAX_RESULT_WAIT_S = 300.0


class PrivateJSONResponse(JSONResponse):
    """JSON that no browser or proxy stores: answers hold job data and change as jobs run."""

    def __init__(self, content: Any, status_code: int = 200, **kwargs: Any) -> None:
        super().__init__(content, status_code, **kwargs)
        self.headers["cache-control"] = "no-store"


class TaskitoRouter(APIRouter):
    """The job API of ``queue`` as an ``APIRouter``: ``app.include_router(TaskitoRouter(queue),
    prefix="/tasks")``.

    ``include_routes`` / ``exclude_routes``: route names (``ROUTE_NAMES``) to serve only, or
    to leave out; not both. ``dependencies``: FastAPI dependencies run before every route
    (authentication: the routes cancel jobs and retry dead letters, so guard them).
    ``sse_poll_interval``: seconds between two polls of a progress stream.
    ``result_timeout``: seconds ``JobResult.result()`` may take to read a finished job's
    result. ``default_page_size`` / ``max_page_size``: the dead-letter list's default and
    largest ``limit``. ``result_serializer``: turns a job's result into JSON data (default:
    JSON values as they are, anything else its ``repr``). Other keywords go to
    ``APIRouter`` (``tags`` defaults to ``["taskito"]``).
    """

    def __init__(
        self,
        queue: taskito.Queue,
        *,
        include_routes: Sequence[str] | set[str] | frozenset[str] | None = None,
        exclude_routes: Sequence[str] | set[str] | frozenset[str] | None = None,
        dependencies: Sequence[Depends] | None = None,
        sse_poll_interval: float = 0.5,
        result_timeout: float = 1.0,
        default_page_size: int = 20,
        max_page_size: int = 100,
        result_serializer: Callable[[Any], Any] | None = None,
        **router_kwargs: Any,
    ) -> None:
        self.queue = check_queue(queue)
        self.settings = RouterOptions.from_arguments(
            sse_poll_interval=sse_poll_interval,
            result_timeout=result_timeout,
            default_page_size=default_page_size,
            max_page_size=max_page_size,
            result_serializer=result_serializer,
        )
        #: The names of the routes this router serves.
        self.route_names = select_routes(include_routes, exclude_routes)
        router_kwargs.setdefault("tags", ["taskito"])
        super().__init__(dependencies=_check_dependencies(dependencies), **router_kwargs)
        for name in self.route_names:
            _ROUTES[name](self, self.queue, self.settings)

    def _serve(self, method: str, path: str, name: str, endpoint: Callable[..., Any]) -> None:
        self.add_api_route(
            path,
            endpoint,
            methods=[method],
            name=f"taskito-{name}",
            response_class=PrivateJSONResponse,
        )


def _check_dependencies(dependencies: object) -> list[Depends] | None:
    if dependencies is None:
        return None
    if isinstance(dependencies, str | bytes | Mapping) or not isinstance(dependencies, Sequence):
        raise TypeError(
            "dependencies must be a list of fastapi.Depends(...), "
            f"not {type(dependencies).__name__}"
        )
    for dependency in dependencies:
        if not isinstance(dependency, Depends):
            raise TypeError(f"dependencies must hold fastapi.Depends(...), not {dependency!r}")
    return list(dependencies)


def _job_id(job_id: str) -> str:
    return params.checked_text("job id", job_id)


# --- the routes, one function each: parse, then call the JSON layer ------------------------


def _stats(router: TaskitoRouter, queue: taskito.Queue, options: RouterOptions) -> None:
    def stats() -> dict[str, int]:
        """Jobs per status over every queue."""
        with http_errors():
            return queues.stats(queue)

    router._serve("GET", "/stats", "stats", stats)


def _queue_stats(router: TaskitoRouter, queue: taskito.Queue, options: RouterOptions) -> None:
    def queue_stats(queue_name: str | None = Query(None, alias="queue")) -> dict[str, Any]:
        """One queue's counts (``?queue=``), or ``{queue: counts}`` for every queue."""
        with http_errors():
            name = params.checked_text("queue", queue_name) if queue_name else None
            return queues.queue_stats(queue, name)

    router._serve("GET", "/stats/queues", "queue-stats", queue_stats)


def _job(router: TaskitoRouter, queue: taskito.Queue, options: RouterOptions) -> None:
    def job(job_id: str) -> dict[str, Any]:
        """One job: status, progress, retries, times; 404 when there is no such job."""
        with http_errors():
            return jobs.get_job(queue, _job_id(job_id))

    router._serve("GET", "/jobs/{job_id}", "jobs", job)


def _job_errors(router: TaskitoRouter, queue: taskito.Queue, options: RouterOptions) -> None:
    def job_errors(job_id: str) -> list[dict[str, Any]]:
        """The job's failed attempts, oldest first."""
        with http_errors():
            return jobs.job_errors(queue, _job_id(job_id))

    router._serve("GET", "/jobs/{job_id}/errors", "job-errors", job_errors)


def _job_result(router: TaskitoRouter, queue: taskito.Queue, options: RouterOptions) -> None:
    async def job_result(
        job_id: str,
        timeout: float = Query(
            0.0,
            ge=0,
            le=MAX_RESULT_WAIT_S,
            description="Seconds to wait for the job to finish (0: answer at once).",
        ),
    ) -> dict[str, Any]:
        """``{id, status, result, error, result_error}``, after waiting up to ``timeout``
        seconds for the job to finish."""
        with http_errors():
            checked = _job_id(job_id)

        def read() -> dict[str, Any]:
            return jobs.job_result(
                queue,
                checked,
                serialize=options.result_serializer,
                read_timeout_s=options.result_timeout_s,
            )

        return await wait_for_result(read, timeout)

    router._serve("GET", "/jobs/{job_id}/result", "job-result", job_result)


def _job_progress(router: TaskitoRouter, queue: taskito.Queue, options: RouterOptions) -> None:
    async def job_progress(job_id: str, include_results: bool = False) -> StreamingResponse:
        """Server-sent events ``data: {"status", "progress"}`` whenever either changes, until
        the job finishes; with ``include_results=true`` also ``{..., "partial_result"}`` for
        each value the task publishes."""
        with http_errors():
            watch = ProgressWatch(queue, _job_id(job_id), include_results=include_results)
        first = await off_loop(watch.poll)  # 404 here, before the stream starts
        return StreamingResponse(
            progress_events(watch, first, options.sse_poll_interval_s),
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )

    router._serve("GET", "/jobs/{job_id}/progress", "job-progress", job_progress)


def _cancel(router: TaskitoRouter, queue: taskito.Queue, options: RouterOptions) -> None:
    def cancel(job_id: str, force: bool = False) -> dict[str, Any]:
        """Cancel a pending job, or ask the worker running it to stop (``force``: even a
        task that never checks); ``{cancelled, outcome}``; 404 for an unknown job."""
        with http_errors():
            return jobs.cancel_job(queue, _job_id(job_id), force)

    router._serve("POST", "/jobs/{job_id}/cancel", "cancel", cancel)


def _dead_letters(router: TaskitoRouter, queue: taskito.Queue, options: RouterOptions) -> None:
    def dead_letter_page(
        limit: int = Query(options.default_page_size, ge=1, le=options.max_page_size),
        offset: int = Query(0, ge=0),
    ) -> list[dict[str, Any]]:
        """Dead letters, newest first, each with the ``exception`` class it died of."""
        with http_errors():
            return dead_letters.list_dead_letters(queue, Page(limit, offset))

    router._serve("GET", "/dead-letters", "dead-letters", dead_letter_page)


def _retry_dead(router: TaskitoRouter, queue: taskito.Queue, options: RouterOptions) -> None:
    def retry_dead(dead_id: str) -> dict[str, Any]:
        """Enqueue a dead letter again; ``{new_job_id}``; 404 for an unknown letter."""
        with http_errors():
            checked = params.checked_text("dead letter id", dead_id)
            return dead_letters.retry_dead_letter(queue, checked)

    router._serve("POST", "/dead-letters/{dead_id}/retry", "retry-dead", retry_dead)


def _health(router: TaskitoRouter, queue: taskito.Queue, options: RouterOptions) -> None:
    async def health() -> dict[str, str]:
        """Liveness: ``{"status": "ok"}`` while the process answers (no I/O)."""
        return check_health()

    router._serve("GET", "/health", "health", health)


def _readiness(router: TaskitoRouter, queue: taskito.Queue, options: RouterOptions) -> None:
    def readiness() -> PrivateJSONResponse:
        """``{status: ready|degraded|not_ready, checks}``; 503 when storage does not answer."""
        report = check_readiness(queue)
        status = 503 if report["status"] == NOT_READY else 200
        return PrivateJSONResponse(report, status_code=status)

    router._serve("GET", "/readiness", "readiness", readiness)


def _resources(router: TaskitoRouter, queue: taskito.Queue, options: RouterOptions) -> None:
    def resources() -> list[dict[str, Any]]:
        """The workers' resources and their health (empty until the queue has any)."""
        with http_errors():
            return system.resources(queue)

    router._serve("GET", "/resources", "resources", resources)


_ROUTES: dict[str, Callable[[TaskitoRouter, taskito.Queue, RouterOptions], None]] = {
    "stats": _stats,
    "queue-stats": _queue_stats,
    "jobs": _job,
    "job-errors": _job_errors,
    "job-result": _job_result,
    "job-progress": _job_progress,
    "cancel": _cancel,
    "dead-letters": _dead_letters,
    "retry-dead": _retry_dead,
    "health": _health,
    "readiness": _readiness,
    "resources": _resources,
}


__all__ = ["MAX_RESULT_WAIT_S", "PrivateJSONResponse", "TaskitoRouter"]
