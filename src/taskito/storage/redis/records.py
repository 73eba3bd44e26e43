"""Records of the Redis backend as stored (hash fields, list entries, JSON) and back.

A job hash holds the ``JobRecord`` fields under their own names, integers as decimal text and
absent optional fields as missing fields; scripts return a job packed into one string.
``lease_expires_at`` is on the server's clock (see ``RedisStorage``) and is shifted into the
reader's clock here.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping, Sequence
from typing import Any

from taskito.job import AttemptMetric, JobRecord, JobStatus, OutcomeKind, TaskMetric
from taskito.storage.base import DeadLetter, JobError, LogEntry, WorkerInfo
from taskito.storage.control import BreakerState, PeriodicSchedule, ReplayEntry

_STATUS_BY_CODE = {str(status.code).encode(): status for status in JobStatus}
_LENGTHS = struct.Struct(">26i")


def pairs(flat: Sequence[bytes]) -> dict[bytes, bytes]:
    """An HGETALL reply returned by a script (a flat list) as a dict."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode()


def _number(value: bytes | None) -> int | None:
    return None if value is None else int(value)


def unpack_job(packed: bytes) -> list[Any]:
    """The 26 JobRecord fields (bytes, or None when absent) of a job packed by ``pack_record``
    (prelude.lua): the field lengths as 4-byte big-endian signed integers (-1: absent), then
    the present values back to back."""
    values: list[Any] = []
    append = values.append
    start = _LENGTHS.size
    for length in _LENGTHS.unpack_from(packed):
        if length < 0:
            append(None)
        else:
            end = start + length
            append(packed[start:end])
            start = end
    if start != len(packed):
        raise ValueError(f"a packed job record is malformed: {packed[:120]!r}")
    return values


def job_from_packed(packed: bytes, clock_offset_ms: int) -> JobRecord:
    """The ``JobRecord`` of a packed job (``clock_offset_ms``: server minus local clock).
    Written out field by field: this runs for every claimed job."""
    (
        job_id, queue, task_name, payload, status, priority, created_at, scheduled_at,
        retry_count, max_retries, timeout_ms, started_at, completed_at, result, error,
        unique_key, progress, metadata, cancel_requested, expires_at, result_ttl_ms,
        namespace, worker_id, attempt, lease_expires_at, rescue_count,
    ) = unpack_job(packed)  # fmt: skip
    return JobRecord(
        job_id.decode(),
        queue.decode(),
        task_name.decode(),
        payload,
        _STATUS_BY_CODE[status],
        int(priority),
        int(created_at),
        int(scheduled_at),
        int(retry_count),
        int(max_retries),
        None if timeout_ms is None else int(timeout_ms),
        None if started_at is None else int(started_at),
        None if completed_at is None else int(completed_at),
        result,
        None if error is None else error.decode(),
        None if unique_key is None else unique_key.decode(),
        None if progress is None else int(progress),
        None if metadata is None else metadata.decode(),
        cancel_requested is not None and cancel_requested != b"0",
        None if expires_at is None else int(expires_at),
        None if result_ttl_ms is None else int(result_ttl_ms),
        None if namespace is None else namespace.decode(),
        None if worker_id is None else worker_id.decode(),
        int(attempt),
        None if lease_expires_at is None else int(lease_expires_at) - clock_offset_ms,
        0 if rescue_count is None else int(rescue_count),
    )


def dead_letter_from_fields(fields: Mapping[bytes, bytes]) -> DeadLetter:
    get = fields.get
    return DeadLetter(
        id=fields[b"id"].decode(),
        original_job_id=fields[b"original_job_id"].decode(),
        queue=fields[b"queue"].decode(),
        task_name=fields[b"task_name"].decode(),
        payload=fields[b"payload"],
        error=_text(get(b"error")),
        retry_count=int(fields[b"retry_count"]),
        failed_at=int(fields[b"failed_at"]),
        metadata=_text(get(b"metadata")),
        priority=int(fields[b"priority"]),
        max_retries=int(fields[b"max_retries"]),
        timeout_ms=_number(get(b"timeout_ms")),
        result_ttl_ms=_number(get(b"result_ttl_ms")),
        namespace=_text(get(b"namespace")),
        dlq_retry_count=int(get(b"dlq_retry_count") or 0),
    )


def job_error_from_entry(job_id: str, entry: bytes) -> JobError:
    """An error list entry: ``<id>|<attempt>|<failed_at>|<error text>``."""
    error_id, attempt, failed_at, error = entry.split(b"|", 3)
    return JobError(
        id=int(error_id),
        job_id=job_id,
        attempt=int(attempt),
        error=error.decode(),
        failed_at=int(failed_at),
    )


def encode_log(
    job_id: str, task_name: str, level: str, message: str, extra: str | None, logged_at: int
) -> str:
    return json.dumps([job_id, task_name, level, message, extra, logged_at], ensure_ascii=False)


def log_from_entry(seq: bytes, entry: bytes) -> LogEntry:
    job_id, task_name, level, message, extra, logged_at = json.loads(entry)
    return LogEntry(
        id=int(seq),
        job_id=job_id,
        task_name=task_name,
        level=level,
        message=message,
        extra=extra,
        logged_at=logged_at,
    )


def encode_metric(job_id: str, attempt: int, metric: AttemptMetric) -> bytes:
    """A metric row as its member of the ``metrics`` sorted set, whose score is the row's
    ``finished_at``: ``<attempt>:<started_at>:<wall_ns>:<outcome>:<len(job_id)>:<len(queue)>:``
    then the job id, the queue and the task name back to back (lengths in characters, so any
    text round-trips). Unique to its attempt. Cheaper to build than JSON: one per outcome."""
    return (
        f"{attempt}:{metric.started_at}:{metric.wall_ns}:{metric.outcome.value}:{len(job_id)}:"
        f"{len(metric.queue)}:{job_id}{metric.queue}{metric.task_name}"
    ).encode("utf-8", "surrogatepass")


def metric_from_member(member: bytes, finished_at: int) -> TaskMetric:
    """The row ``encode_metric`` stored as ``member``, scored ``finished_at``."""
    attempt, started_at, wall_ns, outcome, id_length, queue_length, names = member.decode(
        "utf-8", "surrogatepass"
    ).split(":", 6)
    queue_end = int(id_length) + int(queue_length)
    return TaskMetric(
        names[: int(id_length)],
        int(attempt),
        names[queue_end:],
        names[int(id_length) : queue_end],
        OutcomeKind(outcome),
        int(started_at),
        finished_at,
        int(wall_ns),
    )


def encode_worker(worker: WorkerInfo) -> str:
    """The static part of a worker entry; status and heartbeat live in their own keys."""
    return json.dumps(
        {
            "hostname": worker.hostname,
            "pid": worker.pid,
            "queues": None if worker.queues is None else list(worker.queues),
            "pool": worker.pool,
            "threads": worker.threads,
            "started_at": worker.started_at,
            "tags": list(worker.tags),
            "resources": None if worker.resources is None else sorted(worker.resources),
        },
        ensure_ascii=False,
    )


def worker_from_entry(
    worker_id: str, entry: bytes, status: str, heartbeat: int, health: bytes | None = None
) -> WorkerInfo:
    """A worker from its static entry, its status, heartbeat and resource health (JSON)."""
    data: dict[str, Any] = json.loads(entry)
    resources = data.get("resources")
    queues = data["queues"]
    return WorkerInfo(
        worker_id=worker_id,
        hostname=data["hostname"],
        pid=data["pid"],
        queues=None if queues is None else tuple(queues),
        pool=data["pool"],
        threads=data["threads"],
        status=status,
        started_at=data["started_at"],
        last_heartbeat=heartbeat,
        tags=tuple(data["tags"]),
        resources=None if resources is None else tuple(resources),
        resource_health=None if health is None else dict(json.loads(health)),
    )


def breaker_from_fields(fields: Mapping[bytes, bytes]) -> BreakerState:
    """A ``breaker:<task>`` hash (with ``task_name`` added by the script)."""
    get = fields.get
    return BreakerState(
        task_name=fields[b"task_name"].decode(),
        state=fields[b"state"].decode(),
        failure_count=int(fields[b"failure_count"]),
        last_failure_at=_number(get(b"last_failure_at")),
        opened_at=_number(get(b"opened_at")),
        threshold=int(fields[b"threshold"]),
        window_ms=int(fields[b"window_ms"]),
        cooldown_ms=int(fields[b"cooldown_ms"]),
        half_open_probes=int(fields[b"half_open_probes"]),
        half_open_success_rate=float(fields[b"half_open_success_rate"]),
        probes_started=int(fields[b"probes_started"]),
        probe_successes=int(fields[b"probe_successes"]),
        probe_failures=int(fields[b"probe_failures"]),
    )


def schedule_arguments(schedule: PeriodicSchedule) -> list[bytes | None]:
    """The fields of a ``periodic:<name>`` hash in the order ``periodic.lua`` unpacks them."""
    return [
        schedule.name.encode(),
        schedule.task_name.encode(),
        schedule.cron.encode(),
        None if schedule.timezone is None else schedule.timezone.encode(),
        schedule.queue.encode(),
        bytes(schedule.payload),
        b"%d" % schedule.next_run,
        None if schedule.last_run is None else b"%d" % schedule.last_run,
        b"1" if schedule.enabled else b"0",
    ]


def schedule_from_fields(fields: Mapping[bytes, bytes]) -> PeriodicSchedule:
    get = fields.get
    return PeriodicSchedule(
        name=fields[b"name"].decode(),
        task_name=fields[b"task_name"].decode(),
        cron=fields[b"cron"].decode(),
        timezone=_text(get(b"timezone")),
        queue=fields[b"queue"].decode(),
        payload=fields[b"payload"],
        next_run=int(fields[b"next_run"]),
        last_run=_number(get(b"last_run")),
        enabled=fields[b"enabled"] == b"1",
    )


def replay_from_entry(original_job_id: str, entry: Sequence[bytes | None]) -> ReplayEntry:
    """One ``replay_history.lua`` entry: seq, replay id, replayed_at, the two errors."""
    seq, replay_job_id, replayed_at, original_error, replay_error = entry
    assert seq is not None and replay_job_id is not None and replayed_at is not None
    return ReplayEntry(
        id=int(seq),
        original_job_id=original_job_id,
        replay_job_id=replay_job_id.decode(),
        replayed_at=int(replayed_at),
        original_error=_text(original_error),
        replay_error=_text(replay_error),
    )


__all__ = [
    "breaker_from_fields",
    "dead_letter_from_fields",
    "encode_log",
    "encode_worker",
    "job_error_from_entry",
    "job_from_packed",
    "log_from_entry",
    "pairs",
    "replay_from_entry",
    "schedule_arguments",
    "schedule_from_fields",
    "unpack_job",
    "worker_from_entry",
]
