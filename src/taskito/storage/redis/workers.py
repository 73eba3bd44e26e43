"""The worker registry of the Redis backend: a hash of static worker entries (JSON), a hash of
statuses and a sorted set of heartbeats, written together in MULTI transactions."""

from __future__ import annotations

from typing import cast

from taskito.storage.base import WorkerInfo
from taskito.storage.redis.connections import RedisConnection, redis
from taskito.storage.redis.keys import Keys
from taskito.storage.redis.records import encode_worker, worker_from_entry
from taskito.storage.worker_resources import encode_health


def register(connection: RedisConnection, keys: Keys, worker: WorkerInfo) -> None:
    """Add ``worker``, or replace the entry of the same id."""
    if not isinstance(worker, WorkerInfo):
        raise TypeError(f"expected a WorkerInfo, got {type(worker).__name__}")
    entry = encode_worker(worker)

    def write(client: redis.Redis) -> None:
        pipe = client.pipeline(transaction=True)
        pipe.hset(keys.workers, worker.worker_id, entry)
        pipe.hset(keys.worker_status, worker.worker_id, worker.status)
        if worker.resource_health is None:
            pipe.hdel(keys.worker_health, worker.worker_id)
        else:
            pipe.hset(keys.worker_health, worker.worker_id, encode_health(worker.resource_health))
        pipe.zadd(keys.heartbeats, {worker.worker_id: worker.last_heartbeat})
        pipe.execute()

    connection.call(write, idempotent=True)


def unregister(connection: RedisConnection, keys: Keys, worker_id: str) -> None:
    def write(client: redis.Redis) -> None:
        pipe = client.pipeline(transaction=True)
        pipe.hdel(keys.workers, worker_id)
        pipe.hdel(keys.worker_status, worker_id)
        pipe.hdel(keys.worker_health, worker_id)
        pipe.zrem(keys.heartbeats, worker_id)
        pipe.execute()

    connection.call(write, idempotent=True)


def list_all(connection: RedisConnection, keys: Keys) -> list[WorkerInfo]:
    """Every registered worker, by start time then id."""

    def read(client: redis.Redis) -> list[WorkerInfo]:
        pipe = client.pipeline(transaction=True)
        pipe.hgetall(keys.workers)
        pipe.hgetall(keys.worker_status)
        pipe.zrange(keys.heartbeats, 0, -1, withscores=True)
        pipe.hgetall(keys.worker_health)
        entries, statuses, heartbeats, health = pipe.execute()
        beats = {member: int(score) for member, score in heartbeats}
        return [
            worker_from_entry(
                worker_id.decode(),
                entry,
                statuses.get(worker_id, b"").decode(),
                beats.get(worker_id, 0),
                health.get(worker_id),
            )
            for worker_id, entry in cast("dict[bytes, bytes]", entries).items()
        ]

    workers = connection.call(read, idempotent=True)
    return sorted(workers, key=lambda worker: (worker.started_at, worker.worker_id))


__all__ = ["list_all", "register", "unregister"]
