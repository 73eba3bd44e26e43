"""Key names of the Redis backend, the encodings that make sorted sets order jobs correctly, and
the checks and argument lists that turn jobs, outcomes and times into script arguments.

Every key starts with ``<prefix>:`` (see docs/redis.md for the whole data model).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from functools import cache

from taskito.exceptions import DependencyError, StorageError, UniqueConflictError
from taskito.ids import new_job_id
from taskito.job import JobStatus, NewJob
from taskito.storage.base import Finish
from taskito.storage.redis.records import encode_metric
from taskito.storage.validation import require_metric
from taskito.storage.workflow_contract import result_digest

#: Times are stored as sorted-set scores (doubles) and compared in Lua (doubles): integers of
#: magnitude up to 2**53 are exact, which is 285,000 years of milliseconds.
MAX_SAFE_INTEGER = 2**53
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_PREFIX_RE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


def check_prefix(prefix: object) -> str:
    """A prefix is 1-64 letters, digits, ``_``, ``.`` or ``-``: no ``:``, so no prefix is
    another prefix's key space (``a`` and ``a:job`` would otherwise overlap)."""
    if not isinstance(prefix, str) or _PREFIX_RE.fullmatch(prefix) is None:
        raise ValueError(
            "prefix (the schema= of a redis Queue) must be 1-64 letters, digits, '_', '.'"
            f" or '-', got {prefix!r}"
        )
    return prefix


#: Every key of one prefix: the name after ``<prefix>:`` (the data model of docs/redis.md).
#: ``lua/prelude.lua`` and a few scripts build the same names; tests/storage/test_redis_keys.py
#: asserts that every name a script or this package builds is in this table, and each is used.
KEY_NAMES = frozenset(
    {
        "archive", "breakers", "cancels", "changes", "created", "deadindex", "done", "ended",
        "heartbeats", "locktokens", "logindex", "logs", "meta", "metrics", "paused", "periodicdue",
        "periodics", "queues", "rates", "resultexpiry", "running", "seq", "settings", "unique",
        "workerhealth", "workers", "workerstatus", "wfdefindex", "wfdue", "wfgates", "wfjobs",
    }
)  # fmt: skip
#: Key families: each name is followed by ``:<id>`` (or more parts, as in ``status:<code>:<q>``).
KEY_FAMILIES = frozenset(
    {
        "archived", "breaker", "bystatus", "dead", "dependents", "deps", "errors", "expiry",
        "job", "joblogs", "levels", "lock", "nsqueues", "periodic", "ready", "replay", "replays",
        "status", "taskpending", "wfchildren", "wfdef", "wfnodes", "wfop", "wfrun", "wfruns",
        "wfstate",
    }
)  # fmt: skip


class Keys:
    """The names of the keys Python reads directly (the scripts build the same names, from the
    same table: ``KEY_NAMES`` and ``KEY_FAMILIES``)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.created = f"{prefix}:created"
        self.cancels = f"{prefix}:cancels"
        self.logs = f"{prefix}:logs"
        self.log_index = f"{prefix}:logindex"
        self.workers = f"{prefix}:workers"
        self.worker_status = f"{prefix}:workerstatus"
        self.worker_health = f"{prefix}:workerhealth"
        self.heartbeats = f"{prefix}:heartbeats"
        self.changes = f"{prefix}:changes"
        self.paused = f"{prefix}:paused"
        self.settings = f"{prefix}:settings"
        self.meta = f"{prefix}:meta"
        self.metrics = f"{prefix}:metrics"

    def job(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}"

    def status(self, code: int, queue: str) -> str:
        return f"{self.prefix}:status:{code}:{queue}"

    def by_status(self, code: int) -> str:
        return f"{self.prefix}:bystatus:{code}"

    def deps(self, job_id: str) -> str:
        return f"{self.prefix}:deps:{job_id}"

    def dependents(self, job_id: str) -> str:
        return f"{self.prefix}:dependents:{job_id}"

    def errors(self, job_id: str) -> str:
        return f"{self.prefix}:errors:{job_id}"

    def job_logs(self, job_id: str) -> str:
        return f"{self.prefix}:joblogs:{job_id}"

    def lock(self, name: str) -> str:
        return f"{self.prefix}:lock:{name}"

    def dead(self, dead_id: str) -> str:
        return f"{self.prefix}:dead:{dead_id}"


def namespace_tag(namespace: str | None) -> str:
    """``-`` for no namespace, else ``ns<byte length>=<namespace>``: unambiguous even when the
    namespace or the queue name that follows it contains ``:``."""
    if namespace is None:
        return "-"
    return f"ns{len(namespace.encode())}={namespace}"


def queue_key(namespace: str | None, queue: str) -> str:
    """The suffix of a (namespace, queue)'s claim keys; stored in the job hash as ``qk``."""
    return f"{namespace_tag(namespace)}:{queue}"


def priority_code(priority: int) -> str:
    """16 hex digits that sort (as bytes) from the highest priority to the lowest, for every
    64-bit priority: a priority level's member in the queue's level set."""
    return format(_INT64_MAX - priority, "016x")


def _check_int(job_id: str, name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"job {job_id}: {name} must be an int, got {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"job {job_id}: {name} must be between {low} and {high}, got {value}")


def _check_str(job_id: str, name: str, value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"job {job_id}: {name} must be a str, got {type(value).__name__}")


def check_new_job(job: object) -> NewJob:
    """Reject what the scripts could not store faithfully, before anything is sent."""
    if not isinstance(job, NewJob):
        raise TypeError(f"expected a NewJob, got {type(job).__name__}")
    if not isinstance(job.id, str) or not job.id:
        raise TypeError(f"a job id must be a non-empty str, got {job.id!r}")
    job_id = job.id
    if not isinstance(job.payload, bytes | bytearray | memoryview):
        raise TypeError(f"job {job_id}: payload must be bytes, got {type(job.payload).__name__}")
    _check_str(job_id, "queue", job.queue)
    _check_str(job_id, "task_name", job.task_name)
    _check_int(job_id, "priority", job.priority, _INT64_MIN, _INT64_MAX)
    for name in ("created_at", "scheduled_at", "max_retries"):
        _check_int(job_id, name, getattr(job, name), -MAX_SAFE_INTEGER, MAX_SAFE_INTEGER)
    for name in ("timeout_ms", "expires_at", "result_ttl_ms"):
        value = getattr(job, name)
        if value is not None:
            _check_int(job_id, name, value, -MAX_SAFE_INTEGER, MAX_SAFE_INTEGER)
    for name in ("unique_key", "metadata", "namespace"):
        value = getattr(job, name)
        if value is not None:
            _check_str(job_id, name, value)
    if isinstance(job.depends_on, str) or not all(isinstance(d, str) for d in job.depends_on):
        raise TypeError(f"job {job_id}: depends_on must be a tuple of job ids")
    if job_id in job.depends_on:
        raise DependencyError(f"job {job_id} cannot depend on itself")
    return job


def check_batch(batch: Sequence[NewJob]) -> None:
    """What the batch itself gets wrong: repeated ids or unique keys (nothing is stored)."""
    ids: set[str] = set()
    unique_keys: set[str] = set()
    for job in batch:
        if job.id in ids:
            raise StorageError(f"a job with id {job.id} appears twice in the batch")
        ids.add(job.id)
        if job.unique_key is not None:
            if job.unique_key in unique_keys:
                raise UniqueConflictError(
                    f"UNIQUE constraint failed: unique_key {job.unique_key} appears twice in"
                    " the batch"
                )
            unique_keys.add(job.unique_key)


def pack_fields(values: Sequence[bytes | None]) -> bytes:
    """Several values as one script argument (``unpack_fields`` in prelude.lua): their lengths
    as 4-byte big-endian signed integers (-1: absent), then the present values back to back.
    One argument per job instead of thirty: the client encodes each argument in Python."""
    lengths = [-1 if value is None else len(value) for value in values]
    header = _length_struct(len(values)).pack(*lengths)
    return header + b"".join(value for value in values if value is not None)


@cache
def _length_struct(count: int) -> struct.Struct:
    return struct.Struct(f">{count}i")


def _number(value: int | None) -> bytes | None:
    return None if value is None else b"%d" % value


def _text(value: str | None) -> bytes | None:
    return None if value is None else value.encode()


def job_arguments(job: NewJob) -> bytes:
    """``job`` packed for ``enqueue.lua``: its fields, then its dependency count and ids."""
    deps = [parent.encode() for parent in dict.fromkeys(job.depends_on)]
    return pack_fields(
        (
            job.id.encode(),
            job.queue.encode(),
            job.task_name.encode(),
            bytes(job.payload),
            b"%d" % job.priority,
            b"%d" % job.created_at,
            b"%d" % job.scheduled_at,
            b"%d" % job.max_retries,
            _number(job.timeout_ms),
            _text(job.unique_key),
            _text(job.metadata),
            _number(job.expires_at),
            _number(job.result_ttl_ms),
            _text(job.namespace),
            queue_key(job.namespace, job.queue).encode(),
            priority_code(job.priority).encode(),
            b"%d" % len(deps),
            pack_fields(deps),
        )
    )


def require_time(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int (ms since the epoch), got {value!r}")
    if abs(value) > MAX_SAFE_INTEGER:
        raise ValueError(f"{name} must be within ±2**53 ms, got {value}")
    return value


_EMPTY_DIGEST = result_digest(None).encode()
_FINISHABLE = frozenset(
    {JobStatus.COMPLETE, JobStatus.PENDING, JobStatus.DEAD, JobStatus.CANCELLED, JobStatus.FAILED}
)


def finish_arguments(finish: Finish) -> bytes:
    """One outcome packed for ``finish.lua`` (a DEAD one brings the id of its dead letter, one
    with a metric its member of the ``metrics`` set, a COMPLETE one the ``result_digest`` of
    its result, for its workflow node if it has one: Lua has no SHA-256); refuses outcomes
    that no transition allows."""
    if not isinstance(finish, Finish):
        raise TypeError(f"finish_many expects Finish records, got {type(finish).__name__}")
    status = finish.status
    if not isinstance(status, JobStatus) or status not in _FINISHABLE:
        raise ValueError(
            f"cannot finish job {finish.job_id} with status {status!r}: a finish moves a"
            " running job to pending, complete, failed, dead or cancelled"
        )
    if isinstance(finish.attempt, bool) or not isinstance(finish.attempt, int):
        raise TypeError(f"job {finish.job_id}: attempt must be an int, got {finish.attempt!r}")
    if not isinstance(finish.job_id, str):
        raise TypeError(f"job ids are str, got {finish.job_id!r}")
    value: bytes | None
    digest = None
    if status is JobStatus.COMPLETE:
        result = finish.result
        if result is not None and not isinstance(result, bytes | bytearray | memoryview):
            raise TypeError(f"job {finish.job_id}: result must be bytes, got {result!r}")
        value = None if result is None else bytes(result)
        digest = _EMPTY_DIGEST if value is None else result_digest(value).encode()
    else:
        error = finish.error
        if error is not None and not isinstance(error, str):
            raise TypeError(f"job {finish.job_id}: error must be a str, got {error!r}")
        value = _text(error)
    if not isinstance(finish.worker_id, str) or not finish.worker_id:
        raise TypeError(f"job {finish.job_id}: worker_id must be a non-empty str")
    retry_at = None if finish.retry_at is None else require_time("retry_at", finish.retry_at)
    dead_id = new_job_id().encode() if status is JobStatus.DEAD else None
    metric = finish.metric
    member = None
    if metric is not None:
        member = encode_metric(finish.job_id, finish.attempt, require_metric(finish.job_id, metric))
    return pack_fields(
        (
            finish.job_id.encode(),
            b"%d" % finish.attempt,
            b"%d" % status.code,
            value,
            _number(retry_at),
            dead_id,
            finish.worker_id.encode(),
            member,
            digest,
        )
    )


__all__ = [
    "MAX_SAFE_INTEGER",
    "Keys",
    "check_batch",
    "check_new_job",
    "check_prefix",
    "finish_arguments",
    "job_arguments",
    "namespace_tag",
    "pack_fields",
    "priority_code",
    "queue_key",
    "require_time",
]
