"""Distributed locks through the Queue (issue 6 point 8): ``queue.lock`` and
``queue.alock`` on every backend, seen from two Queues on the same database."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from taskito import Queue, TaskitoError
from taskito.job import now_ms
from taskito.locks import DistributedLock, LockNotAcquiredError
from tests.api.backends.support import Backend
from tests.helpers import wait_until


@pytest.fixture
def other(backend: Backend) -> Queue:
    """A second Queue on the same database: another process, as far as locks can tell."""
    return backend.queue()


def count_attempts(monkeypatch: pytest.MonkeyPatch, queue: Queue) -> list[int]:
    """Record each ``acquire_lock`` call that ``queue``'s storage receives."""
    attempts: list[int] = []
    real = queue._storage.acquire_lock

    def counting(*args: Any) -> bool:
        attempts.append(now_ms())
        return real(*args)

    monkeypatch.setattr(queue._storage, "acquire_lock", counting)
    return attempts


def test_a_held_lock_reports_its_holder_and_is_free_after_release(queue: Queue) -> None:
    with queue.lock("reports", ttl=30, owner_id="owner-1") as lock:
        info = lock.info()
        assert info is not None
        assert info["lock_name"] == "reports"
        assert info["owner_id"] == "owner-1" == lock.owner_id
        assert info["expires_at"] - info["acquired_at"] == 30_000
        assert lock.name == "reports"
    assert lock.info() is None
    assert lock.release() is False  # already released


def test_a_lock_held_elsewhere_fails_at_once_without_timeout(queue: Queue, other: Queue) -> None:
    with queue.lock("exclusive", owner_id="first"):
        started = time.monotonic()
        with pytest.raises(LockNotAcquiredError, match=r"'exclusive'.*held by 'first'"):
            other.lock("exclusive").acquire()
        assert time.monotonic() - started < 2.0
    with other.lock("exclusive"):  # free again after release
        pass


def test_locks_are_not_reentrant(queue: Queue) -> None:
    lock = queue.lock("once", owner_id="me", auto_extend=False)
    with lock:
        with pytest.raises(LockNotAcquiredError, match="not reentrant"):
            lock.acquire()
        with pytest.raises(LockNotAcquiredError, match="held by 'me'"):
            queue.lock("once", owner_id="me").acquire()  # the same owner, another object
    assert lock.info() is None


def test_lock_errors_are_taskito_errors() -> None:
    assert issubclass(LockNotAcquiredError, TaskitoError)


def test_with_a_timeout_the_lock_is_taken_once_the_holder_releases(
    queue: Queue, other: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    holder = queue.lock("handover", owner_id="holder")
    holder.acquire()
    attempts = count_attempts(monkeypatch, other)
    outcome: list[object] = []
    waiter = other.lock("handover", owner_id="waiter", timeout=20, retry_interval=0.01)

    def wait_for_lock() -> None:
        try:
            outcome.append(waiter.acquire())
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=wait_for_lock, name="lock-waiter")
    thread.start()
    try:
        wait_until(lambda: len(attempts) >= 3, message="the waiter retried")
        assert outcome == []  # still waiting while the lock is held
        assert holder.release() is True
        thread.join(20)
        assert outcome == [True]
        assert waiter.info()["owner_id"] == "waiter"  # type: ignore[index]
    finally:
        thread.join(20)
        waiter.release()


def test_a_timeout_that_passes_raises_after_retrying(
    queue: Queue, other: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts = count_attempts(monkeypatch, other)
    with queue.lock("busy", owner_id="holder"):
        started = time.monotonic()
        with pytest.raises(LockNotAcquiredError, match=r"within 0\.3s"):
            other.lock("busy", timeout=0.3, retry_interval=0.05).acquire()
        assert time.monotonic() - started >= 0.3
    assert len(attempts) >= 3


def test_an_expired_lock_lets_another_owner_in(queue: Queue, other: Queue) -> None:
    first = queue.lock("short", ttl=0.3, auto_extend=False, owner_id="first")
    first.acquire()
    with pytest.raises(LockNotAcquiredError):
        other.lock("short", owner_id="second").acquire()
    second = other.lock("short", owner_id="second", auto_extend=False)
    wait_until(lambda: _try(second), timeout_s=10, message="the expired lock was taken over")
    assert second.info()["owner_id"] == "second"  # type: ignore[index]
    assert first.extend() is False  # the first owner lost it
    assert first.release() is False  # and cannot free the new owner's lock
    assert second.info()["owner_id"] == "second"  # type: ignore[index]
    assert second.release() is True


def _try(lock: DistributedLock) -> bool:
    try:
        return lock.acquire()
    except LockNotAcquiredError:
        return False


def test_auto_extend_keeps_the_lock_past_its_ttl(queue: Queue, other: Queue) -> None:
    # Extended every ttl/3 (300 ms): a loaded machine may stall the extender a few hundred ms.
    ttl_ms = 900
    with queue.lock("long", ttl=ttl_ms / 1000, owner_id="keeper") as lock:
        first = lock.info()
        assert first is not None
        # Wait until the first expiry is well past: only extensions can keep it held.
        wait_until(lambda: now_ms() > first["expires_at"] + ttl_ms, timeout_s=10)
        with pytest.raises(LockNotAcquiredError, match="held by 'keeper'"):
            other.lock("long").acquire()
        later = lock.info()
        assert later is not None and later["expires_at"] > first["expires_at"] + ttl_ms
    assert lock.info() is None
    # The extender thread stopped with release (the leak guard checks it too).
    assert not [t for t in threading.enumerate() if t.name.startswith("taskito-lock-extend")]


def test_extend_pushes_the_expiry_while_held(queue: Queue) -> None:
    lock = queue.lock("manual", ttl=5, auto_extend=False)
    assert lock.extend() is False  # not held yet
    with lock:
        before = lock.info()
        assert lock.extend(ttl=60) is True
        after = lock.info()
        assert before is not None and after is not None
        assert after["expires_at"] >= before["acquired_at"] + 60_000
        with pytest.raises(ValueError, match="ttl"):
            lock.extend(ttl=0)


def test_alock_is_an_async_context_manager(queue: Queue, other: Queue) -> None:
    async def scenario() -> None:
        async with queue.alock("async", owner_id="task-1") as lock:
            assert lock.info()["owner_id"] == "task-1"  # type: ignore[index]
            with pytest.raises(LockNotAcquiredError):
                await other.alock("async").aacquire()
            waiter = other.alock("async", timeout=10, retry_interval=0.01)
            waiting = asyncio.ensure_future(waiter.aacquire())
            await asyncio.sleep(0.05)
            assert not waiting.done()
        assert await waiting is True
        assert waiter.info()["owner_id"] == waiter.owner_id  # type: ignore[index]
        await waiter.arelease()
        assert waiter.info() is None

    asyncio.run(scenario())


def test_an_alock_timeout_raises(queue: Queue, other: Queue) -> None:
    async def scenario() -> None:
        async with queue.alock("async-busy"):
            with pytest.raises(LockNotAcquiredError, match=r"within 0\.1s"):
                async with other.alock("async-busy", timeout=0.1, retry_interval=0.02):
                    pytest.fail("the lock was held elsewhere")

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"name": ""}, ValueError, "name"),
        ({"name": 7}, TypeError, "name"),
        ({"ttl": 0}, ValueError, "ttl"),
        ({"ttl": -1.5}, ValueError, "ttl"),
        ({"ttl": float("nan")}, ValueError, "ttl"),
        ({"timeout": -1}, ValueError, "timeout"),
        ({"retry_interval": 0}, ValueError, "retry_interval"),
        ({"owner_id": ""}, ValueError, "owner_id"),
        ({"auto_extend": "yes"}, TypeError, "auto_extend"),
    ],
)
def test_bad_lock_arguments_are_refused(
    queue: Queue, options: dict[str, Any], error: type[Exception], match: str
) -> None:
    kwargs: dict[str, Any] = {"name": "ok", **options}
    with pytest.raises(error, match=match):
        queue.lock(**kwargs)
    with pytest.raises(error, match=match):
        queue.alock(**kwargs)
