"""What only the Redis backend promises about flow control: every new key under the prefix,
each script file registered with its libraries, resume waking other storage objects, what the
scripts decide where the contract is silent (cancel requests kept over a deferral, replays of
held or archived jobs), lock keys that clean themselves up, and values the scripts could not
hold exactly refused. Processes racing for slots are in ``test_redis_processes.py``, the
archive and expiry indexes under random workloads in ``test_redis_indexes.py``."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from taskito.job import JobStatus, now_ms
from taskito.storage.base import Finish
from taskito.storage.control import BreakerConfig, Deferral
from tests.storage.factories import claim_all, make_job, start_job
from tests.storage.redis_support import (  # noqa: F401  (fixtures)
    OpenRedis,
    fixture_client,
    fixture_redis_url,
    make_schedule,
    open_storages,
)

if TYPE_CHECKING:
    from redis import Redis

redis_py = pytest.importorskip("redis")
from taskito.storage.redis import RedisStorage  # noqa: E402  (needs the redis extra)

# Keys of tests running meanwhile on the same database (each under a prefix of its own).
_OTHER_TEST_PREFIX = re.compile(rb"^(t|keys-|control-)[0-9a-f]{32}:")
CONFIG = BreakerConfig(
    threshold=2, window_ms=10_000, cooldown_ms=1_000, half_open_probes=2, half_open_success_rate=0.5
)


@pytest.fixture
def open_redis(redis_url: str, client: Redis) -> Iterator[OpenRedis]:
    """Open RedisStorage objects on one fresh prefix (or the one given); all closed and their
    keys deleted after the test. (Unlike ``redis_support``'s, whose every call has a prefix of
    its own: the wake-up test opens two storages on one prefix.)"""
    yield from open_storages(redis_url, client, one_prefix=f"t{uuid.uuid4().hex}")


# --- keys -------------------------------------------------------------------------------------


def test_every_flow_control_key_lives_under_the_prefix(
    open_redis: OpenRedis, client: Redis
) -> None:
    prefix = f"control-{uuid.uuid4().hex}"
    storage = open_redis(prefix)
    before = set(client.scan_iter(count=1000))
    _exercise_every_control_operation(storage)
    created = set(client.scan_iter(count=1000)) - before
    mine = {key for key in created if key.startswith(f"{prefix}:".encode())}
    strays = sorted(key for key in created - mine if not _OTHER_TEST_PREFIX.match(key))
    assert strays == []
    families = {key.split(b":")[1] for key in mine}
    assert {
        b"paused", b"rates", b"breaker", b"breakers", b"periodic", b"periodics", b"periodicdue",
        b"lock", b"archive", b"archived", b"replay", b"replays", b"ended", b"resultexpiry",
        b"settings",
    } <= families  # fmt: skip


def _exercise_every_control_operation(storage: RedisStorage) -> None:
    now = now_ms()
    storage.set_queue_paused("held", True, now)
    storage.take_rate_slot("task:a", 1_000, now)
    storage.breaker_admit("tests.add", CONFIG, now)
    storage.breaker_record("tests.add", CONFIG, False, now)
    storage.register_periodic(make_schedule("tick", now))
    storage.fire_periodic("tick", now, now + 60_000, make_job(queue="periodic"))
    storage.acquire_lock("report", "owner", 10_000)
    storage.set_setting("theme", "dark", now)
    deferred = start_job(storage)
    storage.defer_many(
        [Deferral(deferred.id, deferred.attempt, now - 1, worker_id=deferred.worker_id)], now
    )
    storage.running_ids("tests.add", None)
    dead = start_job(storage, max_retries=0, result_ttl_ms=10**9)
    storage.finish_many(
        [Finish(dead.id, dead.attempt, JobStatus.DEAD, error="x", worker_id=dead.worker_id)], now
    )
    storage.enqueue_replay(make_job(queue="replays"), dead.id, now)
    storage.replay_history(dead.id)
    cancelled = storage.enqueue(make_job(queue="gone", result_ttl_ms=1))
    storage.cancel_pending(cancelled.id, now)
    storage.purge_expired_results(now + 1)
    storage.archive_jobs(now + 1)
    storage.list_archived(10, 0)
    kept = storage.enqueue(make_job(queue="kept", result_ttl_ms=10**9))
    storage.cancel_pending(kept.id, now + 2)


def test_every_script_file_is_registered_with_its_libraries() -> None:
    import importlib.resources

    from taskito.storage.redis.connections import SCRIPT_NAMES, script_source

    folder = importlib.resources.files("taskito.storage.redis").joinpath("lua")
    files = {entry.name[:-4] for entry in folder.iterdir() if entry.name.endswith(".lua")}
    scripts = {name for name in files if name != "prelude" and not name.startswith("lib_")}
    assert scripts == set(SCRIPT_NAMES)
    for name in ("enqueue", "fire_periodic", "enqueue_replay"):
        assert "local function insert_new_jobs" in script_source(name)
    assert "local function insert_new_jobs" not in script_source("claim")


# --- wake-ups -----------------------------------------------------------------------------------


def test_resuming_a_queue_wakes_waiters_in_other_storage_objects(open_redis: OpenRedis) -> None:
    one, two = open_redis(), open_redis()
    job = one.enqueue(make_job(queue="emails"))
    assert one.set_queue_paused("emails", True, now_ms())
    two.wait_for_change(0)  # subscribe, and forget what came before
    assert two.wait_for_change(0.2) is False  # a pause frees no work: nobody is woken
    assert one.set_queue_paused("emails", False, now_ms())
    assert two.wait_for_change(5) is True
    assert [record.id for record in claim_all(two)] == [job.id]


# --- what the Redis scripts decide where the contract is silent ---------------------------------


def test_a_deferred_job_keeps_its_cancel_request_for_the_next_attempt(
    open_redis: OpenRedis,
) -> None:
    storage = open_redis()
    job = start_job(storage)
    assert storage.request_cancel(job.id, force=True)
    now = now_ms()
    assert storage.defer_many(
        [Deferral(job.id, job.attempt, now, worker_id=job.worker_id)], now
    ) == [True]
    assert storage.cancel_requests([job.id]) == {}
    (again,) = claim_all(storage, now=now)
    assert again.cancel_requested is True
    assert storage.cancel_requests([job.id]) == {job.id: True}


def test_a_replay_whose_unique_key_is_held_records_the_holder(open_redis: OpenRedis) -> None:
    storage = open_redis()
    original = start_job(storage, max_retries=0)
    storage.finish_many(
        [Finish(original.id, 1, JobStatus.DEAD, error="boom", worker_id=original.worker_id)],
        now_ms(),
    )
    holder = storage.enqueue(make_job(unique_key="only-one"))
    record = storage.enqueue_replay(make_job(unique_key="only-one"), original.id, now_ms())
    assert record.id == holder.id
    (entry,) = storage.replay_history(original.id)
    assert (entry.replay_job_id, entry.original_error) == (holder.id, "boom")


def test_a_replay_of_an_archived_job_reads_the_archived_error(open_redis: OpenRedis) -> None:
    storage = open_redis()
    original = start_job(storage, max_retries=0)
    done_at = now_ms()
    storage.finish_many(
        [Finish(original.id, 1, JobStatus.DEAD, error="boom", worker_id=original.worker_id)],
        done_at,
    )
    assert storage.archive_jobs(done_at + 1) == 1
    storage.enqueue_replay(make_job(), original.id, now_ms())
    assert [entry.original_error for entry in storage.replay_history(original.id)] == ["boom"]


def test_a_lock_key_expires_by_itself_long_after_the_lock(
    open_redis: OpenRedis, client: Redis
) -> None:
    storage = open_redis()
    key = f"{storage.prefix}:lock:report"
    token = storage.acquire_lock("report", "owner", 5_000)
    assert token is not None
    ttl_ms = client.pttl(key)
    assert 5_000 < ttl_ms <= 5_000 + 3_600_000
    assert storage.extend_lock("report", "owner", token, 60_000)
    assert client.pttl(key) > ttl_ms
    assert storage.release_lock("report", "owner", token)
    assert client.exists(key) == 0
    # The fencing token outlives the key: the next acquisition gets a greater one.
    assert storage.acquire_lock("report", "owner", 5_000) == token + 1


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.take_rate_slot("k", 2**53 + 1, 0),
        lambda s: s.take_rate_slot("k", 1_000, 2**60),
        lambda s: s.acquire_lock("lock", "owner", 2**60),
        lambda s: s.breaker_admit("t", CONFIG, 2**60),
        lambda s: s.register_periodic(make_schedule("tick", 2**60)),
        lambda s: s.archive_jobs(2**60),
        lambda s: s.set_queue_paused("q", True, 2**60),
    ],
    ids=["interval", "rate-now", "lock-ttl", "breaker-now", "next-run", "archive", "pause-now"],
)
def test_values_the_scripts_cannot_hold_exactly_are_refused(
    open_redis: OpenRedis, client: Redis, call: Callable[[RedisStorage], object]
) -> None:
    storage = open_redis()
    with pytest.raises(ValueError, match=r"2\*\*53"):
        call(storage)
    assert list(client.scan_iter(match=f"{storage.prefix}:*")) == [
        f"{storage.prefix}:meta".encode()
    ]


def test_a_deferral_too_far_away_is_refused_before_any_applies(open_redis: OpenRedis) -> None:
    storage = open_redis()
    first, second = start_job(storage), start_job(storage)
    with pytest.raises(ValueError, match="until"):
        storage.defer_many(
            [
                Deferral(first.id, first.attempt, now_ms(), worker_id=first.worker_id),
                Deferral(second.id, 1, 2**60, worker_id=second.worker_id),
            ],
            now_ms(),
        )
    assert set(storage.running_ids(None, None)) == {first.id, second.id}
