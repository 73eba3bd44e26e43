"""Redis prefixes as schema version 1 left them (before the ``ended`` and ``resultexpiry``
indexes), written key by key as the version-1 scripts wrote them, a job in every state to
write, and ways to compare a prefix's keys before and after a migration."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from taskito.job import JobStatus
from taskito.storage.redis.keys import priority_code
from tests.storage.factories import LEASE_MS

if TYPE_CHECKING:
    from redis import Redis
    from redis.client import Pipeline

BASE = 1_700_000_000_000  # the version-1 jobs finished long before any test runs
FINISHED = (JobStatus.COMPLETE, JobStatus.FAILED, JobStatus.DEAD, JobStatus.CANCELLED)


@dataclass(frozen=True)
class V1Job:
    id: str
    status: JobStatus
    completed_at: int | None = None
    result_ttl_ms: int | None = None
    queue: str = "q"


def _write_v1_job(pipe: Pipeline, prefix: str, job: V1Job, created_at: int) -> None:
    """``job`` as the version-1 scripts left it: enqueue's hash and indexes, then claim's and
    finish's fields and the finished-job rows version 1 kept (``done``, error rows, dead
    letters). Never ``ended`` or ``resultexpiry``."""
    p, code, qk, pe = prefix, job.status.code, f"-:{job.queue}", priority_code(0)
    fields: dict[Any, Any] = {
        "id": job.id, "queue": job.queue, "task_name": "tests.v1", "payload": b"()",
        "priority": 0, "created_at": created_at, "scheduled_at": created_at, "max_retries": 3,
        "qk": qk, "pe": pe, "status": code, "retry_count": 0, "attempt": 0,
        "cancel_requested": 0, "wait": 0,
    }  # fmt: skip
    if job.result_ttl_ms is not None:
        fields["result_ttl_ms"] = job.result_ttl_ms
    if job.status is JobStatus.PENDING:
        pipe.sadd(f"{p}:taskpending:tests.v1", job.id)
        pipe.zadd(f"{p}:ready:{qk}:{pe}", {job.id: created_at})
        pipe.zadd(f"{p}:levels:{qk}", {pe: 0})
    elif job.status is JobStatus.RUNNING:
        lease = created_at + LEASE_MS
        fields.update(attempt=1, worker_id="w1", started_at=created_at, lease_expires_at=lease)
        pipe.zadd(f"{p}:running", {job.id: lease})
    else:
        assert job.completed_at is not None
        fields.update(attempt=1, started_at=created_at, completed_at=job.completed_at)
        if job.status is JobStatus.COMPLETE:
            fields["result"] = b"42"
            pipe.zadd(f"{p}:done", {job.id: job.completed_at})
        else:
            fields["error"] = f"{job.status} by the old release"
        if job.status is JobStatus.DEAD:
            pipe.rpush(f"{p}:errors:{job.id}", f"1|0|{job.completed_at}|boom")
            member = f"{1:016d}dl-{job.id}"
            dead: dict[Any, Any] = {
                "id": f"dl-{job.id}",
                "original_job_id": job.id,
                "member": member,
            }
            pipe.hset(f"{p}:dead:dl-{job.id}", mapping=dead)
            pipe.zadd(f"{p}:deadindex", {member: job.completed_at})
    pipe.hset(f"{p}:job:{job.id}", mapping=fields)
    for index in ("created", f"status:{code}:{job.queue}", f"bystatus:{code}"):
        pipe.zadd(f"{p}:{index}", {job.id: created_at})
    pipe.sadd(f"{p}:queues", job.queue)
    pipe.sadd(f"{p}:nsqueues:-", job.queue)


def write_v1_prefix(client: Redis, prefix: str, jobs: list[V1Job]) -> None:
    """A prefix as version 1 left it: its meta hash and ``jobs``."""
    pipe = client.pipeline(transaction=False)
    pipe.hset(f"{prefix}:meta", "schema_version", 1)
    for n, job in enumerate(jobs):
        _write_v1_job(pipe, prefix, job, BASE - 10_000 + n)
    pipe.execute()


def dump(client: Redis, prefix: str) -> dict[bytes, object]:
    """Every key under ``prefix`` with its whole content, to compare before and after."""
    readers: dict[bytes, Callable[[bytes], object]] = {
        b"string": client.get,
        b"hash": client.hgetall,
        b"set": client.smembers,
        b"list": lambda key: client.lrange(key, 0, -1),
        b"zset": lambda key: client.zrange(key, 0, -1, withscores=True),
    }
    keys = client.scan_iter(match=f"{prefix}:*", count=1000)
    return {key: readers[cast(bytes, client.type(key))](key) for key in keys}


def scores_of(pairs: object) -> dict[str, int]:
    """A sorted set's content (``ZRANGE ... WITHSCORES``) as member -> integer score."""
    return {
        member.decode(): int(score) for member, score in cast("list[tuple[bytes, float]]", pairs)
    }


def scores(client: Redis, key: str) -> dict[str, int]:
    return scores_of(client.zrange(key, 0, -1, withscores=True))


def changed_keys(prefix: str, before: dict[bytes, object], after: dict[bytes, object]) -> set[str]:
    """The keys (after ``<prefix>:``) whose content differs between two dumps."""
    keys = before.keys() | after.keys()
    return {key.decode()[len(prefix) + 1 :] for key in keys if before.get(key) != after.get(key)}


EVERY_STATE = [
    V1Job("pending", JobStatus.PENDING),
    V1Job("pending-ttl", JobStatus.PENDING, result_ttl_ms=5),
    V1Job("running", JobStatus.RUNNING),
    V1Job("running-ttl", JobStatus.RUNNING, result_ttl_ms=5),
    V1Job("complete", JobStatus.COMPLETE, BASE + 10),
    V1Job("complete-ttl", JobStatus.COMPLETE, BASE + 11, 1_000),
    V1Job("failed", JobStatus.FAILED, BASE + 20, queue="other"),
    V1Job("failed-ttl", JobStatus.FAILED, BASE + 21, 2_000),
    V1Job("dead", JobStatus.DEAD, BASE + 30),
    V1Job("dead-ttl", JobStatus.DEAD, BASE + 31, 3_000),
    V1Job("cancelled", JobStatus.CANCELLED, BASE + 40),
    V1Job("cancelled-ttl", JobStatus.CANCELLED, BASE + 41, 4_000, queue="other"),
]
