"""The event types and ``EventBus``, which calls listeners on its own thread pool so that an
emitting worker or producer never waits for, or fails because of, a listener."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from enum import StrEnum
from typing import Any

logger = logging.getLogger("taskito.events")

EventCallback = Callable[["EventType", dict[str, Any]], object]


class EventType(StrEnum):
    """Everything a listener can subscribe to; the payload keys are those of the reference
    package."""

    JOB_ENQUEUED = "job.enqueued"
    JOB_COMPLETED = "job.completed"
    JOB_FAILED = "job.failed"
    JOB_RETRYING = "job.retrying"
    JOB_DEAD = "job.dead"
    JOB_CANCELLED = "job.cancelled"
    WORKER_STARTED = "worker.started"
    WORKER_STOPPED = "worker.stopped"
    WORKER_ONLINE = "worker.online"
    WORKER_OFFLINE = "worker.offline"
    WORKER_UNHEALTHY = "worker.unhealthy"
    QUEUE_PAUSED = "queue.paused"
    QUEUE_RESUMED = "queue.resumed"
    WORKFLOW_SUBMITTED = "workflow.submitted"
    WORKFLOW_COMPLETED = "workflow.completed"
    WORKFLOW_FAILED = "workflow.failed"
    WORKFLOW_CANCELLED = "workflow.cancelled"
    WORKFLOW_GATE_REACHED = "workflow.gate_reached"


def outcome_duration_ms(wall_time_ns: int) -> float:
    """The ``duration_ms`` of ``JOB_COMPLETED`` and ``JOB_FAILED``: how long the attempt ran,
    in milliseconds to the microsecond."""
    return round(wall_time_ns / 1_000_000, 3)


class EventBus:
    """Listeners per event type, called as ``callback(event_type, payload)`` on a pool.

    Listeners run in no guaranteed order and each gets its own shallow copy of the payload.
    A listener that raises is logged on ``taskito.events`` and never reaches the emitter.
    An inline listener (``on(..., inline=True)``) is called in the emitting thread instead,
    with the emitter's payload: it is for callbacks that only hand the event on without
    blocking (a put on a bounded buffer), saving the pool's hop.
    """

    def __init__(self, max_workers: int = 4) -> None:
        if isinstance(max_workers, bool) or not isinstance(max_workers, int):
            raise TypeError(f"max_workers must be an int, not {type(max_workers).__name__}")
        if max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, got {max_workers}")
        # Threads start lazily on the first submit, so a bus nobody listens to holds none.
        self._executor = ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="taskito-events"
        )
        # Copy-on-write tuples: emit() reads them without taking the lock.
        self._listeners: dict[EventType, tuple[EventCallback, ...]] = {}
        self._inline: dict[EventType, tuple[EventCallback, ...]] = {}
        self._lock = threading.Lock()
        self._idle = threading.Condition(threading.Lock())
        self._in_flight = 0
        self._closed = False

    def on(self, event_type: EventType, callback: EventCallback, *, inline: bool = False) -> None:
        """Call ``callback`` for every later ``event_type``; registering twice calls it twice.

        ``inline=True`` calls it in the emitting thread, before ``emit`` returns, with the
        emitter's payload (not a copy): only for a callback that never blocks.
        """
        _check_event_type(event_type)
        if not callable(callback):
            raise TypeError(f"callback must be callable, not {type(callback).__name__}")
        if not isinstance(inline, bool):
            raise TypeError(f"inline must be a bool, not {type(inline).__name__}")
        table = self._inline if inline else self._listeners
        with self._lock:
            table[event_type] = (*table.get(event_type, ()), callback)

    def off(self, event_type: EventType, callback: EventCallback) -> bool:
        """Remove one registration of ``callback`` (pooled first, then inline); False when it
        was not registered."""
        _check_event_type(event_type)
        with self._lock:
            return _remove(self._listeners, event_type, callback) or _remove(
                self._inline, event_type, callback
            )

    def has_listeners(self, event_type: EventType) -> bool:
        _check_event_type(event_type)
        return event_type in self._listeners or event_type in self._inline

    def emit(self, event_type: EventType, payload: dict[str, Any]) -> None:
        """Hand ``payload`` to every listener of ``event_type``; returns without waiting for
        pooled listeners (inline ones have run by then).

        With no listener, or after ``shutdown()``, this does nothing.
        """
        _check_event_type(event_type)
        if not isinstance(payload, dict):
            raise TypeError(f"payload must be a dict, not {type(payload).__name__}")
        if self._closed:
            return
        for inline in self._inline.get(event_type, ()):
            try:
                inline(event_type, payload)
            except Exception:
                logger.exception(
                    "inline event listener %r failed on %s",
                    inline,
                    event_type.value,
                    extra={"event_type": event_type.value},
                )
        callbacks = self._listeners.get(event_type)
        if not callbacks:
            return
        for callback in callbacks:
            with self._idle:
                self._in_flight += 1
            try:
                self._executor.submit(self._deliver, callback, event_type, dict(payload))
            except RuntimeError:
                # shutdown() raced this emit; the event is dropped, as after shutdown.
                self._done()
                return

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until every callback submitted so far has returned; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout=timeout_s)

    def shutdown(self, wait: bool = True) -> None:
        """Stop accepting events; with ``wait``, run the queued callbacks and join the threads.

        Safe to call more than once.
        """
        self._closed = True
        self._executor.shutdown(wait=wait)

    def _deliver(
        self, callback: EventCallback, event_type: EventType, payload: dict[str, Any]
    ) -> None:
        try:
            callback(event_type, payload)
        except Exception:
            logger.exception(
                "event listener %r failed on %s",
                callback,
                event_type.value,
                extra={"event_type": event_type.value},
            )
        finally:
            self._done()

    def _done(self) -> None:
        with self._idle:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.notify_all()


def _remove(
    table: dict[EventType, tuple[EventCallback, ...]],
    event_type: EventType,
    callback: EventCallback,
) -> bool:
    """Remove the first registration of ``callback`` from ``table``; False when absent."""
    current = table.get(event_type, ())
    for index, registered in enumerate(current):
        if registered == callback:
            remaining = current[:index] + current[index + 1 :]
            if remaining:
                table[event_type] = remaining
            else:
                del table[event_type]
            return True
    return False


def _check_event_type(event_type: object) -> None:
    if not isinstance(event_type, EventType):
        raise TypeError(
            f"event_type must be a taskito.EventType, not {type(event_type).__name__} "
            f"({event_type!r}); e.g. EventType.JOB_COMPLETED"
        )


__all__ = ["EventBus", "EventCallback", "EventType"]
