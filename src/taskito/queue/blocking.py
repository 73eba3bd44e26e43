"""The small executor a Queue's async methods (and async locks) run blocking storage calls
on, so the event loop never waits on storage I/O. It starts on first use."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from taskito.exceptions import QueueError

T = TypeVar("T")

#: Threads of the shared executor; storage serializes writers anyway.
ASYNC_EXECUTOR_THREADS = 2


class BlockingCalls:
    """One Queue's executor for blocking calls made from async code."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False

    def _started(self) -> ThreadPoolExecutor:
        executor = self._executor
        if executor is None:
            with self._lock:
                if self._closed:
                    raise QueueError("this Queue is closed")
                executor = self._executor
                if executor is None:
                    executor = ThreadPoolExecutor(
                        max_workers=ASYNC_EXECUTOR_THREADS, thread_name_prefix="taskito-async"
                    )
                    self._executor = executor
        return executor

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` on the executor, awaited."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._started(), functools.partial(fn, *args, **kwargs))

    def shutdown(self) -> None:
        """Wait for running calls and stop; a later ``run`` raises ``QueueError``."""
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)


__all__ = ["ASYNC_EXECUTOR_THREADS", "BlockingCalls"]
