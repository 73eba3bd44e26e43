"""What only the Redis backend promises about prefixes: two prefixes never meet, every key a
storage writes lives under its prefix, a bad prefix is refused, and so is a prefix written by a
newer taskito."""

from __future__ import annotations

import re
import uuid

import pytest

from taskito.exceptions import SchemaVersionError
from taskito.ids import new_job_id
from taskito.job import JobStatus, now_ms
from taskito.storage.base import Finish, JobFilter
from tests.storage.factories import LEASE_MS, claim_all, make_job, make_worker, start_job
from tests.storage.redis_support import (  # noqa: F401  (fixtures)
    OpenRedis,
    fixture_client,
    fixture_open_redis,
    fixture_redis_url,
)

redis_py = pytest.importorskip("redis")
from taskito.storage.redis import RedisStorage  # noqa: E402  (needs the redis extra)

_OTHER_TEST_PREFIX = re.compile(rb"^t[0-9a-f]{32}:")


def test_two_prefixes_never_see_each_other(open_redis: OpenRedis) -> None:
    one, two = open_redis(), open_redis()
    parent = one.enqueue(make_job(unique_key="shared-key", queue="q"))
    one.enqueue(make_job(depends_on=(parent.id,), queue="q"))
    doomed = start_job(one, max_retries=0)
    assert one.finish_many(
        [Finish(doomed.id, doomed.attempt, JobStatus.DEAD, error="x", worker_id=doomed.worker_id)],
        1,
    )
    one.add_log(parent.id, "t", "info", "hello", None, now_ms())
    one.register_worker(make_worker("w-one"))
    two.wait_for_change(0)

    assert two.get_job(parent.id) is None
    assert two.count_jobs() == dict.fromkeys(JobStatus, 0)
    assert two.count_jobs_by_queue() == {}
    assert two.list_jobs(JobFilter(), 100, 0) == []
    assert claim_all(two) == []
    assert two.dead_letters(10, 0) == [] and two.list_workers() == []
    assert two.query_logs(None, None, 0, 10) == [] and two.dependents(parent.id) == []
    one.enqueue(make_job())
    assert two.wait_for_change(0.2) is False  # one's writes are not two's changes
    assert two.enqueue(make_job(unique_key="shared-key")).id != parent.id
    assert one.count_jobs()[JobStatus.PENDING] == 3


def test_every_key_lives_under_the_prefix(open_redis: OpenRedis, redis_url: str) -> None:
    client = redis_py.Redis.from_url(redis_url)
    try:
        before = set(client.scan_iter(count=1000))
        prefix = f"keys-{uuid.uuid4().hex}"
        storage = open_redis(prefix)
        _exercise_every_operation(storage)
        after = set(client.scan_iter(count=1000))
    finally:
        client.close()
    created = {key for key in after - before if not _OTHER_TEST_PREFIX.match(key)}
    strays = sorted(key for key in created if not key.startswith(f"{prefix}:".encode()))
    assert strays == []
    families = {key.split(b":")[1] for key in created}
    assert {b"job", b"created", b"status", b"bystatus", b"dead", b"logs", b"workers"} <= families


def _exercise_every_operation(storage: RedisStorage) -> None:
    now = now_ms()
    parent = storage.enqueue(make_job(queue="a", unique_key="u", expires_at=now + 60_000))
    storage.enqueue(make_job(queue="a", depends_on=(parent.id,), namespace="ns"))
    storage.enqueue_many([make_job(queue="b", scheduled_at=now + 60_000) for _ in range(3)])
    running = claim_all(storage, limit=1)
    storage.request_cancel(running[0].id, force=True)
    storage.extend_leases("worker-1", [running[0].id], now_ms(), LEASE_MS)
    storage.finish_many(
        [Finish(running[0].id, 1, JobStatus.COMPLETE, b"r", worker_id=running[0].worker_id)],
        now_ms(),
    )
    for _ in range(2):
        dead = start_job(storage, max_retries=0)
        storage.finish_many(
            [Finish(dead.id, 1, JobStatus.DEAD, error="e", worker_id=dead.worker_id)], now_ms()
        )
    storage.retry_dead(storage.dead_letters(1, 0)[0].id, new_job_id(), now_ms())
    lost = start_job(storage, max_retries=2)
    assert lost.lease_expires_at is not None
    storage.requeue_expired(lost.lease_expires_at + 1)
    storage.update_progress(parent.id, 50)
    storage.add_log("some-job", "t", "result", "partial", '{"x": 1}', now_ms())
    storage.register_worker(make_worker("w1"))
    storage.heartbeat("w1", "active", now_ms())
    storage.purge_queue("b", now_ms())
    storage.revoke_task("tests.add", now_ms())
    storage.purge_completed(now_ms() + 1)
    storage.cancel_pending(storage.enqueue(make_job()).id, now_ms())
    storage.count_jobs_by_queue()
    storage.list_jobs(JobFilter(task_name="tests.add"), 10, 0)
    storage.query_logs("t", None, 0, 10)
    storage.wait_for_change(0)


@pytest.mark.parametrize("prefix", ["", "a:b", "has space", "x" * 65, "{tag}", None])
def test_a_bad_prefix_is_refused(redis_url: str, prefix: object) -> None:
    with pytest.raises(ValueError, match="prefix"):
        RedisStorage(redis_url, prefix=prefix)  # type: ignore[arg-type]


def test_a_prefix_written_by_a_newer_taskito_is_refused(
    open_redis: OpenRedis, redis_url: str
) -> None:
    prefix = f"t{uuid.uuid4().hex}"
    open_redis(prefix).close()
    client = redis_py.Redis.from_url(redis_url)
    try:
        client.hset(f"{prefix}:meta", "schema_version", 99)
    finally:
        client.close()
    with pytest.raises(SchemaVersionError, match="newer"):
        open_redis(prefix)
