"""What only the Redis backend promises: prefixes that never meet, every key under its prefix,
fast failure when the server is gone, the install hint, claims and wake-ups across processes,
exact ordering of 64-bit priorities and far delays, leases on the server clock, reconnection."""

from __future__ import annotations

import contextlib
import json
import random
import re
import statistics
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from taskito.exceptions import (
    DependencyError,
    SchemaVersionError,
    StorageError,
    StorageUnavailableError,
)
from taskito.ids import new_job_id
from taskito.job import JobStatus, now_ms
from taskito.storage import open_storage
from taskito.storage.base import Finish, JobFilter
from tests.helpers import require_redis, wait_until
from tests.storage.factories import LEASE_MS, claim_all, make_job, make_worker, start_job

redis_py = pytest.importorskip("redis")
from taskito.storage.redis import RedisStorage  # noqa: E402  (needs the redis extra)

OpenRedis = Callable[..., RedisStorage]
_OTHER_TEST_PREFIX = re.compile(rb"^t[0-9a-f]{32}:")


@pytest.fixture
def redis_url() -> str:
    return require_redis()


@pytest.fixture
def open_redis(redis_url: str) -> Iterator[OpenRedis]:
    """Open RedisStorage objects (fresh prefix unless given); closed and their keys deleted."""
    opened: list[RedisStorage] = []
    prefixes: set[str] = set()

    def open_one(prefix: str | None = None, **kwargs: object) -> RedisStorage:
        prefix = prefix or f"t{uuid.uuid4().hex}"
        prefixes.add(prefix)
        storage = RedisStorage(redis_url, prefix=prefix, **kwargs)  # type: ignore[arg-type]
        opened.append(storage)
        return storage

    yield open_one
    for storage in opened:
        storage.close()
    client = redis_py.Redis.from_url(redis_url)
    try:
        for prefix in prefixes:
            keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
            for start in range(0, len(keys), 1000):
                client.unlink(*keys[start : start + 1000])
    finally:
        client.close()


def _run_python(code: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- prefixes and keys ---------------------------------------------------------------------


def test_two_prefixes_never_see_each_other(open_redis: OpenRedis) -> None:
    one, two = open_redis(), open_redis()
    parent = one.enqueue(make_job(unique_key="shared-key", queue="q"))
    one.enqueue(make_job(depends_on=(parent.id,), queue="q"))
    doomed = start_job(one, max_retries=0)
    assert one.finish_many([Finish(doomed.id, doomed.attempt, JobStatus.DEAD, error="x")], 1)
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
    storage.finish_many([Finish(running[0].id, 1, JobStatus.COMPLETE, b"r")], now_ms())
    for _ in range(2):
        dead = start_job(storage, max_retries=0)
        storage.finish_many([Finish(dead.id, 1, JobStatus.DEAD, error="e")], now_ms())
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


# --- failures and the install hint ----------------------------------------------------------


def test_an_unreachable_server_fails_fast_with_storage_unavailable() -> None:
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    started = time.monotonic()
    with pytest.raises(StorageUnavailableError, match="unreachable"):
        RedisStorage(url, connect_timeout_s=1.0)
    with pytest.raises(StorageUnavailableError, match=r"127\.0\.0\.1"):
        open_storage("redis", db_path="unused.db", db_url=url)
    assert time.monotonic() - started < 5


def test_without_redis_py_the_error_names_the_extra() -> None:
    result = _run_python(
        """
        import sys
        sys.modules["redis"] = None
        from taskito.storage import open_storage
        try:
            open_storage("redis", db_path="unused.db", db_url="redis://127.0.0.1:6379/15")
        except ImportError as exc:
            print(exc)
        """
    )
    assert result.returncode == 0, result.stderr
    assert 'pip install "taskito[redis]"' in result.stdout


@pytest.mark.parametrize("prefix", ["", "a:b", "has space", "x" * 65, "{tag}", None])
def test_a_bad_prefix_is_refused(redis_url: str, prefix: object) -> None:
    with pytest.raises(ValueError, match="prefix"):
        RedisStorage(redis_url, prefix=prefix)  # type: ignore[arg-type]


def test_bad_urls_and_timeouts_are_refused(redis_url: str) -> None:
    with pytest.raises(ValueError, match="redis"):
        RedisStorage("http://127.0.0.1:6379/0")
    with pytest.raises(ValueError, match="socket_timeout_s"):
        RedisStorage(redis_url, socket_timeout_s=0)


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


def test_close_is_idempotent_stops_the_subscriber_and_later_calls_fail(
    open_redis: OpenRedis,
) -> None:
    storage = open_redis()
    storage.wait_for_change(0)
    assert any(t.name == "taskito-redis-changes" for t in threading.enumerate())
    storage.close()
    storage.close()
    assert not any(t.name == "taskito-redis-changes" for t in threading.enumerate())
    with pytest.raises(StorageError, match="closed"):
        storage.enqueue(make_job())


# --- ordering ---------------------------------------------------------------------------


def test_64_bit_priorities_are_claimed_in_exact_order(open_redis: OpenRedis) -> None:
    storage = open_redis()
    # 2**53 and 2**53 + 1 are one and the same double: a float score could not tell them apart.
    priorities = [2**63 - 1, 2**62, 2**53 + 1, 2**53, 10, 0, -1, -(2**53), -(2**63)]
    shuffled = random.sample(priorities, len(priorities))
    at = now_ms() - 1_000
    storage.enqueue_many([make_job(priority=p, scheduled_at=at) for p in shuffled])
    assert [job.priority for job in claim_all(storage)] == priorities


def test_far_delays_are_due_exactly_when_scheduled(open_redis: OpenRedis) -> None:
    storage = open_redis()
    now = now_ms()
    far = now + 100 * 365 * 24 * 3_600_000  # a century ahead
    late = [storage.enqueue(make_job(scheduled_at=far + n, priority=9)) for n in (2, 0, 1)]
    due = storage.enqueue(make_job(scheduled_at=now))
    assert [job.id for job in storage.claim("w", None, None, 10, now, LEASE_MS)] == [due.id]
    assert storage.claim("w", None, None, 10, far - 1, LEASE_MS) == []
    first_two = storage.claim("w", None, None, 10, far + 1, LEASE_MS)
    assert [job.id for job in first_two] == [late[1].id, late[2].id]
    assert [job.id for job in storage.claim("w", None, None, 10, far + 2, LEASE_MS)] == [late[0].id]


def test_values_the_scripts_cannot_hold_exactly_are_refused(open_redis: OpenRedis) -> None:
    storage = open_redis()
    with pytest.raises(ValueError, match="priority"):
        storage.enqueue(make_job(priority=2**63))
    with pytest.raises(ValueError, match="scheduled_at"):
        storage.enqueue(make_job(scheduled_at=2**53 + 1))
    with pytest.raises(TypeError, match="now"):
        storage.claim("w", None, None, 1, 1.5, LEASE_MS)  # type: ignore[arg-type]
    assert sum(storage.count_jobs().values()) == 0


# --- leases on the server's clock ---------------------------------------------------------


def test_a_host_with_a_fast_clock_does_not_take_live_jobs(open_redis: OpenRedis) -> None:
    """Host B's clock runs 10 s ahead: it passes its own ``now``, and its measured offset to
    the server clock is 10 s smaller (set here, since one machine has one clock)."""
    host_a = open_redis()
    host_b = open_redis(host_a.prefix)
    skew_ms = 10_000
    true_offset = host_b._conn.clock_offset_ms()
    host_b._conn.clock_offset_ms = lambda: true_offset - skew_ms  # type: ignore[method-assign]
    job = host_a.enqueue(make_job())
    (claimed,) = host_a.claim("w-a", None, None, 1, now_ms(), 300)
    assert claimed.id == job.id and claimed.lease_expires_at is not None
    assert host_b.requeue_expired(now_ms() + skew_ms) == []
    seen_by_b = host_b.get_job(job.id)
    assert seen_by_b is not None
    assert seen_by_b.lease_expires_at == claimed.lease_expires_at + skew_ms
    requeued = wait_until(lambda: host_b.requeue_expired(now_ms() + skew_ms), timeout_s=5)
    assert [record.id for record in requeued] == [job.id]


# --- across processes ---------------------------------------------------------------------


def _start_child(redis_url: str, prefix: str, body: str) -> subprocess.Popen[str]:
    source = (
        "import json, os, sys, time\n"
        "from taskito.job import now_ms\n"
        "from taskito.storage.redis import RedisStorage\n"
        f"storage = RedisStorage({redis_url!r}, prefix={prefix!r})\n"
        + textwrap.dedent(body)
        + "\nstorage.close()\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", source],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_four_claiming_processes_get_disjoint_jobs(open_redis: OpenRedis, redis_url: str) -> None:
    storage = open_redis()
    jobs = storage.enqueue_many([make_job() for _ in range(2_000)])
    body = """
        print("ready", flush=True)
        sys.stdin.readline()
        mine = []
        worker_id = f"w{os.getpid()}"
        while batch := storage.claim(worker_id, None, None, 25, now_ms(), 30_000):
            mine += [job.id for job in batch]
        print(json.dumps(mine), flush=True)
    """
    children = [_start_child(redis_url, storage.prefix, body) for _ in range(4)]
    try:
        for child in children:
            assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        outputs = [child.communicate(timeout=60) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    assert all(child.returncode == 0 for child in children), [err for _, err in outputs]
    claimed = [json.loads(out) for out, _ in outputs]
    every = [job_id for ids in claimed for job_id in ids]
    assert len(every) == len(set(every)) == len(jobs)
    assert set(every) == {job.id for job in jobs}
    assert sum(1 for ids in claimed if ids) >= 2, "the claims were not concurrent"


def test_a_write_wakes_a_waiter_in_another_process_within_milliseconds(
    open_redis: OpenRedis, redis_url: str
) -> None:
    storage = open_redis()
    rounds = 7
    child = _start_child(
        redis_url,
        storage.prefix,
        f"""
        storage.wait_for_change(0)
        print("ready", flush=True)
        for _ in range({rounds}):
            sys.stdin.readline()
            woke = storage.wait_for_change(5)
            print(time.monotonic(), woke, flush=True)
        """,
    )
    latencies: list[float] = []
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "ready"
        for _ in range(rounds):
            child.stdin.write("next\n")
            child.stdin.flush()
            # Not a synchronisation (a change before the wait counts too): a pause so that the
            # child is blocked in its wait and the figure is the pub/sub wake-up itself.
            time.sleep(0.02)
            storage.enqueue(make_job())
            written_at = time.monotonic()
            woke_at, woke = child.stdout.readline().split()
            assert woke == "True"
            latencies.append(float(woke_at) - written_at)
    finally:
        _, err = child.communicate(timeout=30)
    assert child.returncode == 0, err
    assert statistics.median(latencies) < 0.02, latencies
    assert max(latencies) < 0.5, latencies


# --- reconnection -------------------------------------------------------------------------


def test_the_subscription_comes_back_after_its_connection_is_killed(
    open_redis: OpenRedis, redis_url: str
) -> None:
    waiter = open_redis()
    writer = open_redis(waiter.prefix)
    waiter.wait_for_change(0)
    client = redis_py.Redis.from_url(redis_url)
    try:
        subscribers = [
            entry["id"]
            for entry in client.client_list()
            if entry.get("name") == f"taskito-{waiter.prefix}" and entry.get("sub") == "1"
        ]
        assert len(subscribers) == 1
        client.client_kill_filter(_id=subscribers[0])
    finally:
        client.close()

    def woken_by_a_write() -> bool:
        writer.enqueue(make_job())
        return waiter.wait_for_change(0.05)

    wait_until(woken_by_a_write, timeout_s=10, message="a wake-up after the subscription died")
    waiter.wait_for_change(0)
    writer.enqueue(make_job())
    assert waiter.wait_for_change(2) is True


# --- a private server: outages, memory limits ----------------------------------------------


class PrivateServer:
    """A redis-server child on a free port, without persistence, for tests that stop it."""

    def __init__(self, binary: str, directory: str, *options: str) -> None:
        self.port = _closed_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._command = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                         "--appendonly", "no", "--dir", directory, *options]  # fmt: skip
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            self._command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = redis_py.Redis.from_url(self.url, socket_connect_timeout=0.5)
        try:
            wait_until(lambda: _answers(client), timeout_s=10, message="redis-server to start")
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


def _answers(client: redis_py.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis_py.RedisError:
        return False


@pytest.fixture
def private_server(tmp_path: object) -> Iterator[Callable[..., PrivateServer]]:
    import shutil

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not on PATH: the outage tests start their own server")
    started: list[PrivateServer] = []

    def start(*options: str) -> PrivateServer:
        server = PrivateServer(binary, str(tmp_path), *options)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def _enqueue_works(storage: RedisStorage) -> bool:
    try:
        storage.enqueue(make_job())
    except StorageUnavailableError:
        return False
    return True


def test_an_outage_fails_fast_and_the_storage_carries_on_after_it(
    private_server: Callable[..., PrivateServer],
) -> None:
    server = private_server()
    storage = RedisStorage(server.url, prefix="outage", connect_timeout_s=1.0)
    other: RedisStorage | None = None
    try:
        storage.enqueue(make_job())
        storage.wait_for_change(0)
        server.stop()
        started = time.monotonic()
        with pytest.raises(StorageUnavailableError):
            storage.enqueue(make_job())
        with pytest.raises(StorageUnavailableError):
            storage.get_job("any")
        assert time.monotonic() - started < 5
        assert storage.wait_for_change(0.05) is False
        server.start()
        wait_until(lambda: _enqueue_works(storage), timeout_s=10)
        other = RedisStorage(server.url, prefix="outage")

        def woken() -> bool:
            assert other is not None
            other.enqueue(make_job())
            return storage.wait_for_change(0.05)

        wait_until(woken, timeout_s=10, message="a wake-up after the server came back")
    finally:
        storage.close()
        if other is not None:
            other.close()


def test_a_full_server_refuses_writes_with_a_clear_error(
    private_server: Callable[..., PrivateServer],
) -> None:
    server = private_server("--maxmemory", "3mb", "--maxmemory-policy", "noeviction")
    storage = RedisStorage(server.url, prefix="full")
    try:
        with pytest.raises(StorageError, match="out of memory") as raised:
            for _ in range(100):
                storage.enqueue_many([make_job(payload=b"x" * 100_000) for _ in range(5)])
        assert not isinstance(raised.value, StorageUnavailableError)
    finally:
        storage.close()


def test_a_server_that_evicts_keys_is_reported(
    private_server: Callable[..., PrivateServer], caplog: pytest.LogCaptureFixture
) -> None:
    server = private_server("--maxmemory-policy", "allkeys-lru")
    with caplog.at_level("WARNING", logger="taskito.storage.redis"):
        RedisStorage(server.url, prefix="evicting").close()
    assert "noeviction" in caplog.text


# --- index consistency ------------------------------------------------------------------------


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
            Finish(job.id, job.attempt, rng.choice(outcomes), error="e", retry_at=at)
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
        storage.requeue_expired(now + 60_000 + 2_000)
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
