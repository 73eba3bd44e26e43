"""``run_maybe_async``: a value that may be a coroutine made a plain value, for sync code that
calls user callables which may be ``async def`` (resource factories, teardowns, checks)."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

RUNNING_LOOP_MESSAGE = (
    "run_maybe_async() got a coroutine on a thread that already runs an event loop: an async "
    "resource factory or callable cannot run from a thread that already has a running event "
    "loop. Use the matching async API method instead (for example aresult() for result(), "
    "aenqueue() for enqueue()), await the coroutine directly, or call the sync API from a "
    "worker thread."
)


def run_maybe_async(value: Any) -> Any:
    """``value`` itself unless it is a coroutine; a coroutine runs to completion on a fresh
    event loop (``asyncio.run``, closed afterwards) when this thread runs none.

    On a thread whose loop is running it raises ``RuntimeError`` and leaves the coroutine
    as it was (not run, not closed: the caller may still await it)."""
    if not inspect.iscoroutine(value):
        return value
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(value)
    raise RuntimeError(RUNNING_LOOP_MESSAGE)


__all__ = ["RUNNING_LOOP_MESSAGE", "run_maybe_async"]
