"""Helpers shared by every test group: waiting on conditions, and servers that tests need.

Import them as ``from tests.helpers import wait_until, require_server``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")

#: Where the server-backed tests look for their servers (override with these env vars).
POSTGRES_URL_ENV = "TASKITO_TEST_POSTGRES_URL"
REDIS_URL_ENV = "TASKITO_TEST_REDIS_URL"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"


def wait_until(
    predicate: Callable[[], T],
    timeout_s: float = 5.0,
    interval_s: float = 0.005,
    *,
    message: str | None = None,
) -> T:
    """Call ``predicate`` every ``interval_s`` until it returns something truthy; return that.

    Fails the test (``AssertionError``) if ``timeout_s`` passes first. The predicate is
    called once more at the deadline, so a condition that became true while sleeping counts.
    """
    if timeout_s <= 0 or interval_s <= 0:
        raise ValueError("timeout_s and interval_s must be positive")
    deadline = time.monotonic() + timeout_s
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            what = message or getattr(predicate, "__name__", repr(predicate))
            raise AssertionError(f"timed out after {timeout_s}s waiting for: {what}")
        time.sleep(interval_s)


def running_in_ci() -> bool:
    """CI sets ``CI`` (to ``true``); there, a missing server is a failure, not a skip."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_server(name: str, probe: Callable[[], object], *, env_var: str) -> None:
    """Skip the calling test when ``probe`` cannot reach the server ``name``; fail under CI.

    ``probe`` should connect and return, or raise; ``env_var`` names the variable that points
    the tests at another server, so the skip message tells the reader what to do.
    """
    try:
        probe()
    except Exception as exc:
        reason = (
            f"{name} is not reachable ({type(exc).__name__}: {exc}); start it or set "
            f"{env_var} to run these tests"
        )
        if running_in_ci():
            pytest.fail(f"CI is set and {reason}", pytrace=False)
        pytest.skip(reason)


def postgres_url() -> str:
    return os.environ.get(POSTGRES_URL_ENV) or DEFAULT_POSTGRES_URL


def redis_url() -> str:
    return os.environ.get(REDIS_URL_ENV) or DEFAULT_REDIS_URL


def require_postgres() -> str:
    """Return the test Postgres URL once a connection to it succeeds (else skip / fail)."""
    url = postgres_url()

    def connect() -> None:
        import psycopg  # the postgres extra; its absence is reported like a missing server

        with psycopg.connect(url, connect_timeout=3) as connection:
            connection.execute("SELECT 1")

    require_server("PostgreSQL", connect, env_var=POSTGRES_URL_ENV)
    return url


def require_redis() -> str:
    """Return the test Redis URL once a PING to it succeeds (else skip / fail)."""
    url = redis_url()

    def ping() -> None:
        import redis  # the redis extra; its absence is reported like a missing server

        client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
        try:
            client.ping()
        finally:
            client.close()

    require_server("Redis", ping, env_var=REDIS_URL_ENV)
    return url


def write_through_finish_many(monkeypatch: pytest.MonkeyPatch, storage: object) -> None:
    """Make ``storage.finish_and_claim`` go through ``finish_many`` and ``claim`` (the
    contract's two-call default), so a test that replaces either on the storage object sees
    every outcome write and every claim the worker makes."""
    from functools import partial

    from taskito.storage.base import Storage

    assert isinstance(storage, Storage)
    monkeypatch.setattr(storage, "finish_and_claim", partial(Storage.finish_and_claim, storage))
