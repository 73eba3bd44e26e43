"""Task-scoped resources: ``ResourcePool`` lends each task one instance from at most
``pool_size`` and takes it back after the task; ``PoolConfig`` holds its limits."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from taskito.async_support.helpers import run_maybe_async
from taskito.exceptions import ResourceUnavailableError

logger = logging.getLogger("taskito.resources")


@dataclass(frozen=True)
class PoolConfig:
    """At most ``pool_size`` instances at once; ``pool_min`` built up front (``prewarm``); an
    ``acquire`` waits ``acquire_timeout`` seconds for a free one. An instance is replaced once
    it is ``max_lifetime`` seconds old, or idle for ``idle_timeout`` seconds."""

    pool_size: int
    pool_min: int = 0
    acquire_timeout: float = 10.0
    max_lifetime: float = 3600.0
    idle_timeout: float = 300.0


class ResourcePool:
    """A bounded pool of one resource's instances, safe to use from any thread."""

    def __init__(
        self,
        name: str,
        factory: Callable[..., Any],
        teardown: Callable[[Any], Any] | None,
        config: PoolConfig,
        dep_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self._factory = factory
        self._teardown = teardown
        self._config = config
        self._dep_kwargs = dict(dep_kwargs or {})
        self._permits = threading.BoundedSemaphore(config.pool_size)
        self._lock = threading.Lock()
        # (instance, created at, idle since), oldest first.
        self._idle: deque[tuple[Any, float, float]] = deque()
        self._lent: dict[int, tuple[Any, float]] = {}
        self._closed = False
        self._acquisitions = 0
        self._timeouts = 0
        self._acquire_ns = 0

    @property
    def config(self) -> PoolConfig:
        return self._config

    def acquire(self) -> Any:
        """An instance for one task: an idle one still fresh enough, else a new one. Waits up
        to ``acquire_timeout``; then ``ResourceUnavailableError`` naming the resource."""
        started = time.perf_counter_ns()
        if not self._permits.acquire(timeout=self._config.acquire_timeout):
            with self._lock:
                self._timeouts += 1
            raise ResourceUnavailableError(
                f"Resource '{self.name}' pool timed out after {self._config.acquire_timeout}s "
                f"(all {self._config.pool_size} instances in use)"
            )
        try:
            instance, created = self._take_idle()
            if instance is None:
                instance = run_maybe_async(self._factory(**self._dep_kwargs))
                created = time.monotonic()
        except BaseException:
            self._permits.release()  # a factory error costs no capacity
            raise
        with self._lock:
            if self._closed:
                closed = True
            else:
                closed = False
                self._lent[id(instance)] = (instance, created)
                self._acquisitions += 1
                self._acquire_ns += time.perf_counter_ns() - started
        if closed:
            self._permits.release()
            self._close(instance)
            raise ResourceUnavailableError(f"Resource '{self.name}' pool is shut down")
        return instance

    def release(self, instance: Any) -> None:
        """Take back an instance ``acquire`` lent; it is the next one handed out. Anything the
        pool did not lend is refused (``ValueError``), so capacity is never over-counted."""
        with self._lock:
            entry = self._lent.pop(id(instance), None)
            if entry is None:
                raise ValueError(f"resource {self.name!r}: release of an instance not lent by it")
            closed = self._closed
            if not closed:
                self._idle.append((instance, entry[1], time.monotonic()))
        self._permits.release()
        if closed:
            self._close(instance)

    def prewarm(self) -> None:
        """Build idle instances up to ``pool_min``; stops at the first factory error."""
        with self._lock:
            missing = self._config.pool_min - len(self._idle) - len(self._lent)
        for _ in range(max(0, missing)):
            instance = run_maybe_async(self._factory(**self._dep_kwargs))
            now = time.monotonic()
            with self._lock:
                self._idle.append((instance, now, now))

    def shutdown(self) -> None:
        """Tear down every idle instance; lent ones are torn down when they come back."""
        with self._lock:
            self._closed = True
            idle = [entry[0] for entry in self._idle]
            self._idle.clear()
        for instance in idle:
            self._close(instance)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            count = self._acquisitions
            return {
                "size": self._config.pool_size,
                "active": len(self._lent),
                "idle": len(self._idle),
                "total_acquisitions": count,
                "total_timeouts": self._timeouts,
                "avg_acquire_ms": round(self._acquire_ns / count / 1e6, 3) if count else 0.0,
            }

    def _take_idle(self) -> tuple[Any, float]:
        """The most recently returned fresh instance; stale ones are torn down on the way."""
        config = self._config
        stale: list[Any] = []
        found: tuple[Any, float] = (None, 0.0)
        now = time.monotonic()
        with self._lock:
            while self._idle:
                instance, created, idle_since = self._idle.pop()
                if now - created >= config.max_lifetime or now - idle_since >= config.idle_timeout:
                    stale.append(instance)
                    continue
                found = (instance, created)
                break
        for instance in stale:
            self._close(instance)
        return found

    def _close(self, instance: Any) -> None:
        if self._teardown is None:
            return
        try:
            run_maybe_async(self._teardown(instance))
        except Exception:
            logger.exception("teardown of a pooled %r instance failed", self.name)


__all__ = ["PoolConfig", "ResourcePool"]
