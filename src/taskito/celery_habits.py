"""What a Celery user types first, met with the taskito way (docs/migrating-from-celery.md):
the cheap habits are aliases (``apply_async(countdown=, eta=)``, ``JobResult.get()``); the
others (``bind=True``, ``autoretry_for=``, ``link=``, ``result.revoke()``, ...) raise an error
that names what to write instead, rather than Python's bare "unexpected keyword argument"."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import ParamSpec, TypeVar

from taskito.queue import checks as check

P = ParamSpec("P")
R = TypeVar("R")

GUIDE = "see docs/migrating-from-celery.md"

_RETRY_BY_RAISING = (
    "a task retries by raising: its max_retries, retry_backoff and retry_delays decide when "
    "it runs again"
)
_CURRENT_JOB = (
    "a task reads its own job through current_job (from taskito import current_job): "
    "current_job.id, .retry_count, .update_progress(percent)"
)
_NO_ACK_SETTING = (
    "no setting is needed: each attempt holds a lease, and a job whose worker dies is run "
    "again by another worker (at least once); remove the option"
)

#: ``@queue.task()`` keywords of Celery's ``@app.task`` that taskito spells otherwise.
TASK_KEYWORDS: Mapping[str, str] = {
    "bind": f"{_CURRENT_JOB}; {_RETRY_BY_RAISING}",
    "autoretry_for": (
        "every exception is retried up to max_retries by default; to retry only some, pass "
        "retry_on=[...] (any other exception is dead-lettered at once)"
    ),
    "retry_kwargs": "pass max_retries=, retry_backoff= or retry_delays= to @queue.task()",
    "default_retry_delay": (
        "pass retry_delays=[seconds, ...] for fixed delays, or retry_backoff= (base seconds, "
        "doubled each retry)"
    ),
    "retry_backoff_max": "it is max_retry_delay= (seconds)",
    "retry_jitter": "every retry delay already gets a random 0 to retry_backoff seconds added",
    "time_limit": "it is timeout= (seconds, enforced at the deadline on every pool)",
    "soft_time_limit": (
        "it is soft_timeout= (seconds), raised where the task calls current_job.check_timeout()"
    ),
    "acks_late": _NO_ACK_SETTING,
    "reject_on_worker_lost": _NO_ACK_SETTING,
    "ignore_result": (
        "every return value is stored; Queue(result_ttl=seconds) or apply_async(result_ttl=) "
        "deletes it later"
    ),
    "track_started": "a started job is always recorded (status 'running', started_at)",
    "base": (
        "share behaviour through a TaskMiddleware (middleware=[...]) or the queue's "
        "before_task/after_task/on_failure hooks"
    ),
}

#: ``apply_async`` keywords of Celery that taskito spells otherwise (``countdown`` and ``eta``
#: are accepted: ``apply_async_delay``).
APPLY_ASYNC_KEYWORDS: Mapping[str, str] = {
    "link": (
        "run steps in order with chain(task.s(...), next_task.s()).apply() "
        "(from taskito import chain), or react with the queue's on_success hook"
    ),
    "link_error": (
        "react to failures with the queue's on_failure hook, or a TaskMiddleware's on_dead_letter"
    ),
    "routing_key": "jobs are routed by queue name: apply_async(queue='name')",
    "exchange": "jobs are routed by queue name: apply_async(queue='name')",
    "task_id": "the job id is made for you (job.id); for an idempotent call, pass unique_key=",
    "headers": "pass metadata= (a string, e.g. JSON) and read current_job.metadata in the task",
    "serializer": "set serializer= on @queue.task() or on the Queue",
    "time_limit": "it is timeout= (seconds)",
    "soft_time_limit": "set soft_timeout= on @queue.task()",
    "ignore_result": "every return value is stored; result_ttl= (seconds) deletes it later",
    "retry": "an enqueue is one storage write: it succeeds or raises at once",
    "retry_policy": "an enqueue is one storage write: it succeeds or raises at once",
}

#: ``JobResult.get`` keywords of Celery's ``AsyncResult.get``.
GET_KEYWORDS: Mapping[str, str] = {
    "propagate": (
        "get()/result() always raises the job's error (TaskFailedError, "
        "MaxRetriesExceededError, TaskCancelledError): catch it, or read job.status and "
        "job.error after job.refresh()"
    ),
    "interval": "it is poll_interval= (seconds)",
    "disable_sync_subtasks": "remove it: waiting inside a task is allowed (and blocks that task)",
}

_TERMINATE = "queue.cancel(job_id) (force=True stops a running task, as terminate=True)"

#: Celery's ``AsyncResult`` attributes, on a ``JobResult`` (or test mode's job).
JOB_ATTRIBUTES: Mapping[str, str] = {
    "state": (
        "read job.status after job.refresh(): 'pending', 'running', 'complete', "
        "'failed', 'dead' or 'cancelled'"
    ),
    "ready": "job.refresh(), then job.status in ('complete', 'failed', 'dead', 'cancelled')",
    "successful": "job.refresh(), then job.status == 'complete'",
    "failed": "job.refresh(), then job.status in ('failed', 'dead')",
    "revoke": f"use {_TERMINATE}",
    "forget": "results are deleted by result_ttl= or queue.purge_completed()",
    "wait": "use job.result(timeout=seconds) (or its alias job.get(timeout=seconds))",
    "task_id": "use job.id",
    "info": (
        "use job.progress (current_job.update_progress()) or job.stream() (the values of "
        "current_job.publish())"
    ),
    "traceback": "job.error holds the last error's traceback; job.errors lists every attempt",
}

#: Celery's ``Task`` attributes, on a ``TaskWrapper``.
TASK_ATTRIBUTES: Mapping[str, str] = {
    "retry": _RETRY_BY_RAISING,
    "request": (
        "use current_job (from taskito import current_job): .id, .retry_count, "
        ".queue_name, .task_name, .metadata"
    ),
    "update_state": (
        "use current_job.update_progress(percent), or current_job.publish(value) for "
        "partial results"
    ),
    "signature": "use task.s(...) or task.si(...)",
    "subtask": "use task.s(...) or task.si(...)",
    "apply": "call the task, task(...), to run it here, or use queue.test_mode()",
    "AsyncResult": "use queue.get_job(job_id)",
    "chunks": "use chunks(task, items, size) (from taskito import chunks)",
    "starmap": "use starmap(task, args_list) (from taskito import starmap)",
}

#: Celery's signature methods, on a ``Signature`` (``task.s()``).
SIGNATURE_ATTRIBUTES: Mapping[str, str] = {
    "delay": "use sig.apply() (sig.apply_async() is its async form: await it)",
    "set": (
        "give enqueue options when building it: "
        "Signature(task, args, kwargs, options={'delay': 10, 'queue': 'name'})"
    ),
    "link": "run steps in order with chain(sig, next_sig).apply()",
    "clone": "a signature is immutable; build another with task.s(...)",
}

#: Celery's ``Celery`` (app) attributes, on a ``Queue``.
QUEUE_ATTRIBUTES: Mapping[str, str] = {
    "control": (
        f"to revoke a job use {_TERMINATE}; to stop a queue, queue.pause(name); to stop "
        "workers, queue.request_shutdown() or SIGTERM"
    ),
    "send_task": "use queue.enqueue(task_name, args, kwargs, ...)",
    "AsyncResult": "use queue.get_job(job_id)",
    "conf": "options are Queue(...) arguments and @queue.task() options (queue.settings)",
    "autodiscover_tasks": (
        "import the modules that define tasks in the module that builds the Queue; "
        "`taskito worker --app module:queue` imports that module"
    ),
    "worker_main": "run `taskito worker --app module:queue`, or queue.run_worker()",
    "start": "run `taskito worker --app module:queue`, or queue.run_worker()",
}


def habit_error(habit: str, way: str) -> TypeError:
    """The ``TypeError`` for a Celery ``habit``: what it is in taskito, and where to read on."""
    return TypeError(f"{habit} is Celery's; in taskito {way} ({GUIDE})")


def keyword_error(where: str, name: str, way: str) -> TypeError:
    """The ``TypeError`` for Celery's keyword ``name`` given to ``where`` (``"get()"``)."""
    return habit_error(f"{where.removesuffix(')')}{name}=...)", way)


def refuse_celery_keywords(
    where: str, keywords: Mapping[str, str]
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Wrap a method so that a Celery keyword it does not take raises a ``TypeError`` naming
    the taskito way instead of Python's bare one. The signature is unchanged (``inspect``
    follows ``__wrapped__``), so any other unknown keyword still fails as Python makes it."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def checked(*args: P.args, **kwargs: P.kwargs) -> R:
            if kwargs and not keywords.keys().isdisjoint(kwargs):
                name = next(name for name in kwargs if name in keywords)
                raise keyword_error(where, name, keywords[name])
            return fn(*args, **kwargs)

        return checked

    return decorate


def missing_attribute(owner: object, name: str, habits: Mapping[str, str]) -> AttributeError:
    """The ``AttributeError`` for ``owner.name``: Python's own message, with the taskito way
    added when ``name`` is one of Celery's ``habits``. It never reads ``owner``'s attributes
    (a half-built object, such as one being unpickled, would recurse)."""
    cls = type(owner).__name__
    way = None if name.startswith("_") else habits.get(name)
    message = f"{cls!r} object has no attribute {name!r}"
    if way is not None:
        message += f" ({name} is Celery's); in taskito {way} ({GUIDE})"
    return AttributeError(message, name=name, obj=owner)


def apply_async_delay(delay: float | None, countdown: object, eta: object) -> float | None:
    """The ``delay`` of an ``apply_async`` call given Celery's ``countdown=`` (seconds, an
    alias) or ``eta=`` (a timezone-aware datetime; a past one means now). One of the three."""
    given = [
        f"{name}="
        for name, value in (("delay", delay), ("countdown", countdown), ("eta", eta))
        if value is not None
    ]
    if len(given) > 1:
        raise TypeError(
            f"apply_async() takes one of delay=, countdown= and eta=, got {', '.join(given)}"
        )
    if countdown is not None:
        return check.check_duration("countdown", countdown)
    if eta is not None:
        return eta_delay(eta)
    return delay


def eta_delay(eta: object) -> float:
    """Seconds from now until ``eta``, a timezone-aware datetime; 0 when it has passed."""
    if not isinstance(eta, datetime):
        raise TypeError(f"eta must be a datetime, not {type(eta).__name__}")
    if eta.tzinfo is None or eta.tzinfo.utcoffset(eta) is None:
        raise ValueError(
            "eta must be a timezone-aware datetime (for example "
            "datetime.now(timezone.utc) + timedelta(minutes=5)), or pass delay= in seconds"
        )
    return max(0.0, (eta - datetime.now(UTC)).total_seconds())


__all__ = [
    "APPLY_ASYNC_KEYWORDS",
    "GET_KEYWORDS",
    "GUIDE",
    "JOB_ATTRIBUTES",
    "QUEUE_ATTRIBUTES",
    "SIGNATURE_ATTRIBUTES",
    "TASK_ATTRIBUTES",
    "TASK_KEYWORDS",
    "apply_async_delay",
    "eta_delay",
    "habit_error",
    "keyword_error",
    "missing_attribute",
    "refuse_celery_keywords",
]
