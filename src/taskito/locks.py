"""Distributed locks held in the Queue's storage: ``queue.lock(name)`` / ``queue.alock(name)``.

A lock is a named row (SQLite, Postgres) or key (Redis) with an owner, an expiry and a fencing
token, so it is shared by every process on the same database. The expiry is kept on the
storage's clock (the server's), so holders whose clocks disagree still agree on who holds it.
Each acquisition gets a fencing token, a number per lock name that only grows: work guarded by
the lock can refuse a writer whose token is older than one it has seen. It is not reentrant:
acquiring a lock that is held and not expired fails, even for its own owner. With
``auto_extend`` a background thread pushes the expiry forward every ``ttl / 3`` seconds until
``release()``, so a long critical section keeps its lock while a crashed holder loses it at
most ``ttl`` seconds later; when it cannot (the holder stalled past the expiry and another
took the lock), it logs a warning, sets ``lost`` and calls ``on_lost``.
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

from taskito.exceptions import StorageError, TaskitoError
from taskito.queue import checks as check

if TYPE_CHECKING:
    from taskito.storage.base import Storage

logger = logging.getLogger("taskito.locks")

T = TypeVar("T")

#: Runs a blocking call off the event loop (the Queue's ``_in_executor``).
RunBlocking = Callable[..., Awaitable[Any]]
#: Called (on the extender thread) with the lock when the auto-extender finds it lost.
OnLost = Callable[["DistributedLock"], object]


class LockNotAcquiredError(TaskitoError):
    """The lock is held by someone else (or by this very lock: locks are not reentrant)."""


def default_owner_id() -> str:
    """``host:pid:random``: unique per lock object, and readable in ``info()``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _ttl_ms(ttl_s: float) -> int:
    return max(1, round(ttl_s * 1000))


class _Extender:
    """The auto-extend thread of one held lock: extends it by ``ttl`` every ``ttl / 3``.

    It stops on ``stop()``, when the lock is lost (its expiry passed and it may have gone to
    another holder: it tells the lock), and when the main thread has ended, so a lock never
    released keeps no process alive.
    """

    def __init__(self, lock: DistributedLock, token: int) -> None:
        self._lock = lock
        self._token = token
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"taskito-lock-extend:{lock.name}", daemon=False
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        lock = self._lock
        interval_s = lock._ttl_s / 3
        # Until when the lock is surely ours (this host's monotonic clock): an extend that
        # fails for a transient reason leaves it ours only until then.
        held_until = time.monotonic() + lock._ttl_s
        while not self._stopped.wait(interval_s):
            if not threading.main_thread().is_alive():
                return
            asked_at = time.monotonic()
            try:
                held = lock._storage.extend_lock(
                    lock.name, lock.owner_id, self._token, _ttl_ms(lock._ttl_s)
                )
            except StorageError:
                if time.monotonic() < held_until:
                    # A transient failure: the lock is still ours until it expires; try again.
                    logger.warning(
                        "could not extend lock %r",
                        lock.name,
                        exc_info=True,
                        extra={"action": "extend_lock", "lock": lock.name},
                    )
                    continue
                held = False
            if not held:
                if not self._stopped.is_set():
                    lock._report_lost(self._token)
                return
            held_until = asked_at + lock._ttl_s


class DistributedLock:
    """A named lock in storage, usable as ``with`` and ``async with``.

    ``acquire()`` takes it or raises ``LockNotAcquiredError``: at once without ``timeout``,
    else after retrying every ``retry_interval`` seconds until ``timeout`` passes.
    ``release()`` frees it; ``extend()`` pushes its expiry; ``held()`` asks the storage
    whether this acquisition still holds it; ``fencing_token`` is the acquisition's number;
    ``info()`` reads the holder. ``on_lost(lock)`` is called (on the auto-extend thread) when
    the extender finds the lock lost, and ``lost`` turns True. One object belongs to one
    thread or task at a time: make one per critical section.
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
        on_lost: OnLost | None = None,
    ) -> None:
        self._storage = storage
        self._name = check.check_storable_name("name", name)
        self._ttl_s = check.check_duration("ttl", ttl, allow_zero=False)
        if not isinstance(auto_extend, bool):
            raise TypeError(f"auto_extend must be a bool, not {type(auto_extend).__name__}")
        self._auto_extend = auto_extend
        self._owner_id = (
            default_owner_id()
            if owner_id is None
            else check.check_storable_name("owner_id", owner_id)
        )
        self._timeout_s = check.check_optional_duration("timeout", timeout)
        self._retry_interval_s = check.check_duration(
            "retry_interval", retry_interval, allow_zero=False
        )
        if on_lost is not None and not callable(on_lost):
            raise TypeError(f"on_lost must be callable, not {type(on_lost).__name__}")
        self._on_lost = on_lost
        self._run_blocking = run_blocking
        self._token: int | None = None  # of the current acquisition; None when not acquired
        self._lost = False
        self._extender: _Extender | None = None

    def __repr__(self) -> str:
        state = "free" if self._token is None else f"held token={self._token}"
        return f"<DistributedLock {self._name!r} owner={self._owner_id!r} {state}>"

    @property
    def name(self) -> str:
        return self._name

    @property
    def owner_id(self) -> str:
        return self._owner_id

    @property
    def fencing_token(self) -> int | None:
        """The number of this acquisition (greater than any earlier one of this lock name,
        by any holder), or None when not acquired. Pass it along with guarded writes."""
        return self._token

    @property
    def lost(self) -> bool:
        """True once the auto-extender found that this acquisition no longer holds the lock."""
        return self._lost

    # --- sync ---------------------------------------------------------------------------

    def acquire(self) -> bool:
        """Take the lock (True) or raise ``LockNotAcquiredError``."""
        self._refuse_reentry()
        deadline = None if self._timeout_s is None else time.monotonic() + self._timeout_s
        while (token := self._try_acquire()) is None:
            wait_s = self._next_wait(deadline)
            if wait_s is None:
                raise self._not_acquired()
            time.sleep(wait_s)
        self._on_acquired(token)
        return True

    def release(self) -> bool:
        """Stop auto-extending and free the lock. False when this owner no longer held it
        (it expired and maybe went to someone else) or it was never acquired."""
        self._stop_extender()
        token, self._token = self._token, None
        if token is None:
            return False
        return self._release_in_storage(token)

    def extend(self, ttl: float | None = None) -> bool:
        """Push the expiry to ``ttl`` (default: the lock's ttl) seconds from now on the
        storage's clock; False when this acquisition does not hold the lock any more."""
        ttl_s = self._ttl_s if ttl is None else check.check_duration("ttl", ttl, allow_zero=False)
        token = self._token
        if token is None:
            return False
        return self._storage.extend_lock(self._name, self._owner_id, token, _ttl_ms(ttl_s))

    def held(self) -> bool:
        """Whether this acquisition still holds the lock, asked of the storage (owner, token
        and expiry on the storage's clock): False once it expired, even if nobody took it."""
        token = self._token
        if token is None:
            return False
        return self._storage.lock_held(self._name, self._owner_id, token)

    def info(self) -> dict[str, Any] | None:
        """``{lock_name, owner_id, acquired_at, expires_at, fencing_token}`` (times in ms, on
        this host's clock) of the current holder, whoever it is, or None when it is free."""
        holder = self._storage.lock_info(self._name)
        if holder is None:
            return None
        return {
            "lock_name": holder.name,
            "owner_id": holder.owner_id,
            "acquired_at": holder.acquired_at,
            "expires_at": holder.expires_at,
            "fencing_token": holder.fencing_token,
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
        while (token := await self._attempt_off_loop()) is None:
            wait_s = self._next_wait(deadline)
            if wait_s is None:
                raise await self._blocking(self._not_acquired)
            await asyncio.sleep(wait_s)
        self._on_acquired(token)
        return True

    async def arelease(self) -> bool:
        return bool(await self._blocking(self.release))

    async def aheld(self) -> bool:
        return bool(await self._blocking(self.held))

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

    def _release_in_storage(self, token: int) -> bool:
        return self._storage.release_lock(self._name, self._owner_id, token)

    def _refuse_reentry(self) -> None:
        if self._token is not None:
            raise LockNotAcquiredError(
                f"lock {self._name!r} is already held by this DistributedLock "
                "(locks are not reentrant)"
            )

    def _try_acquire(self) -> int | None:
        return self._storage.acquire_lock(self._name, self._owner_id, _ttl_ms(self._ttl_s))

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

    def _on_acquired(self, token: int) -> None:
        self._token = token
        self._lost = False
        if self._auto_extend:
            self._extender = _Extender(self, token)
            self._extender.start()

    def _report_lost(self, token: int) -> None:
        """Called by the extender: the acquisition ``token`` no longer holds the lock."""
        if self._token != token:
            return  # released meanwhile
        self._lost = True
        logger.warning(
            "lock %r was lost (it expired and may have been taken; fencing token %d)",
            self._name,
            token,
            extra={"action": "extend_lock", "lock": self._name, "fencing_token": token},
        )
        if self._on_lost is not None:
            try:
                self._on_lost(self)
            except Exception:
                logger.exception("the on_lost callback of lock %r failed", self._name)

    def _stop_extender(self) -> None:
        extender, self._extender = self._extender, None
        if extender is not None:
            extender.stop()

    async def _blocking(self, fn: Callable[[], T]) -> T:
        if self._run_blocking is None:
            return await asyncio.to_thread(fn)
        result: T = await self._run_blocking(fn)
        return result

    async def _attempt_off_loop(self) -> int | None:
        attempt = asyncio.ensure_future(self._blocking(self._try_acquire))
        try:
            return await asyncio.shield(attempt)
        except asyncio.CancelledError:
            # The storage call runs on regardless; a lock it takes must not be orphaned.
            token = await asyncio.shield(attempt)
            if token is not None:
                await self._blocking(lambda: self._release_in_storage(token))
            raise


__all__ = ["DistributedLock", "LockNotAcquiredError", "OnLost", "default_owner_id"]
