"""How the router calls the JSON layer without blocking the event loop: every storage call
runs on a worker thread (``off_loop``), every wait is a sleep on the event loop (``anyio``'s,
so asyncio and trio both work), so a client waiting 300 s for a result or watching a job for
an hour holds no thread. Also the one
place an exception from the JSON layer becomes an ``HTTPException``."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import anyio
from fastapi import HTTPException
from starlette.concurrency import run_in_threadpool

from taskito.dashboard.api.errors import as_api_error
from taskito.dashboard.api.jobs import FINISHED
from taskito.dashboard.api.progress import ProgressWatch

T = TypeVar("T")

#: The result wait polls after 50 ms first, then 1.5 times later each time, at most every
#: 500 ms (as ``JobResult.result()`` does).
FIRST_POLL_S = 0.05
POLL_GROWTH = 1.5
MAX_POLL_S = 0.5
#: A progress stream silent this long sends an SSE comment, so proxies keep the connection
#: and a client that left is noticed.
KEEPALIVE_S = 15.0


@contextmanager
def http_errors() -> Iterator[None]:
    """Exceptions of the JSON layer as ``HTTPException`` with the same status and message
    (``{"detail": message}``): ``ApiError``, a refused option (400), storage out of reach
    (503). Anything else propagates: the application's error handling answers it."""
    try:
        yield
    except Exception as exc:
        error = as_api_error(exc)
        if error is None:
            raise
        raise HTTPException(status_code=error.status, detail=error.message) from None


async def off_loop(call: Callable[..., T], *args: Any) -> T:
    """``call(*args)`` on a worker thread, its ``ApiError`` as an ``HTTPException``."""
    with http_errors():
        return await run_in_threadpool(call, *args)


async def wait_for_result(read: Callable[[], dict[str, Any]], timeout_s: float) -> dict[str, Any]:
    """``read()`` (a ``job_result`` answer) until its status is finished or ``timeout_s``
    has passed; the last answer either way (read once more at the deadline)."""
    deadline = time.monotonic() + timeout_s
    interval = FIRST_POLL_S
    answer = await off_loop(read)
    while answer["status"] not in FINISHED:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        await anyio.sleep(min(interval, remaining))
        interval = min(interval * POLL_GROWTH, MAX_POLL_S)
        answer = await off_loop(read)
    return answer


def sse_event(data: dict[str, Any]) -> str:
    """One server-sent event: ``data: <json>`` and the blank line that ends it."""
    return f"data: {json.dumps(data)}\n\n"


async def progress_events(
    watch: ProgressWatch, first: list[dict[str, Any]], poll_interval_s: float
) -> AsyncIterator[str]:
    """The stream of a watched job: ``first`` (its state when the request came), then the
    events of each poll, until an event reports the job finished. A storage failure while
    streaming ends the stream with an ``event: error`` (the client may reconnect)."""
    events = first
    quiet_since = time.monotonic()
    while True:
        for event in events:
            yield sse_event(event)
        if events:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= KEEPALIVE_S:
            yield ": keepalive\n\n"
            quiet_since = time.monotonic()
        if watch.finished:
            return
        await anyio.sleep(poll_interval_s)
        try:
            events = await off_loop(watch.poll)
        except HTTPException as exc:
            yield f"event: error\n{sse_event({'error': exc.detail})}"
            return


__all__ = [
    "KEEPALIVE_S",
    "http_errors",
    "off_loop",
    "progress_events",
    "sse_event",
    "wait_for_result",
]
