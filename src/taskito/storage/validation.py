"""Checks every backend applies to its input before writing anything: finishes that no
transition allows (and the metrics they carry), batch dependencies that must already be stored,
the arguments of the metric reads, and those of the flow-control methods
(``storage/control.py``)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import cast

from taskito._checks import (
    check_bool,
    check_count,
    check_fraction,
    check_int,
    check_optional_text,
    check_positive,
    check_text,
)
from taskito.exceptions import DependencyError
from taskito.job import AttemptMetric, JobBatch, JobStatus, NewJob, OutcomeKind
from taskito.storage.base import Finish
from taskito.storage.control import BreakerConfig, Deferral, PeriodicSchedule

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
        check_text(f"job {finish.job_id}: worker_id", finish.worker_id)
        if finish.metric is not None:
            require_metric(finish.job_id, finish.metric)


#: Every backend stores these as 64-bit integers.
_INT64_MAX = 2**63 - 1


def require_metric(job_id: str, metric: object) -> AttemptMetric:
    """A finish's ``AttemptMetric``: names as text, an ``OutcomeKind``, a start time and a
    non-negative duration that fit in 64 bits."""
    if (  # the common case, checked without building a message (this runs once per outcome)
        type(metric) is AttemptMetric
        and type(metric.task_name) is str
        and metric.task_name
        and type(metric.queue) is str
        and type(metric.outcome) is OutcomeKind
        and type(metric.started_at) is int
        and type(metric.wall_ns) is int
        and -_INT64_MAX <= metric.started_at <= _INT64_MAX
        and 0 <= metric.wall_ns <= _INT64_MAX
    ):
        return metric
    if not isinstance(metric, AttemptMetric):
        raise TypeError(
            f"job {job_id}: metric must be an AttemptMetric, got {type(metric).__name__}"
        )
    check_text(f"job {job_id}: metric task_name", metric.task_name)
    check_text(f"job {job_id}: metric queue", metric.queue, allow_empty=True)
    if not isinstance(metric.outcome, OutcomeKind):
        raise TypeError(
            f"job {job_id}: metric outcome must be an OutcomeKind, got {metric.outcome!r}"
        )
    check_int(
        f"job {job_id}: metric started_at",
        metric.started_at,
        minimum=-_INT64_MAX,
        maximum=_INT64_MAX,
    )
    check_int(f"job {job_id}: metric wall_ns", metric.wall_ns, minimum=0, maximum=_INT64_MAX)
    return metric


def metric_query(task_name: object, since: object) -> tuple[str | None, int]:
    """Check ``task_metrics``'s arguments: a task name or None, and an int time."""
    if task_name is not None:
        check_text("task_name", task_name)
    return cast("str | None", task_name), check_int("since", since)


def metric_purge(before: object, limit: object) -> tuple[int, int]:
    """Check ``purge_metrics``'s arguments: an int time and a limit of at least 1."""
    return check_int("before", before), check_positive("limit", limit, type_error=ValueError)


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


def check_page(limit: object, offset: object) -> tuple[int, int]:
    """A page of a listing: ``limit`` and ``offset``, each an int of at least 0 (a wrong type
    is a ``ValueError`` here, as for every count the contract takes)."""
    return (
        check_count("limit", limit, type_error=ValueError),
        check_count("offset", offset, type_error=ValueError),
    )


def check_job_cursor(before: object) -> tuple[int, str] | None:
    """``JobFilter.before``: None, or ``(created_at, id)`` with an int time of at least 0 and
    a job id."""
    if before is None:
        return None
    if not isinstance(before, tuple) or len(before) != 2:
        raise ValueError(f"before must be a (created_at, id) tuple, got {before!r}")
    time_ms, job_id = before
    return check_count("before created_at", time_ms, type_error=ValueError), check_text(
        "before id", job_id
    )


def claim_queue_names(queues: object, limit: object, lease_ms: object) -> list[str] | None:
    """Check ``claim``'s arguments; return its queue names, deduplicated in order (None: every
    queue). A claim with ``limit`` 0 or no queue at all has nothing to do (callers check)."""
    check_count("limit", limit, type_error=ValueError)
    check_positive("lease_ms", lease_ms, type_error=ValueError)
    if isinstance(queues, str):
        raise TypeError(f"queues must be a list of queue names or None, not {queues!r}")
    return None if queues is None else list(dict.fromkeys(cast("Iterable[str]", queues)))


def require_capped_jobs(jobs: Sequence[NewJob], max_pending: object, batch: bool) -> list[NewJob]:
    """The jobs of ``Storage.enqueue_capped``, checked: new jobs of one queue (one job unless
    ``batch``), and a cap that is an int of at least 0."""
    checked = [require_new_job(job) for job in jobs]
    if type(max_pending) is not int or max_pending < 0:
        raise ValueError(f"max_pending must be an int of at least 0, not {max_pending!r}")
    if not batch and len(checked) != 1:
        raise ValueError(f"enqueue_capped without batch takes one job, not {len(checked)}")
    if len({job.queue for job in checked}) > 1:
        raise ValueError("enqueue_capped takes jobs of one queue")
    return checked


def require_coalescing_batch(jobs: Sequence[NewJob]) -> list[NewJob]:
    """The jobs of ``Storage.enqueue_coalescing``, checked: new jobs without dependencies."""
    batch = [require_new_job(job) for job in jobs]
    for job in batch:
        if job.depends_on:
            raise ValueError(f"job {job.id}: a coalescing batch carries no dependencies")
    return batch


def require_debounced(
    job: object,
    key: object,
    window_ms: object,
    max_wait_ms: object,
    replace_payload: object,
    now: object,
    max_pending: object,
) -> NewJob:
    """The arguments of ``Storage.enqueue_debounced``, checked before anything is read."""
    checked = require_new_job(job)
    if checked.unique_key is not None:
        raise ValueError(f"job {checked.id}: a debounced job carries no unique key")
    if not isinstance(key, str) or not key:
        raise ValueError(f"the debounce key must be a non-empty str, not {key!r}")
    if type(window_ms) is not int or window_ms < 1:
        raise ValueError(f"window_ms must be an int of at least 1, not {window_ms!r}")
    if type(max_wait_ms) is not int or max_wait_ms < window_ms:
        raise ValueError(f"max_wait_ms must be an int of at least window_ms, not {max_wait_ms!r}")
    if type(replace_payload) is not bool:
        raise TypeError(f"replace_payload must be a bool, not {type(replace_payload).__name__}")
    if type(now) is not int:
        raise TypeError(f"now must be an int of ms, not {type(now).__name__}")
    if max_pending is not None and (type(max_pending) is not int or max_pending < 0):
        raise ValueError(f"max_pending must be an int of at least 0, not {max_pending!r}")
    return checked


def require_new_job(job: object) -> NewJob:
    if not isinstance(job, NewJob):
        raise TypeError(f"expected a NewJob, got {type(job).__name__}")
    if not isinstance(job.payload, bytes | bytearray | memoryview):
        raise TypeError(f"job {job.id}: payload must be bytes, got {type(job.payload).__name__}")
    return job


def require_job_batch(batch: object) -> JobBatch:
    """A ``JobBatch`` whose ids are strings and payloads bytes, one of each per job."""
    if not isinstance(batch, JobBatch):
        raise TypeError(f"expected a JobBatch, got {type(batch).__name__}")
    ids, payloads = batch.ids, batch.payloads
    if not isinstance(ids, list) or not isinstance(payloads, list):
        raise TypeError("a JobBatch's ids and payloads must be lists")
    if len(ids) != len(payloads):
        raise ValueError(f"a JobBatch has {len(ids)} ids but {len(payloads)} payloads")
    if not set(map(type, ids)) <= {str}:
        raise TypeError("a JobBatch's ids must be strings")
    if not set(map(type, payloads)) <= {bytes}:
        raise TypeError("a JobBatch's payloads must be bytes")
    return batch


# --- flow control (storage/control.py) ------------------------------------------------------


def lock_params(name: str, owner_id: str, **numbers: object) -> dict[str, object]:
    """The named parameters of a lock statement (SQLite and Postgres); ``numbers`` (``token``,
    ``ttl``) must be positive integers."""
    params: dict[str, object] = {
        "name": check_text("name", name),
        "owner": check_text("owner_id", owner_id),
    }
    for key, value in numbers.items():
        params[key] = check_positive(
            "ttl_ms" if key == "ttl" else key, value, type_error=ValueError
        )
    return params


def cancel_arguments(job_id: object, force: object, now: object) -> tuple[str, bool, int]:
    """Check ``Storage.cancel``'s arguments; return them typed."""
    if isinstance(now, bool) or not isinstance(now, int):
        raise TypeError(f"now must be an int (ms since the epoch), got {now!r}")
    return check_text("job_id", job_id), check_bool("force", force), now


def require_deferrals(deferrals: Sequence[Deferral]) -> list[Deferral]:
    """A batch for ``defer_many``, checked whole before anything is written."""
    batch = list(deferrals)
    for deferral in batch:
        if not isinstance(deferral, Deferral):
            raise TypeError(f"defer_many expects Deferral records, got {type(deferral).__name__}")
        check_text("job_id", deferral.job_id)
        check_int(f"job {deferral.job_id}: attempt", deferral.attempt, type_error=ValueError)
        check_int(f"job {deferral.job_id}: until", deferral.until, type_error=ValueError)
        check_text(f"job {deferral.job_id}: worker_id", deferral.worker_id)
    return batch


def release_arguments(
    worker_id: object, keep: object, max_rescues: object, reason: object
) -> tuple[str, list[str], int, str]:
    """Check ``release_jobs``'s arguments; return them with ``keep`` as a list."""
    check_text("worker_id", worker_id)
    if isinstance(keep, str) or not isinstance(keep, Iterable):
        raise TypeError(f"keep must be a collection of job ids, not {keep!r}")
    kept = list(cast("Iterable[object]", keep))
    for job_id in kept:
        check_text("a kept job id", job_id)
    check_count("max_rescues", max_rescues, type_error=ValueError)
    check_text("reason", reason)
    return (
        cast(str, worker_id),
        cast("list[str]", kept),
        cast(int, max_rescues),
        cast(str, reason),
    )


def require_breaker_config(config: object) -> BreakerConfig:
    """Counts at least one, windows not negative, a success rate between 0 and 1."""
    if not isinstance(config, BreakerConfig):
        raise TypeError(f"config must be a BreakerConfig, got {type(config).__name__}")
    check_positive("threshold", config.threshold, type_error=ValueError)
    check_count("window_ms", config.window_ms, type_error=ValueError)
    check_count("cooldown_ms", config.cooldown_ms, type_error=ValueError)
    check_positive("half_open_probes", config.half_open_probes, type_error=ValueError)
    check_fraction("half_open_success_rate", config.half_open_success_rate, type_error=ValueError)
    return config


def require_schedule(schedule: object) -> PeriodicSchedule:
    if not isinstance(schedule, PeriodicSchedule):
        raise TypeError(f"schedule must be a PeriodicSchedule, got {type(schedule).__name__}")
    for field in ("name", "task_name", "cron", "queue"):
        check_text(field, getattr(schedule, field))
    check_optional_text("timezone", schedule.timezone)
    if not isinstance(schedule.payload, bytes | bytearray | memoryview):
        raise TypeError(f"payload must be bytes, got {type(schedule.payload).__name__}")
    check_int("next_run", schedule.next_run, type_error=ValueError)
    if schedule.last_run is not None:
        check_int("last_run", schedule.last_run, type_error=ValueError)
    check_bool("enabled", schedule.enabled)
    return schedule


def schedule_retiming(
    name: object, cron: object, timezone: object, next_run: object
) -> tuple[str, str, str | None, int]:
    """The checked arguments of ``update_periodic``."""
    return (
        check_text("name", name),
        check_text("cron", cron),
        check_optional_text("timezone", timezone),
        check_int("next_run", next_run, type_error=ValueError),
    )


def schedule_enabling(
    name: object, enabled: object, next_run: object
) -> tuple[str, bool, int | None]:
    """The checked arguments of ``set_periodic_enabled``."""
    return (
        check_text("name", name),
        check_bool("enabled", enabled),
        None if next_run is None else check_int("next_run", next_run, type_error=ValueError),
    )


#: Long enough for any caller, short enough for ``Condition.wait``'s timeout limit.
MAX_WAIT_STEP_S = 3600.0


def wait_step(timeout_s: object) -> float:
    """The seconds one ``wait_for_change(timeout_s)`` waits: a number, zero or more; waits
    longer than ``MAX_WAIT_STEP_S`` return then (callers wait again)."""
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float):
        raise TypeError(f"timeout_s must be a number of seconds, got {timeout_s!r}")
    if math.isnan(timeout_s) or timeout_s < 0:
        raise ValueError(f"timeout_s must be zero or positive, got {timeout_s!r}")
    return min(float(timeout_s), MAX_WAIT_STEP_S)
