"""What the Redis-only test files share: the ``redis_url``, ``client`` and ``open_redis``
fixtures (import them as ``fixture_*``; pytest knows them by the name given) and the opener
behind the last, a private redis-server child (``private_server``) for tests that stop or stall
a server, a periodic schedule to register, and the checker that the archive and expiry indexes
agree with the jobs."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, cast

import pytest

from taskito.storage.control import PeriodicSchedule
from tests.helpers import require_redis, wait_until

if TYPE_CHECKING:
    from redis import Redis

redis_py = pytest.importorskip("redis")
from taskito.storage.redis import RedisStorage  # noqa: E402  (needs the redis extra)

OpenRedis = Callable[..., RedisStorage]


@pytest.fixture(name="redis_url")
def fixture_redis_url() -> str:
    return require_redis()


@pytest.fixture(name="client")
def fixture_client(redis_url: str) -> Iterator[Redis]:
    connection = redis_py.Redis.from_url(redis_url)
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture(name="open_redis")
def fixture_open_redis(redis_url: str, client: Redis) -> Iterator[OpenRedis]:
    """Open RedisStorage objects (fresh prefix unless given); closed and their keys deleted."""
    yield from open_storages(redis_url, client)


def open_storages(
    redis_url: str, client: Redis, one_prefix: str | None = None
) -> Iterator[OpenRedis]:
    """The body of an ``open_redis`` fixture: its opener puts each storage on the prefix given,
    else on ``one_prefix``, else on a fresh prefix of its own; after the test every storage is
    closed and every key under those prefixes deleted."""
    opened: list[RedisStorage] = []
    prefixes: set[str] = set()

    def open_one(prefix: str | None = None, **kwargs: object) -> RedisStorage:
        prefix = prefix or one_prefix or f"t{uuid.uuid4().hex}"
        prefixes.add(prefix)
        storage = RedisStorage(redis_url, prefix=prefix, **kwargs)  # type: ignore[arg-type]
        opened.append(storage)
        return storage

    yield open_one
    for storage in opened:
        storage.close()
    delete_prefixes(client, prefixes)


def delete_prefixes(client: Redis, prefixes: Iterable[str]) -> None:
    """Delete every key under each of ``prefixes``."""
    for prefix in prefixes:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        for start in range(0, len(keys), 1000):
            client.unlink(*keys[start : start + 1000])


def closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivateServer:
    """A redis-server child on a free port, without persistence, for tests that stop it."""

    def __init__(self, binary: str, directory: str, *options: str) -> None:
        self.port = closed_port()
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


@pytest.fixture(name="private_server")
def fixture_private_server(tmp_path: object) -> Iterator[Callable[..., PrivateServer]]:
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


def make_schedule(name: str, next_run: int, **overrides: object) -> PeriodicSchedule:
    """An every-minute schedule of ``tests.tick`` on the "periodic" queue, due at ``next_run``."""
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


def run_released_together(
    source: str, count: int, handshake: Sequence[tuple[str, str]] = (("ready", "go"),)
) -> list[Any]:
    """Run ``count`` interpreters on ``source`` in lock step and return each one's JSON output.

    For each ``(expected, reply)`` of ``handshake``, every child must print ``expected`` and
    then all of them are sent ``reply`` together: the children reach each step at the same
    time. Children left running (a failed assertion) are killed.
    """
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
        for expected, reply in handshake:
            for child in children:
                assert child.stdout is not None and child.stdout.readline().strip() == expected
            for child in children:
                assert child.stdin is not None
                child.stdin.write(reply + "\n")
                child.stdin.flush()
        outputs = []
        for child in children:
            out, err = child.communicate(timeout=60)
            assert child.returncode == 0, err
            outputs.append(json.loads(out))
        return outputs
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
