"""The Redis indexes stay consistent with the job hashes: random workloads (enqueues with
dependencies, delays, expiry and unique keys; claims, finishes, deferrals, cancels, purges,
archiving, result expiry) are checked against every index, and each checker is shown to
report a stray entry."""

from __future__ import annotations

import contextlib
import random
from typing import TYPE_CHECKING

import pytest

from taskito.exceptions import DependencyError
from taskito.ids import new_job_id
from taskito.job import JobStatus, now_ms
from taskito.storage.base import Finish, JobFilter
from taskito.storage.control import Deferral
from tests.storage.factories import LEASE_MS, make_job
from tests.storage.redis_support import (  # noqa: F401  (fixtures)
    OpenRedis,
    control_index_problems,
    fixture_client,
    fixture_open_redis,
    fixture_redis_url,
)

if TYPE_CHECKING:
    from redis import Redis

redis_py = pytest.importorskip("redis")
from taskito.storage.redis import RedisStorage  # noqa: E402  (needs the redis extra)


def _index_problems(client: redis_py.Redis, prefix: str) -> list[str]:
    """Every way the indexes disagree with the job hashes (empty when consistent)."""
    p = prefix.encode()
    problems: list[str] = []
    jobs = {key[len(p) + 5 :]: client.hgetall(key) for key in client.scan_iter(match=p + b":job:*")}
    members = {key: set(client.zrange(key, 0, -1)) for key in client.scan_iter(match=p + b":*")
               if client.type(key) == b"zset"}  # fmt: skip
    running = dict(client.zrange(p + b":running", 0, -1, withscores=True))
    for job_id, job in jobs.items():
        status, queue, qk, pe = job[b"status"], job[b"queue"], job[b"qk"], job[b"pe"]
        for code in b"012345":
            for key in (p + b":status:%c:" % code + queue, p + b":bystatus:%c" % code):
                if (job_id in members.get(key, set())) != (code == status[0]):
                    problems.append(f"{job_id!r} status {status!r} vs {key!r}")
        ready = p + b":ready:" + qk + b":" + pe
        claimable = status == b"0" and job.get(b"wait", b"0") == b"0"
        if (job_id in members.get(ready, set())) != claimable:
            problems.append(f"{job_id!r} claimable={claimable} vs its ready set")
        if claimable and pe not in members.get(p + b":levels:" + qk, set()):
            problems.append(f"{job_id!r} has no level entry")
        if (job_id in running) != (status == b"1"):
            problems.append(f"{job_id!r} status {status!r} vs the running set")
        elif status == b"1" and running[job_id] != int(job[b"lease_expires_at"]):
            problems.append(f"{job_id!r} lease differs from its running score")
        in_expiry = job_id in members.get(p + b":expiry:" + qk, set())
        if in_expiry != (status == b"0" and b"expires_at" in job):
            problems.append(f"{job_id!r} status {status!r} vs the expiry set")
        if (job_id in members.get(p + b":done", set())) != (status == b"2"):
            problems.append(f"{job_id!r} status {status!r} vs the done set")
    for key, found in members.items():
        if key.startswith(p + b":levels:"):
            qk = key[len(p) + 8 :]
            problems += [f"empty level {key!r} {pe!r}" for pe in found
                         if not client.exists(p + b":ready:" + qk + b":" + pe)]  # fmt: skip
    for job_id in client.hkeys(p + b":cancels"):
        if jobs.get(job_id, {}).get(b"status") != b"1":
            problems.append(f"cancel request for {job_id!r}, which is not running")
    for unique_key, holder in client.hgetall(p + b":unique").items():
        job = jobs.get(holder, {})
        if job.get(b"status") not in (b"0", b"1") or job.get(b"unique_key") != unique_key:
            problems.append(f"unique key {unique_key!r} held by inactive {holder!r}")
    return problems


def _random_step(storage: RedisStorage, rng: random.Random, ids: list[str], now: int) -> None:
    """One random operation: enqueue (with dependencies, delays, expiry, unique keys), claim
    and finish, cancel, requeue expired leases, purge, retry a dead letter."""
    action = rng.random()
    if action < 0.35:
        job = make_job(
            queue=rng.choice(["a", "b"]),
            namespace=rng.choice([None, "n"]),
            priority=rng.randint(-2, 2),
            scheduled_at=now + rng.choice([0, 0, 50_000]),
            expires_at=rng.choice([None, now + 10, now + 100_000]),
            unique_key=rng.choice([None, None, "u1", "u2"]),
            depends_on=tuple(rng.sample(ids, k=min(len(ids), rng.randint(0, 2)))),
            max_retries=rng.randint(0, 2),
        )
        with contextlib.suppress(DependencyError):  # a dependency already dead or cancelled
            ids.append(storage.enqueue(job).id)
    elif action < 0.55:
        at = now + rng.choice([0, 60_000])
        queues = rng.choice([None, ["a"]])
        claimed = storage.claim("w", queues, rng.choice([None, "n"]), 5, at, 1_000)
        outcomes = [JobStatus.COMPLETE, JobStatus.PENDING, JobStatus.DEAD, JobStatus.CANCELLED]
        finishes = [
            Finish(
                job.id,
                job.attempt,
                rng.choice(outcomes),
                error="e",
                retry_at=at,
                worker_id=job.worker_id,
            )
            for job in claimed
            if rng.random() < 0.7
        ]
        storage.finish_many(finishes, at)
        for job in claimed:
            if rng.random() < 0.3:
                storage.request_cancel(job.id, force=rng.random() < 0.5)
    elif action < 0.65 and ids:
        storage.cancel_pending(rng.choice(ids), now)
    elif action < 0.72:
        storage.requeue_expired(now + 60_000 + 2_000, max_rescues=len(ids) % 2)
    elif action < 0.76:
        storage.purge_queue(rng.choice(["a", "b"]), now)
    elif action < 0.8 and (letters := storage.dead_letters(5, 0)):
        storage.retry_dead(rng.choice(letters).id, new_job_id(), now)
    elif action < 0.83:
        storage.purge_completed(now + 100_000)


def test_a_random_workload_keeps_every_index_consistent(
    open_redis: OpenRedis, redis_url: str
) -> None:
    rng = random.Random(20240605)
    storage = open_redis()
    now = now_ms()
    ids: list[str] = []
    problems: list[str] = []
    seen_statuses: set[JobStatus] = set()
    client = redis_py.Redis.from_url(redis_url)
    try:
        for step in range(1, 401):
            _random_step(storage, rng, ids, now)
            seen_statuses |= {status for status, n in storage.count_jobs().items() if n}
            if step % 50 == 0:  # mid-flight states too, with jobs running and retrying
                problems += _index_problems(client, storage.prefix)
        assert problems == []
        assert _index_problems(client, storage.prefix) == []
        assert seen_statuses >= set(JobStatus) - {JobStatus.FAILED}, seen_statuses
        counts = storage.count_jobs()
        assert sum(counts.values()) == len(storage.list_jobs(JobFilter(), 10_000, 0))
        # The checker is not vacuous: one stray index entry is reported.
        (pending,) = storage.list_jobs(JobFilter(status=JobStatus.PENDING), 1, 0)
        client.zrem(f"{storage.prefix}:bystatus:0", pending.id)
        assert len(_index_problems(client, storage.prefix)) == 1
    finally:
        client.close()


def _random_control_step(storage: RedisStorage, rng: random.Random, now: int) -> None:
    """One random operation among those that make jobs end, defer, archive or expire."""
    action = rng.random()
    if action < 0.4:
        ttl = rng.choice([None, 1, 50_000])
        storage.enqueue(make_job(queue=rng.choice(["a", "b"]), result_ttl_ms=ttl, created_at=now))
    elif action < 0.7:
        claimed = storage.claim("w", None, None, 4, now, LEASE_MS)
        statuses = [JobStatus.COMPLETE, JobStatus.PENDING, JobStatus.DEAD, JobStatus.CANCELLED]
        finishes = [
            Finish(
                job.id,
                job.attempt,
                rng.choice(statuses),
                error="e",
                retry_at=now,
                worker_id=job.worker_id,
            )
            for job in claimed[: len(claimed) // 2 + 1]
        ]
        storage.finish_many(finishes, now + rng.randint(0, 100))
        rest = claimed[len(finishes) :]
        storage.defer_many(
            [Deferral(job.id, job.attempt, now, worker_id=job.worker_id) for job in rest], now
        )
    elif action < 0.78:
        storage.purge_queue(rng.choice(["a", "b"]), now)
    elif action < 0.84:
        storage.requeue_expired(now + LEASE_MS * 2)
    elif action < 0.9:
        storage.archive_jobs(now + rng.randint(0, 100))
    elif action < 0.95:
        storage.purge_expired_results(now + rng.choice([1, 60_000]))
    else:
        storage.purge_completed(now + rng.randint(0, 100))


def test_a_random_workload_keeps_the_archive_and_expiry_indexes_consistent(
    open_redis: OpenRedis, client: Redis
) -> None:
    rng = random.Random(20240611)
    storage = open_redis()
    now = now_ms()
    problems: list[str] = []
    most_ended = most_expiring = 0
    for step in range(1, 301):
        _random_control_step(storage, rng, now)
        if step % 25 == 0:
            problems += control_index_problems(client, storage.prefix)
            most_ended = max(most_ended, client.zcard(f"{storage.prefix}:ended"))
            most_expiring = max(most_expiring, client.zcard(f"{storage.prefix}:resultexpiry"))
    assert problems == []
    # The workload reached the states the checker looks at.
    assert storage.list_archived(1, 0) and most_ended > 0 and most_expiring > 0
    # The checker is not vacuous: a stray entry is reported.
    client.zadd(f"{storage.prefix}:resultexpiry", {"no-such-job": 1})
    assert control_index_problems(client, storage.prefix) == ["stale expiry b'no-such-job'"]
