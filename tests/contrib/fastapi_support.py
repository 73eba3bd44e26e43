"""What the FastAPI router tests share: the tasks they run with real workers, an app serving
``TaskitoRouter`` under ``/tasks``, and an SSE reader over ``http.client``."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI

from taskito import Queue, current_job
from taskito.contrib.fastapi import TaskitoRouter

PREFIX = "/tasks"


class Opaque:
    """A result with no JSON form: shown by its repr."""

    def __repr__(self) -> str:
        return "<Opaque result>"


def register(queue: Queue) -> dict[str, Any]:
    """``add``; ``boom`` (dead at once); ``publisher`` (progress 50, two partial results);
    ``opaque`` (returns an ``Opaque``); ``wait_for_cancel`` (runs until cancelled)."""

    @queue.task(name="add")
    def add(a: int, b: int) -> int:
        return a + b

    @queue.task(name="boom", max_retries=0)
    def boom(message: str) -> None:
        raise ValueError(message)

    @queue.task(name="publisher")
    def publisher() -> str:
        current_job.publish({"step": 1})
        current_job.update_progress(50)
        current_job.publish("plain text")
        return "published"

    @queue.task(name="opaque")
    def opaque() -> Opaque:
        return Opaque()

    @queue.task(name="wait_for_cancel", timeout=60)
    def wait_for_cancel() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            current_job.check_cancelled()
            time.sleep(0.01)

    return {
        "add": add,
        "boom": boom,
        "publisher": publisher,
        "opaque": opaque,
        "wait_for_cancel": wait_for_cancel,
    }


def make_app(queue: Queue, **options: Any) -> FastAPI:
    app = FastAPI()
    app.include_router(TaskitoRouter(queue, **options), prefix=PREFIX)
    return app


class EventStream:
    """A ``text/event-stream`` response read event by event (``data:`` lines decoded)."""

    def __init__(self, port: int, path: str, timeout_s: float = 30.0) -> None:
        self._connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
        self._connection.request("GET", path)
        self.response = self._connection.getresponse()
        #: Comment lines (``: keepalive``) seen so far.
        self.comments: list[str] = []

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """Each event's ``data`` (an ``event: error`` as ``{"event": "error", **data}``),
        until the server ends the stream."""
        kind = None
        while line := self.response.readline():
            text = line.decode("utf-8").rstrip("\n")
            if text.startswith(":"):
                self.comments.append(text)
            elif text.startswith("event: "):
                kind = text[len("event: ") :]
            elif text.startswith("data: "):
                data = json.loads(text[len("data: ") :])
                yield data if kind is None else {"event": kind, **data}
                kind = None

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
