"""Distributed locks held in the Queue's storage: ``queue.lock(name)`` / ``queue.alock(name)``.

A lock is a named row (SQLite, Postgres) or key (Redis) with an owner and an expiry, so it is
shared by every process on the same database. It is not reentrant: acquiring a lock that is
held and not expired fails, even for its own owner. With ``auto_extend`` a background thread
pushes the expiry forward every ``ttl / 3`` seconds until ``release()``, so a long critical
section keeps its lock while a crashed holder loses it at most ``ttl`` seconds later.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from taskito import queue_validation as check
from taskito.exceptions import StorageError, TaskitoError
from taskito.job import now_ms

if TYPE_CHECKING:
    from taskito.storage.base import Storage

logger = logging.getLogger("taskito.locks")

T = TypeVar("T")

#: Runs a blocking call off the event loop (the Queue's ``_in_executor``).
RunBlocking = Callable[..., Awaitable[Any]]


class LockNotAcquiredError(TaskitoError):
    """The lock is held by someone else (or by this very lock: locks are not reentrant)."""


def default_owner_id() -> str:
    """``host:pid:random``: unique per lock object, and readable in ``info()``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _ttl_ms(ttl_s: float) -> int:
    return max(1, round(ttl_s * 1000))


class _Extender:
    """The auto-extend thread of one held lock: extends it by ``ttl`` every ``ttl / 3``.

    It stops on ``stop()``, when the lock is lost (someone else took it after it expired),
    and when the main thread has ended, so a lock never released keeps no process alive.
    """

    def __init__(self, storage: Storage, name: str, owner_id: str, ttl_s: float) -> None:
        self._storage = storage
        self._name = name
        self._owner_id = owner_id
        self._ttl_s = ttl_s
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"taskito-lock-extend:{name}", daemon=False
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        interval_s = self._ttl_s / 3
        while not self._stopped.wait(interval_s):
            if not threading.main_thread().is_alive():
                return
            try:
                held = self._storage.extend_lock(
                    self._name, self._owner_id, _ttl_ms(self._ttl_s), now_ms()
                )
            except StorageError:
                # A transient failure: the lock is still ours until it expires; try again.
                logger.warning(
                    "could not extend lock %r",
                    self._name,
                    exc_info=True,
                    extra={"action": "extend_lock", "lock": self._name},
                )
                continue
            if not held:
                logger.warning(
                    "lock %r was lost (it expired and was taken, or released elsewhere)",
                    self._name,
                    extra={"action": "extend_lock", "lock": self._name},
                )
                return


class DistributedLock:
    """A named lock in storage, usable as ``with`` and ``async with``.

    ``acquire()`` takes it or raises ``LockNotAcquiredError``: at once without ``timeout``,
    else after retrying every ``retry_interval`` seconds until ``timeout`` passes.
    ``release()`` frees it; ``extend()`` pushes its expiry; ``info()`` reads the holder.
    One object belongs to one thread or task at a time: make one per critical section.
    """

    def __init__(
        self,
        storage: Storage,
        name: str,
        ttl: float = 30.0,
        auto_extend: bool = True,
        owner_id: str | None = None,
        timeout: float | None = None,
        retry_interval: float = 0.1,
        run_blocking: RunBlocking | None = None,
    ) -> None:
        self._storage = storage
        self._name = check.check_name("name", name)
        self._ttl_s = check.check_seconds("ttl", ttl, allow_zero=False)
        if not isinstance(auto_extend, bool):
            raise TypeError(f"auto_extend must be a bool, not {type(auto_extend).__name__}")
        self._auto_extend = auto_extend
        self._owner_id = (
            default_owner_id() if owner_id is None else check.check_name("owner_id", owner_id)
        )
        self._timeout_s = check.check_optional_seconds("timeout", timeout)
        self._retry_interval_s = check.check_seconds(
            "retry_interval", retry_interval, allow_zero=False
        )
        self._run_blocking = run_blocking
        self._held = False
        self._extender: _Extender | None = None

    def __repr__(self) -> str:
        state = "held" if self._held else "free"
        return f"<DistributedLock {self._name!r} owner={self._owner_id!r} {state}>"

    @property
    def name(self) -> str:
        return self._name

    @property
    def owner_id(self) -> str:
        return self._owner_id

    # --- sync ---------------------------------------------------------------------------

    def acquire(self) -> bool:
        """Take the lock (True) or raise ``LockNotAcquiredError``."""
        self._refuse_reentry()
        deadline = None if self._timeout_s is None else time.monotonic() + self._timeout_s
        while not self._try_acquire():
            wait_s = self._next_wait(deadline)
            if wait_s is None:
                raise self._not_acquired()
            time.sleep(wait_s)
        self._on_acquired()
        return True

    def release(self) -> bool:
        """Stop auto-extending and free the lock. False when this owner no longer held it
        (it expired and maybe went to someone else) or it was never acquired."""
        self._stop_extender()
        was_held, self._held = self._held, False
        if not was_held:
            return False
        return self._release_in_storage()

    def extend(self, ttl: float | None = None) -> bool:
        """Push the expiry to ``ttl`` (default: the lock's ttl) seconds from now; False when
        this owner does not hold the lock any more."""
        ttl_s = self._ttl_s if ttl is None else check.check_seconds("ttl", ttl, allow_zero=False)
        return self._storage.extend_lock(self._name, self._owner_id, _ttl_ms(ttl_s), now_ms())

    def info(self) -> dict[str, Any] | None:
        """``{lock_name, owner_id, acquired_at, expires_at}`` (ms) of the current holder,
        whoever it is, or None when the lock is free."""
        held = self._storage.lock_info(self._name, now_ms())
        if held is None:
            return None
        return {
            "lock_name": held.name,
            "owner_id": held.owner_id,
            "acquired_at": held.acquired_at,
            "expires_at": held.expires_at,
        }

    def __enter__(self) -> DistributedLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    # --- async --------------------------------------------------------------------------

    async def aacquire(self) -> bool:
        """``acquire()`` for async code: storage calls run off the loop, waits are
        ``asyncio.sleep``. Cancelled mid-attempt, it frees a lock the attempt took."""
        self._refuse_reentry()
        deadline = None if self._timeout_s is None else time.monotonic() + self._timeout_s
        while not await self._attempt_off_loop():
            wait_s = self._next_wait(deadline)
            if wait_s is None:
                raise await self._blocking(self._not_acquired)
            await asyncio.sleep(wait_s)
        self._on_acquired()
        return True

    async def arelease(self) -> bool:
        return bool(await self._blocking(self.release))

    async def __aenter__(self) -> DistributedLock:
        await self.aacquire()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.arelease()

    # --- internals ----------------------------------------------------------------------

    def _release_in_storage(self) -> bool:
        return self._storage.release_lock(self._name, self._owner_id)

    def _refuse_reentry(self) -> None:
        if self._held:
            raise LockNotAcquiredError(
                f"lock {self._name!r} is already held by this DistributedLock "
                "(locks are not reentrant)"
            )

    def _try_acquire(self) -> bool:
        return self._storage.acquire_lock(
            self._name, self._owner_id, _ttl_ms(self._ttl_s), now_ms()
        )

    def _next_wait(self, deadline: float | None) -> float | None:
        """Seconds to wait before the next attempt, or None when there is none left."""
        if deadline is None:
            return None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        return min(self._retry_interval_s, remaining)

    def _not_acquired(self) -> LockNotAcquiredError:
        holder = self.info()
        who = f"held by {holder['owner_id']!r}" if holder else "held by another owner"
        waited = "" if self._timeout_s is None else f" within {self._timeout_s}s"
        return LockNotAcquiredError(f"lock {self._name!r} could not be acquired{waited}: {who}")

    def _on_acquired(self) -> None:
        self._held = True
        if self._auto_extend:
            self._extender = _Extender(self._storage, self._name, self._owner_id, self._ttl_s)
            self._extender.start()

    def _stop_extender(self) -> None:
        extender, self._extender = self._extender, None
        if extender is not None:
            extender.stop()

    async def _blocking(self, fn: Callable[[], T]) -> T:
        if self._run_blocking is None:
            return await asyncio.to_thread(fn)
        result: T = await self._run_blocking(fn)
        return result

    async def _attempt_off_loop(self) -> bool:
        attempt = asyncio.ensure_future(self._blocking(self._try_acquire))
        try:
            return await asyncio.shield(attempt)
        except asyncio.CancelledError:
            # The storage call runs on regardless; a lock it takes must not be orphaned.
            if await asyncio.shield(attempt):
                await self._blocking(self._release_in_storage)
            raise


__all__ = ["DistributedLock", "LockNotAcquiredError", "default_owner_id"]
