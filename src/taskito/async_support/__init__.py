"""Helpers for async code (docs/pools.md): ``run_maybe_async``, the async job context under the
reference's names, ``AsyncTaskExecutor`` (a job runner on an event loop of its own, over the
engine's async path), and ``AsyncMixin``, the Queue's ``a*`` methods.

Every pool runs ``async def`` tasks through the same execution path as sync ones (the thread
and async pools on an event loop, at most ``Queue(async_concurrency=...)`` at once; a prefork
child on its own loop), so they see the same ``current_job``, hooks and outcome reporting.
"""

from __future__ import annotations

from taskito.async_support.context import (
    AsyncContextToken,
    clear_async_context,
    get_async_context,
    set_async_context,
)
from taskito.async_support.executor import AsyncTaskExecutor, ResultSender
from taskito.async_support.helpers import run_maybe_async
from taskito.queue.async_api import AsyncMixin

__all__ = [
    "AsyncContextToken",
    "AsyncMixin",
    "AsyncTaskExecutor",
    "ResultSender",
    "clear_async_context",
    "get_async_context",
    "run_maybe_async",
    "set_async_context",
]
