"""Routes over runtime overrides (``Queue.set_task_override`` and the rest): the tasks with
their own options, override and switched-off middleware; a task's or a queue's override (GET,
PUT a partial object, DELETE); the middleware and its switches per task. A bad field or an
unknown task or middleware is a 400 naming it; an unknown task on a read is a 404."""

from __future__ import annotations

import dataclasses
from typing import Any

import taskito
from taskito.dashboard.api.errors import bad_request, not_found
from taskito.dashboard.api.params import body_object, checked_text


def _task(queue: taskito.Queue, name: str) -> str:
    checked_text("task name", name)
    if name not in {task["name"] for task in queue.registered_tasks()}:
        raise not_found(f"task {name!r} is not registered on this queue")
    return name


def _as_dict(override: object) -> dict[str, Any] | None:
    return None if override is None else dataclasses.asdict(override)  # type: ignore[call-overload]


def list_tasks(queue: taskito.Queue) -> list[dict[str, Any]]:
    """``queue.registered_tasks()``: every task with its own options, override, effective
    options, pause and switched-off middleware."""
    return queue.registered_tasks()


def get_task_override(queue: taskito.Queue, name: str) -> dict[str, Any] | None:
    return _as_dict(queue.get_task_override(_task(queue, name)))


def put_task_override(queue: taskito.Queue, name: str, body: Any) -> dict[str, Any] | None:
    fields = body_object(body)
    if not fields:
        raise bad_request("give at least one field: rate_limit, max_concurrent, timeout, paused")
    try:
        return _as_dict(queue.set_task_override(_task(queue, name), **fields))
    except ValueError as exc:
        raise bad_request(str(exc)) from None


def delete_task_override(queue: taskito.Queue, name: str) -> dict[str, bool]:
    return {"cleared": queue.clear_task_override(_task(queue, name))}


def get_queue_override(queue: taskito.Queue, name: str) -> dict[str, Any]:
    name = checked_text("queue name", name)
    override = _as_dict(queue.get_queue_override(name))
    return {"override": override, "paused": name in queue.paused_queues()}


def put_queue_override(queue: taskito.Queue, name: str, body: Any) -> dict[str, Any]:
    fields = body_object(body)
    if not fields:
        raise bad_request("give at least one field: rate_limit, max_concurrent, paused")
    try:
        queue.set_queue_override(checked_text("queue name", name), **fields)
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    return get_queue_override(queue, name)


def delete_queue_override(queue: taskito.Queue, name: str) -> dict[str, bool]:
    return {"cleared": queue.clear_queue_override(checked_text("queue name", name))}


def list_middleware(queue: taskito.Queue) -> list[dict[str, Any]]:
    return queue.list_middleware()


def task_middleware(queue: taskito.Queue, name: str) -> dict[str, list[str]]:
    return {"disabled": queue.get_disabled_middleware_for(_task(queue, name))}


def switch_middleware(queue: taskito.Queue, name: str, middleware: str, body: Any) -> Any:
    """``{"enabled": false}`` switches it off for the task, ``true`` back on."""
    enabled = body_object(body).get("enabled")
    if not isinstance(enabled, bool):
        raise bad_request("enabled must be true or false")
    task = _task(queue, name)
    switch = queue.enable_middleware_for_task if enabled else queue.disable_middleware_for_task
    try:
        return {"disabled": switch(task, checked_text("middleware", middleware))}
    except ValueError as exc:
        raise bad_request(str(exc)) from None


def clear_middleware(queue: taskito.Queue, name: str) -> dict[str, bool]:
    return {"cleared": queue.clear_middleware_disables(_task(queue, name))}


__all__ = [
    "clear_middleware",
    "delete_queue_override",
    "delete_task_override",
    "get_queue_override",
    "get_task_override",
    "list_middleware",
    "list_tasks",
    "put_queue_override",
    "put_task_override",
    "switch_middleware",
    "task_middleware",
]
