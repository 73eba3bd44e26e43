"""Opening a Redis prefix written by schema version 1 (before the ``ended`` and
``resultexpiry`` indexes) migrates it: every finished job is indexed as the version-2 scripts
would have indexed it and nothing else changes, in short steps that processes opening the
prefix at once share, and a prefix of an unknown or newer schema is still refused untouched.

The version-1 prefixes are written key by key, as the version-1 scripts wrote them (by
``redis_v1_prefix.py``)."""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, cast

import pytest

from taskito.exceptions import SchemaVersionError
from taskito.job import JobStatus
from taskito.storage.base import Finish
from tests.storage.factories import start_at
from tests.storage.redis_support import (  # noqa: F401  (fixtures)
    control_index_problems,
    delete_prefixes,
    fixture_client,
    fixture_redis_url,
    run_released_together,
)
from tests.storage.redis_v1_prefix import (
    BASE,
    EVERY_STATE,
    FINISHED,
    V1Job,
    changed_keys,
    dump,
    scores,
    scores_of,
    write_v1_prefix,
)

if TYPE_CHECKING:
    from redis import Redis

redis_py = pytest.importorskip("redis")
from taskito.storage.redis import RedisStorage  # noqa: E402  (needs the redis extra)
from taskito.storage.redis.connections import RedisConnection  # noqa: E402

OpenStorage = Callable[[], RedisStorage]


@pytest.fixture
def prefix(client: Redis) -> Iterator[str]:
    """A fresh prefix; its keys are deleted after the test."""
    name = f"t{uuid.uuid4().hex}"
    yield name
    delete_prefixes(client, [name])


@pytest.fixture
def open_storage(redis_url: str, prefix: str) -> Iterator[OpenStorage]:
    """Open RedisStorage objects on the test's prefix; all closed after the test."""
    opened: list[RedisStorage] = []

    def open_one() -> RedisStorage:
        storage = RedisStorage(redis_url, prefix=prefix)
        opened.append(storage)
        return storage

    yield open_one
    for storage in opened:
        storage.close()


# --- one process ---------------------------------------------------------------------------


def test_opening_a_version_1_prefix_indexes_its_finished_jobs_and_changes_nothing_else(
    client: Redis, prefix: str, open_storage: OpenStorage
) -> None:
    write_v1_prefix(client, prefix, EVERY_STATE)
    before = dump(client, prefix)
    assert not client.exists(f"{prefix}:ended", f"{prefix}:resultexpiry")
    storage = open_storage()
    after = dump(client, prefix)
    assert changed_keys(prefix, before, after) == {"ended", "resultexpiry", "meta"}
    assert after[f"{prefix}:meta".encode()] == {b"schema_version": b"2"}
    ended = {job.id: job.completed_at for job in EVERY_STATE if job.status in FINISHED[1:]}
    assert scores(client, f"{prefix}:ended") == ended
    expiring = {
        job.id: job.completed_at + job.result_ttl_ms
        for job in EVERY_STATE
        if job.completed_at is not None and job.result_ttl_ms is not None
    }
    assert scores(client, f"{prefix}:resultexpiry") == expiring
    assert control_index_problems(client, prefix) == []
    for job in EVERY_STATE:
        record = storage.get_job(job.id)
        assert record is not None and record.status is job.status, job


def test_archive_and_expiry_find_the_migrated_jobs_and_only_those(
    client: Redis, prefix: str, open_storage: OpenStorage
) -> None:
    write_v1_prefix(client, prefix, EVERY_STATE)
    storage = open_storage()
    # complete-ttl expires at BASE + 1011, failed-ttl at BASE + 2021, the others later.
    assert storage.purge_expired_results(BASE + 2_020) == 1
    assert storage.get_job("complete-ttl") is None
    assert storage.purge_expired_results(BASE + 10**6) == 3
    assert storage.archive_jobs(BASE + 10**6) == 4
    archived = {record.id for record in storage.list_archived(100, 0)}
    assert archived == {"complete", "failed", "dead", "cancelled"}
    left = set(scores(client, f"{prefix}:created"))
    assert left == {"pending", "pending-ttl", "running", "running-ttl"}
    assert control_index_problems(client, prefix) == []


def test_a_fresh_prefix_starts_at_version_2_without_a_migration(
    client: Redis, prefix: str, open_storage: OpenStorage
) -> None:
    open_storage()
    assert client.hgetall(f"{prefix}:meta") == {b"schema_version": b"2"}


@pytest.mark.parametrize(
    ("recorded", "message"),
    [("3", "newer"), ("99", "newer"), ("0", "no taskito writes"), ("abc", "no taskito writes")],
)
def test_a_prefix_of_a_newer_or_unknown_schema_is_refused_untouched(
    client: Redis, prefix: str, redis_url: str, recorded: str, message: str
) -> None:
    write_v1_prefix(client, prefix, EVERY_STATE)
    client.hset(f"{prefix}:meta", "schema_version", recorded)
    before = dump(client, prefix)
    with pytest.raises(SchemaVersionError, match=message) as raised:
        RedisStorage(redis_url, prefix=prefix)
    assert prefix in str(raised.value) and recorded in str(raised.value)
    assert dump(client, prefix) == before


def test_running_the_migration_again_on_a_prefix_in_use_only_adds_what_is_missing(
    client: Redis, prefix: str, open_storage: OpenStorage
) -> None:
    """The remedy docs/redis.md gives for jobs an old process finished after the upgrade."""
    write_v1_prefix(client, prefix, EVERY_STATE)
    storage = open_storage()
    # Version-2 work meanwhile: a job dies (indexed by finish), older ones are archived.
    job = start_at(storage, BASE, result_ttl_ms=10**6)
    assert storage.finish_many(
        [Finish(job.id, job.attempt, JobStatus.DEAD, error="x", worker_id=job.worker_id)], BASE + 1
    )
    assert storage.archive_jobs(BASE + 25) == 5  # it, complete(-ttl), failed(-ttl)
    # An old process still running after the upgrade finishes one more job, unindexed.
    # Then the remedy: version 1 recorded again by hand, and the prefix opened.
    write_v1_prefix(client, prefix, [V1Job("late", JobStatus.FAILED, BASE + 50, 100)])
    before = dump(client, prefix)
    open_storage()
    after = dump(client, prefix)
    assert changed_keys(prefix, before, after) == {"ended", "resultexpiry", "meta"}
    for key, score in (("ended", BASE + 50), ("resultexpiry", BASE + 150)):
        was = scores_of(before[f"{prefix}:{key}".encode()])
        assert scores(client, f"{prefix}:{key}") == {**was, "late": score}
    assert control_index_problems(client, prefix) == []


# --- in steps, shared ----------------------------------------------------------------------


def _many_finished(count: int) -> list[V1Job]:
    """``count`` finished jobs: enough per status that ZSCAN walks their sets in pages."""
    return [
        V1Job(f"j{n}", FINISHED[n % 4], BASE + n, 500 if n % 3 == 0 else None) for n in range(count)
    ]


def _connect(url: str) -> RedisConnection:
    return RedisConnection(
        url, connect_timeout_s=3, socket_timeout_s=10, health_check_interval_s=15
    )


def _step(connection: RedisConnection, prefix: str, batch: int) -> bytes:
    """One migration step, as ``RedisStorage`` runs it when it opens the prefix."""
    return cast(bytes, connection.run_script("migrate_v1", (prefix, "test", batch)))


def test_the_migration_runs_in_short_steps_that_openers_share_and_resume(
    client: Redis, prefix: str, redis_url: str, open_storage: OpenStorage
) -> None:
    jobs = _many_finished(2_000)
    write_v1_prefix(client, prefix, jobs)
    first, second = _connect(redis_url), _connect(redis_url)
    try:
        indexed, largest_step = 0, 0
        # Two openers take turns (30 steps of about 25 jobs: far from done), then stop.
        for connection in [first, second] * 15:
            assert _step(connection, prefix, 25) == b"1"
            now_indexed = client.zcard(f"{prefix}:ended") + client.zcard(f"{prefix}:resultexpiry")
            largest_step = max(largest_step, now_indexed - indexed)
            indexed = now_indexed
    finally:
        first.close()
        second.close()
    assert client.hget(f"{prefix}:meta", "schema_version") == b"1"  # not done: not version 2
    assert client.hexists(f"{prefix}:meta", "migration_cursor")
    assert 0 < largest_step <= 4 * 25 * 2  # about 25 jobs a step, two index entries each
    open_storage()  # a later opener goes on from where the walk stands
    assert client.hgetall(f"{prefix}:meta") == {b"schema_version": b"2"}
    ended = sum(job.status is not JobStatus.COMPLETE for job in jobs)
    assert client.zcard(f"{prefix}:ended") == ended
    assert client.zcard(f"{prefix}:resultexpiry") == sum(
        job.result_ttl_ms is not None for job in jobs
    )
    assert control_index_problems(client, prefix) == []


_OPENER = """
import json, sys
from taskito.storage.redis import schema as redis_schema
from taskito.storage.redis import RedisStorage
from taskito.storage.redis.connections import RedisConnection

redis_schema.MIGRATION_BATCH = 5  # many short steps, so the two processes overlap
steps = []
run_script = RedisConnection.run_script

def counting(self, name, args, *, idempotent=False):
    reply = run_script(self, name, args, idempotent=idempotent)
    if name == "migrate_v1":
        steps.append(reply)
        if len(steps) == 1:  # hold on until the other process has taken a step too
            print("stepped", flush=True)
            sys.stdin.readline()
    return reply

RedisConnection.run_script = counting
print("ready", flush=True)
sys.stdin.readline()
storage = RedisStorage({url!r}, prefix={prefix!r})
storage.close()
print(json.dumps(len(steps)))
"""


def _open_in_processes(url: str, prefix: str, count: int) -> list[int]:
    """Open the prefix in ``count`` interpreters released together and held after their first
    migration step until every one has taken it (so their steps surely interleave); return
    each one's number of migration steps."""
    source = textwrap.dedent(_OPENER.format(url=url, prefix=prefix))
    return run_released_together(source, count, (("ready", "go"), ("stepped", "continue")))


def test_two_processes_opening_a_version_1_prefix_at_once_both_succeed(
    client: Redis, prefix: str, redis_url: str
) -> None:
    jobs = _many_finished(1_000) + EVERY_STATE
    write_v1_prefix(client, prefix, jobs)
    before = dump(client, prefix)
    steps = _open_in_processes(redis_url, prefix, 2)
    assert all(count >= 1 for count in steps), steps
    after = dump(client, prefix)
    assert changed_keys(prefix, before, after) == {"ended", "resultexpiry", "meta"}
    assert after[f"{prefix}:meta".encode()] == {b"schema_version": b"2"}
    ended = {job.id for job in jobs if job.status in FINISHED[1:]}
    assert set(scores(client, f"{prefix}:ended")) == ended
    assert control_index_problems(client, prefix) == []
