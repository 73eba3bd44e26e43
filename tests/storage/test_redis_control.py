"""What only the Redis backend promises about flow control: every new key under the prefix,
slots and locks atomic across processes, the archive and expiry indexes consistent with the
jobs, resume waking other processes, lock keys that clean themselves up, and values the
scripts could not hold exactly refused."""

from __future__ import annotations

import itertools
import json
import random
import re
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, cast

import pytest

from taskito.job import JobStatus, now_ms
from taskito.storage.base import Finish
from taskito.storage.control import BreakerConfig, Deferral, PeriodicSchedule
from tests.helpers import require_redis
from tests.storage.factories import LEASE_MS, claim_all, make_job, start_job

if TYPE_CHECKING:
    from redis import Redis

redis_py = pytest.importorskip("redis")
from taskito.storage.redis import RedisStorage  # noqa: E402  (needs the redis extra)

OpenRedis = Callable[..., RedisStorage]
# Keys of tests running meanwhile on the same database (each under a prefix of its own).
_OTHER_TEST_PREFIX = re.compile(rb"^(t|keys-|control-)[0-9a-f]{32}:")
CONFIG = BreakerConfig(
    threshold=2, window_ms=10_000, cooldown_ms=1_000, half_open_probes=2, half_open_success_rate=0.5
)


@pytest.fixture
def redis_url() -> str:
    return require_redis()


@pytest.fixture
def client(redis_url: str) -> Iterator[Redis]:
    connection = redis_py.Redis.from_url(redis_url)
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture
def open_redis(redis_url: str, client: Redis) -> Iterator[OpenRedis]:
    """Open RedisStorage objects on one fresh prefix (or the one given); all closed and their
    keys deleted after the test."""
    opened: list[RedisStorage] = []
    prefixes: set[str] = set()
    fresh = f"t{uuid.uuid4().hex}"

    def open_one(prefix: str | None = None) -> RedisStorage:
        prefix = prefix or fresh
        prefixes.add(prefix)
        storage = RedisStorage(redis_url, prefix=prefix)
        opened.append(storage)
        return storage

    yield open_one
    for storage in opened:
        storage.close()
    for prefix in prefixes:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        for start in range(0, len(keys), 1000):
            client.unlink(*keys[start : start + 1000])


def _schedule(name: str, next_run: int, **overrides: object) -> PeriodicSchedule:
    fields: dict[str, object] = {
        "name": name,
        "task_name": "tests.tick",
        "cron": "* * * * *",
        "timezone": None,
        "queue": "periodic",
        "payload": b"()",
        "next_run": next_run,
    }
    fields.update(overrides)
    return PeriodicSchedule(**fields)  # type: ignore[arg-type]


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
    storage.register_periodic(_schedule("tick", now))
    storage.fire_periodic("tick", now, now + 60_000, make_job(queue="periodic"))
    storage.acquire_lock("report", "owner", 10_000, now)
    storage.set_setting("theme", "dark", now)
    deferred = start_job(storage)
    storage.defer_many([Deferral(deferred.id, deferred.attempt, now - 1)], now)
    storage.running_ids("tests.add", None)
    dead = start_job(storage, max_retries=0, result_ttl_ms=10**9)
    storage.finish_many([Finish(dead.id, dead.attempt, JobStatus.DEAD, error="x")], now)
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

    from taskito.storage.redis_client import SCRIPT_NAMES, script_source

    folder = importlib.resources.files("taskito.storage").joinpath("redis_lua")
    files = {entry.name[:-4] for entry in folder.iterdir() if entry.name.endswith(".lua")}
    scripts = {name for name in files if name != "prelude" and not name.startswith("lib_")}
    assert scripts == set(SCRIPT_NAMES)
    for name in ("enqueue", "fire_periodic", "enqueue_replay"):
        assert "local function insert_new_jobs" in script_source(name)
    assert "local function insert_new_jobs" not in script_source("claim")


# --- atomic across processes ------------------------------------------------------------------

_CHILD = """
import json, sys
from taskito.ids import new_job_id
from taskito.job import NewJob
from taskito.storage.redis import RedisStorage

storage = RedisStorage({url!r}, prefix={prefix!r})
print("ready", flush=True)
sys.stdin.readline()
base = {base}
done = []
{body}
print(json.dumps(done), flush=True)
storage.close()
"""

_FIRE_EVERY_SLOT = """
for slot in range({slots}):
    job = NewJob(new_job_id(), "periodic", "tests.tick", b"()", 0, base, base, 0, None)
    if storage.fire_periodic("tick", base + slot, base + slot + 1, job) is not None:
        done.append(slot)
"""

_TAKE_RATE_SLOTS = """
for offset in range({span}):
    if storage.take_rate_slot("hot", {interval}, base + offset) is None:
        done.append(offset)
"""


def _race_processes(url: str, prefix: str, body: str, base: int, count: int = 4) -> list[list[int]]:
    """Start ``count`` interpreters that run ``body`` on the prefix, released together once
    all are connected; return what each put in ``done``."""
    source = _CHILD.format(url=url, prefix=prefix, base=base, body=textwrap.dedent(body))
    children = [
        subprocess.Popen(
            [sys.executable, "-c", source],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    try:
        for child in children:
            assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        results = []
        for child in children:
            out, err = child.communicate(timeout=60)
            assert child.returncode == 0, err
            results.append(json.loads(out))
        return results
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()


def test_processes_racing_over_periodic_slots_fire_each_slot_once(
    open_redis: OpenRedis, redis_url: str
) -> None:
    storage = open_redis()
    base, slots = now_ms(), 60
    storage.register_periodic(_schedule("tick", base))
    fired = _race_processes(redis_url, storage.prefix, _FIRE_EVERY_SLOT.format(slots=slots), base)
    every = sorted(slot for one in fired for slot in one)
    assert every == list(range(slots)), fired
    assert storage.count_jobs()[JobStatus.PENDING] == slots
    (stored,) = storage.periodic_schedules()
    assert (stored.last_run, stored.next_run) == (base + slots - 1, base + slots)


def test_processes_racing_for_rate_slots_never_take_two_within_an_interval(
    open_redis: OpenRedis, redis_url: str
) -> None:
    storage = open_redis()
    interval = 10
    body = _TAKE_RATE_SLOTS.format(span=400, interval=interval)
    taken = sorted(
        offset for one in _race_processes(redis_url, storage.prefix, body, 0) for offset in one
    )
    assert taken, "no process took a slot"
    gaps = [later - earlier for earlier, later in itertools.pairwise(taken)]
    assert all(gap >= interval for gap in gaps), taken
    assert storage.take_rate_slot("hot", interval, taken[-1]) == taken[-1] + interval


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
    assert storage.defer_many([Deferral(job.id, job.attempt, now)], now) == [True]
    assert storage.cancel_requests([job.id]) == {}
    (again,) = claim_all(storage, now=now)
    assert again.cancel_requested is True
    assert storage.cancel_requests([job.id]) == {job.id: True}


def test_a_replay_whose_unique_key_is_held_records_the_holder(open_redis: OpenRedis) -> None:
    storage = open_redis()
    original = start_job(storage, max_retries=0)
    storage.finish_many([Finish(original.id, 1, JobStatus.DEAD, error="boom")], now_ms())
    holder = storage.enqueue(make_job(unique_key="only-one"))
    record = storage.enqueue_replay(make_job(unique_key="only-one"), original.id, now_ms())
    assert record.id == holder.id
    (entry,) = storage.replay_history(original.id)
    assert (entry.replay_job_id, entry.original_error) == (holder.id, "boom")


def test_a_replay_of_an_archived_job_reads_the_archived_error(open_redis: OpenRedis) -> None:
    storage = open_redis()
    original = start_job(storage, max_retries=0)
    done_at = now_ms()
    storage.finish_many([Finish(original.id, 1, JobStatus.DEAD, error="boom")], done_at)
    assert storage.archive_jobs(done_at + 1) == 1
    storage.enqueue_replay(make_job(), original.id, now_ms())
    assert [entry.original_error for entry in storage.replay_history(original.id)] == ["boom"]


def test_a_lock_key_expires_by_itself_long_after_the_lock(
    open_redis: OpenRedis, client: Redis
) -> None:
    storage = open_redis()
    key = f"{storage.prefix}:lock:report"
    assert storage.acquire_lock("report", "owner", 5_000, now_ms())
    ttl_ms = client.pttl(key)
    assert 5_000 < ttl_ms <= 5_000 + 3_600_000
    assert storage.extend_lock("report", "owner", 60_000, now_ms())
    assert client.pttl(key) > ttl_ms
    assert storage.release_lock("report", "owner")
    assert client.exists(key) == 0


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.take_rate_slot("k", 2**53 + 1, 0),
        lambda s: s.take_rate_slot("k", 1_000, 2**60),
        lambda s: s.acquire_lock("lock", "owner", 2**60, 0),
        lambda s: s.breaker_admit("t", CONFIG, 2**60),
        lambda s: s.register_periodic(_schedule("tick", 2**60)),
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
            [Deferral(first.id, first.attempt, now_ms()), Deferral(second.id, 1, 2**60)], now_ms()
        )
    assert set(storage.running_ids(None, None)) == {first.id, second.id}


# --- the indexes stay consistent with the jobs --------------------------------------------------


def _scores(client: Redis, key: bytes) -> dict[bytes, float]:
    return dict(cast("list[tuple[bytes, float]]", client.zrange(key, 0, -1, withscores=True)))


def control_index_problems(client: Redis, prefix: str) -> list[str]:
    """Every way the archive and expiry indexes disagree with the job hashes."""
    p = prefix.encode()
    jobs = {key[len(p) + 5 :]: client.hgetall(key) for key in client.scan_iter(match=p + b":job:*")}
    ended = _scores(client, p + b":ended")
    expiry = _scores(client, p + b":resultexpiry")
    problems: list[str] = []
    for job_id, job in jobs.items():
        status, completed = job[b"status"], job.get(b"completed_at")
        should_end = status in (b"3", b"4", b"5")
        if (job_id in ended) != should_end:
            problems.append(f"{job_id!r} status {status!r} vs the ended set")
        elif should_end and ended[job_id] != int(completed or 0):
            problems.append(f"{job_id!r} ended score differs from completed_at")
        expires = status != b"0" and status != b"1" and b"result_ttl_ms" in job
        if (job_id in expiry) != expires:
            problems.append(f"{job_id!r} status {status!r} vs the result expiry set")
        elif expires and expiry[job_id] != int(completed or 0) + int(job[b"result_ttl_ms"]):
            problems.append(f"{job_id!r} result expiry score is wrong")
    problems += [f"stale ended {job_id!r}" for job_id in ended if job_id not in jobs]
    problems += [f"stale expiry {job_id!r}" for job_id in expiry if job_id not in jobs]
    for job_id, score in _scores(client, p + b":archive").items():
        archived = client.hgetall(p + b":archived:" + job_id)
        if not archived or job_id in jobs or int(archived[b"completed_at"]) != score:
            problems.append(f"archive entry {job_id!r} does not match its archived job")
    return problems


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
            Finish(job.id, job.attempt, rng.choice(statuses), error="e", retry_at=now)
            for job in claimed[: len(claimed) // 2 + 1]
        ]
        storage.finish_many(finishes, now + rng.randint(0, 100))
        rest = claimed[len(finishes) :]
        storage.defer_many([Deferral(job.id, job.attempt, now) for job in rest], now)
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
