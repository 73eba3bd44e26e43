"""The route table: every REST route as (method, path, access, handler), where a handler
turns the parsed request (path parameters, query, JSON body) into a call of one route
function. Framework-free: the Starlette server serves this table, and a FastAPI router can
serve it too (or call the route functions directly)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import taskito
from taskito.dashboard.api import (
    dead_letters,
    jobs,
    operations,
    operator,
    overrides,
    params,
    periodic,
    queues,
    settings,
    system,
    workflows,
)
from taskito.dashboard.api.errors import bad_request
from taskito.dashboard.api.values import Answer, PlainText

#: ``public``: anyone (``/health``); ``read``: any signed-in user, viewer or admin;
#: ``admin``: the admin role only (every mutation).
Access = Literal["public", "read", "admin"]


@dataclass(frozen=True)
class Call:
    """One request, parsed: path parameters, query parameters (last value of each) and the
    JSON body (None when there is none)."""

    path: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    body: Any = None


Handler = Callable[[taskito.Queue, Call], Any]


@dataclass(frozen=True)
class Route:
    method: Literal["GET", "POST", "PUT", "DELETE"]
    path: str
    access: Access
    handler: Handler
    #: Whether the answer shows job arguments or results (never cached, never public).
    sensitive: bool = False


# --- handlers: parse, then call one route function ---------------------------------------


def _job_query(query: Mapping[str, str]) -> jobs.JobQuery:
    return jobs.JobQuery(
        status=params.text(query, "status"),
        queue=params.text(query, "queue"),
        task=params.text(query, "task"),
        metadata=params.text(query, "metadata"),
        error=params.text(query, "error"),
        created_after=params.integer(query, "created_after", None, minimum=0),
        created_before=params.integer(query, "created_before", None, minimum=0),
    )


def _list_jobs(queue: taskito.Queue, call: Call) -> Any:
    return jobs.list_jobs(queue, _job_query(call.query), params.page(call.query, 20))


def _job_id(call: Call) -> str:
    return params.checked_text("job id", call.path["job_id"])


def _on_job(route: Callable[[taskito.Queue, str], Any]) -> Handler:
    return lambda queue, call: route(queue, _job_id(call))


def _cancel(queue: taskito.Queue, call: Call) -> Any:
    force = params.body_bool(params.body_object(call.body), "force", False)
    return jobs.cancel_job(queue, _job_id(call), force)


def _list_dead(queue: taskito.Queue, call: Call) -> Any:
    return dead_letters.list_dead_letters(queue, params.page(call.query, 20))


def _retry_dead(queue: taskito.Queue, call: Call) -> Any:
    dead_id = params.checked_text("dead letter id", call.path["dead_id"])
    return dead_letters.retry_dead_letter(queue, dead_id)


def _retry_group(queue: taskito.Queue, call: Call) -> Any:
    body = params.body_object(call.body)
    task = params.body_text(body, "task_name")
    exception = params.body_text(body, "exception")
    return dead_letters.retry_dead_group(queue, task, exception)


def _purge_dead(queue: taskito.Queue, call: Call) -> Any:
    body = params.body_object(call.body)
    older_than = body.get("older_than", 0)
    if not isinstance(older_than, int | float) or isinstance(older_than, bool):
        raise bad_request("older_than must be a number of seconds")
    if not 0 <= older_than <= params.MAX_SECONDS:
        raise bad_request(f"older_than must be between 0 and {params.MAX_SECONDS:.0e}")
    return dead_letters.purge_dead_letters(queue, float(older_than))


def _delete_dead(queue: taskito.Queue, call: Call) -> Any:
    dead_id = params.checked_text("dead letter id", call.path["dead_id"])
    return operator.delete_dead_letter(queue, dead_id)


def _purge_dead_task(queue: taskito.Queue, call: Call) -> Any:
    task_name = params.body_text(params.body_object(call.body), "task_name")
    return operator.purge_dead_by_task(queue, params.checked_text("task_name", task_name))


def _retention_dry_run(queue: taskito.Queue, call: Call) -> Any:
    recommended = params.text(call.query, "recommended")
    if recommended not in (None, "true", "false"):
        raise bad_request("recommended must be true or false")
    return operator.retention_dry_run(queue, recommended == "true")


def _logs(queue: taskito.Queue, call: Call) -> Any:
    query = call.query
    return system.logs(
        queue,
        task=params.text(query, "task"),
        level=params.text(query, "level"),
        since_s=params.seconds(query, "since", 3600),
        limit=params.required_integer(query, "limit", 100, minimum=0, maximum=params.MAX_LIMIT),
        after_id=params.integer(query, "after", None, minimum=0),
    )


#: The longest window or bucket of the metrics routes, in whole seconds (what the Queue takes).
MAX_METRIC_SECONDS = 10**9


def _metric_task(call: Call) -> str | None:
    return params.text(call.query, "task")


def _metric_seconds(call: Call, name: str, default: int, minimum: int) -> int:
    return params.required_integer(
        call.query, name, default, minimum=minimum, maximum=MAX_METRIC_SECONDS
    )


def _metrics(queue: taskito.Queue, call: Call) -> Any:
    return operations.metrics(queue, _metric_task(call), _metric_seconds(call, "since", 3600, 0))


def _timeseries(queue: taskito.Queue, call: Call) -> Any:
    return operations.metrics_timeseries(
        queue,
        _metric_task(call),
        _metric_seconds(call, "since", 3600, 0),
        _metric_seconds(call, "bucket", 60, 1),
    )


def _scaler(queue: taskito.Queue, call: Call) -> Any:
    return operations.scaler(queue, params.text(call.query, "queue"))


def _queue_name(call: Call) -> str:
    return params.checked_text("queue name", call.path["name"])


def _setting_key(call: Call) -> str:
    return call.path["key"]


def _name(call: Call) -> str:
    return call.path["name"]


def _schedule(call: Call) -> str:
    return call.path["name"]


def _workflow_runs(queue: taskito.Queue, call: Call) -> Any:
    limit = params.required_integer(call.query, "limit", 50, minimum=1, maximum=params.MAX_LIMIT)
    state = params.text(call.query, "state")
    return workflows.list_runs(queue, state, limit, params.text(call.query, "cursor"))


def _on_run(route: Callable[[taskito.Queue, str], Any]) -> Handler:
    return lambda queue, call: route(queue, workflows.run_id_of(call.path["run_id"]))


def _on_run_body(route: Callable[[taskito.Queue, str, Any], Any]) -> Handler:
    return lambda queue, call: route(queue, workflows.run_id_of(call.path["run_id"]), call.body)


def _no_args(route: Callable[[taskito.Queue], Any]) -> Handler:
    return lambda queue, call: route(queue)


# --- the table ---------------------------------------------------------------------------

ROUTES: tuple[Route, ...] = (
    Route("GET", "/health", "public", lambda queue, call: system.health()),
    # Counts and queues.
    Route("GET", "/api/stats", "read", _no_args(queues.stats)),
    Route(
        "GET",
        "/api/stats/queues",
        "read",
        lambda queue, call: queues.queue_stats(queue, params.text(call.query, "queue")),
    ),
    Route("GET", "/api/queues", "read", _no_args(queues.list_queues)),
    Route("GET", "/api/queues/paused", "read", _no_args(queues.paused_queues)),
    Route(
        "POST",
        "/api/queues/{name}/pause",
        "admin",
        lambda queue, call: queues.pause_queue(queue, _queue_name(call)),
    ),
    Route(
        "POST",
        "/api/queues/{name}/resume",
        "admin",
        lambda queue, call: queues.resume_queue(queue, _queue_name(call)),
    ),
    # Runtime overrides and middleware switches.
    Route("GET", "/api/tasks", "read", _no_args(overrides.list_tasks)),
    Route(
        "GET",
        "/api/tasks/{name}/override",
        "read",
        lambda queue, call: overrides.get_task_override(queue, _name(call)),
    ),
    Route(
        "PUT",
        "/api/tasks/{name}/override",
        "admin",
        lambda queue, call: overrides.put_task_override(queue, _name(call), call.body),
    ),
    Route(
        "DELETE",
        "/api/tasks/{name}/override",
        "admin",
        lambda queue, call: overrides.delete_task_override(queue, _name(call)),
    ),
    Route(
        "GET",
        "/api/queues/{name}/override",
        "read",
        lambda queue, call: overrides.get_queue_override(queue, _name(call)),
    ),
    Route(
        "PUT",
        "/api/queues/{name}/override",
        "admin",
        lambda queue, call: overrides.put_queue_override(queue, _name(call), call.body),
    ),
    Route(
        "DELETE",
        "/api/queues/{name}/override",
        "admin",
        lambda queue, call: overrides.delete_queue_override(queue, _name(call)),
    ),
    Route("GET", "/api/middleware", "read", _no_args(overrides.list_middleware)),
    Route(
        "GET",
        "/api/tasks/{name}/middleware",
        "read",
        lambda queue, call: overrides.task_middleware(queue, _name(call)),
    ),
    Route(
        "DELETE",
        "/api/tasks/{name}/middleware",
        "admin",
        lambda queue, call: overrides.clear_middleware(queue, _name(call)),
    ),
    Route(
        "PUT",
        "/api/tasks/{name}/middleware/{mw}",
        "admin",
        lambda queue, call: overrides.switch_middleware(
            queue, _name(call), call.path["mw"], call.body
        ),
    ),
    # Jobs.
    Route("GET", "/api/jobs", "read", _list_jobs),
    Route("GET", "/api/jobs/{job_id}", "read", _on_job(jobs.get_job)),
    Route("GET", "/api/jobs/{job_id}/errors", "read", _on_job(jobs.job_errors)),
    Route("GET", "/api/jobs/{job_id}/logs", "read", _on_job(jobs.job_logs)),
    Route("GET", "/api/jobs/{job_id}/replay-history", "read", _on_job(jobs.job_replay_history)),
    Route("GET", "/api/jobs/{job_id}/dag", "read", _on_job(jobs.job_dag)),
    Route(
        "GET", "/api/jobs/{job_id}/arguments", "read", _on_job(jobs.job_arguments), sensitive=True
    ),
    Route("GET", "/api/jobs/{job_id}/result", "read", _on_job(jobs.job_result), sensitive=True),
    Route("POST", "/api/jobs/{job_id}/cancel", "admin", _cancel),
    Route("POST", "/api/jobs/{job_id}/replay", "admin", _on_job(jobs.replay_job)),
    Route("POST", "/api/jobs/{job_id}/requeue", "admin", _on_job(operator.requeue_job)),
    # Dead letters.
    Route("GET", "/api/dead-letters", "read", _list_dead),
    Route("GET", "/api/dead-letters/groups", "read", _no_args(dead_letters.dead_letter_groups)),
    Route("POST", "/api/dead-letters/retry-group", "admin", _retry_group),
    Route("POST", "/api/dead-letters/purge", "admin", _purge_dead),
    Route("POST", "/api/dead-letters/{dead_id}/retry", "admin", _retry_dead),
    Route("POST", "/api/dead-letters/purge-task", "admin", _purge_dead_task),
    Route("DELETE", "/api/dead-letters/{dead_id}", "admin", _delete_dead),
    # Workflow runs, their DAGs and child runs; gate decisions and cancel.
    Route("GET", "/api/workflows/runs", "read", _workflow_runs),
    Route("GET", "/api/workflows/runs/{run_id}", "read", _on_run(workflows.run_detail)),
    Route("GET", "/api/workflows/runs/{run_id}/dag", "read", _on_run(workflows.run_dag)),
    Route("GET", "/api/workflows/runs/{run_id}/children", "read", _on_run(workflows.run_children)),
    Route(
        "POST",
        "/api/workflows/runs/{run_id}/approve",
        "admin",
        _on_run_body(workflows.approve_gate),
    ),
    Route(
        "POST", "/api/workflows/runs/{run_id}/reject", "admin", _on_run_body(workflows.reject_gate)
    ),
    Route("POST", "/api/workflows/runs/{run_id}/cancel", "admin", _on_run(workflows.cancel_run)),
    # Retention: the windows, the last sweep's report, and a purge preview.
    Route("GET", "/api/retention", "read", _no_args(operator.retention)),
    Route("GET", "/api/retention/dry-run", "read", _retention_dry_run),
    # Workers, breakers, logs, resources.
    Route("GET", "/api/workers", "read", _no_args(system.workers)),
    Route("GET", "/api/circuit-breakers", "read", _no_args(system.circuit_breakers)),
    Route("GET", "/api/logs", "read", _logs),
    Route("GET", "/api/resources", "read", _no_args(system.resources)),
    Route("GET", "/api/proxy-stats", "read", _no_args(system.proxy_stats)),
    Route("GET", "/api/interception-stats", "read", _no_args(system.interception_stats)),
    # Settings (keys under "auth:" are the dashboard's own: hidden and refused).
    Route("GET", "/api/settings", "read", _no_args(settings.list_settings)),
    Route(
        "GET",
        "/api/settings/{key:path}",
        "read",
        lambda queue, call: settings.get_setting(queue, _setting_key(call)),
    ),
    Route(
        "PUT",
        "/api/settings/{key:path}",
        "admin",
        lambda queue, call: settings.put_setting(queue, _setting_key(call), call.body),
    ),
    Route(
        "DELETE",
        "/api/settings/{key:path}",
        "admin",
        lambda queue, call: settings.delete_setting(queue, _setting_key(call)),
    ),
    # Operations: task metrics, periodic schedules, the scaler payload; readiness and the
    # Prometheus text ("read": a session or a bearer token, so scrapers use a viewer token).
    Route("GET", "/api/metrics", "read", _metrics),
    Route("GET", "/api/metrics/timeseries", "read", _timeseries),
    Route("GET", "/api/periodic", "read", _no_args(operations.periodic_schedules)),
    Route(
        "POST",
        "/api/periodic/{name}/pause",
        "admin",
        lambda queue, call: periodic.pause_schedule(queue, _schedule(call)),
    ),
    Route(
        "POST",
        "/api/periodic/{name}/resume",
        "admin",
        lambda queue, call: periodic.resume_schedule(queue, _schedule(call)),
    ),
    Route(
        "PUT",
        "/api/periodic/{name}",
        "admin",
        lambda queue, call: periodic.update_schedule(queue, _schedule(call), call.body),
    ),
    Route(
        "DELETE",
        "/api/periodic/{name}",
        "admin",
        lambda queue, call: periodic.delete_schedule(queue, _schedule(call)),
    ),
    Route("GET", "/api/scaler", "read", _scaler),
    Route("GET", "/readiness", "read", _no_args(operations.readiness)),
    Route("GET", "/metrics", "read", _no_args(operations.prometheus)),
)


__all__ = [
    "MAX_METRIC_SECONDS",
    "ROUTES",
    "Access",
    "Answer",
    "Call",
    "Handler",
    "PlainText",
    "Route",
]
