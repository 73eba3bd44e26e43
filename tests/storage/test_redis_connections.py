"""What only the Redis backend promises about its connection: fast failure when the server is
gone, the install hint, bad URLs and timeouts refused, a close that stops the subscriber, a
subscription that comes back after its connection is killed, and (on a private server) work
that carries on after an outage, a full server's clear error and a warning about eviction."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable

import pytest

from taskito.exceptions import StorageError, StorageUnavailableError
from taskito.storage import open_storage
from tests.helpers import wait_until
from tests.storage.factories import make_job
from tests.storage.redis_support import (  # noqa: F401  (fixtures)
    OpenRedis,
    PrivateServer,
    closed_port,
    fixture_client,
    fixture_open_redis,
    fixture_private_server,
    fixture_redis_url,
)

redis_py = pytest.importorskip("redis")
from taskito.storage.redis import RedisStorage  # noqa: E402  (needs the redis extra)


def _run_python(code: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


# --- failures and the install hint ----------------------------------------------------------


def test_an_unreachable_server_fails_fast_with_storage_unavailable() -> None:
    url = f"redis://127.0.0.1:{closed_port()}/0"
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
    assert 'pip install "pytaskito[redis]"' in result.stdout


def test_bad_urls_and_timeouts_are_refused(redis_url: str) -> None:
    with pytest.raises(ValueError, match="redis"):
        RedisStorage("http://127.0.0.1:6379/0")
    with pytest.raises(ValueError, match="socket_timeout_s"):
        RedisStorage(redis_url, socket_timeout_s=0)


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
