"""Change notification of the Redis backend: the scripts that change jobs PUBLISH on
``<prefix>:changes``; one subscriber thread per storage object (started on the first wait)
wakes every ``wait_for_change`` caller, and writes through the same object wake them at once.

When the subscription drops, the thread reconnects with backoff; meanwhile waits simply time
out (callers poll anyway), and the first message after reconnecting wakes everyone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time

from taskito.redaction import redact_secrets
from taskito.storage.redis.connections import RedisConnection, redis

logger = logging.getLogger("taskito.storage.redis")

# How long the subscriber blocks for a message before it looks at the closed flag again
# (close() also wakes it at once by publishing the stop token).
_LISTEN_STEP_S = 1.0
# The first wait gives the subscription this long to be confirmed: a change published before
# the server registers the subscriber would be missed.
_SUBSCRIBE_WAIT_S = 1.0
_MIN_BACKOFF_S = 0.05
_MAX_BACKOFF_S = 2.0
_JOIN_TIMEOUT_S = 5.0


class ChangeListener:
    """A generation counter under a Condition, bumped by local writes and by change notices from
    other storage objects; ``wait`` returns once it moved past the caller's last look."""

    def __init__(self, connection: RedisConnection, channel: str, token: str) -> None:
        self._connection = connection
        self._channel = channel
        self._token = token.encode()
        self._stop_token = f"{token}:stop".encode()
        self._condition = threading.Condition(threading.Lock())
        self._generation = 0
        self._local = threading.local()
        self._closed = threading.Event()
        self._subscribed = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    # --- waking -----------------------------------------------------------------------

    def notify(self) -> None:
        """Something changed: wake every waiter."""
        with self._condition:
            self._generation += 1
            self._condition.notify_all()

    def wait(self, timeout_s: float) -> bool:
        """True when a change arrived since this thread's previous call (on its first call:
        since the call began), else False after ``timeout_s``."""
        self._ensure_listening()
        deadline = time.monotonic() + timeout_s
        local = self._local
        with self._condition:
            seen: int = getattr(local, "seen", self._generation)
            while self._generation == seen and not self._closed.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._condition.wait(remaining)
            local.seen = self._generation
            return self._generation != seen

    # --- the subscriber thread ----------------------------------------------------------

    def _ensure_listening(self) -> None:
        if self._thread is not None and self._pid == os.getpid():
            return
        with self._condition:
            if self._pid != os.getpid():
                # A forked child inherits no threads: it listens on its own.
                self._pid = os.getpid()
                self._thread = None
                self._subscribed.clear()
            if self._thread is not None or self._closed.is_set():
                return
            self._thread = threading.Thread(
                target=self._listen, name="taskito-redis-changes", daemon=True
            )
            self._thread.start()
        # Only the first wait gives the subscription time to be confirmed; later ones poll.
        self._subscribed.wait(_SUBSCRIBE_WAIT_S)

    def _listen(self) -> None:
        backoff_s = _MIN_BACKOFF_S
        outage = False
        while not self._closed.is_set():
            try:
                pubsub = self._connection.pubsub()
            except redis.RedisError:
                pubsub = None
            try:
                if pubsub is None:
                    raise redis.ConnectionError("no pub/sub connection")
                pubsub.subscribe(self._channel)
                backoff_s = _MIN_BACKOFF_S
                if self._relay(pubsub, after_outage=outage):
                    return
            except Exception as exc:
                if self._closed.is_set():
                    return
                self._subscribed.clear()
                if not outage:
                    logger.warning(
                        "redis change subscription lost; polling until it is back",
                        extra={
                            "redis": self._connection.where,
                            "error": redact_secrets(str(exc), self._connection.secret_source),
                        },
                    )
                outage = True
                self._closed.wait(backoff_s)
                backoff_s = min(backoff_s * 2, _MAX_BACKOFF_S)
            finally:
                if pubsub is not None:
                    _close_quietly(pubsub)

    def _relay(self, pubsub: redis.client.PubSub, *, after_outage: bool) -> bool:
        """Turn messages into wake-ups until an error; True once the listener should stop."""
        while not self._closed.is_set():
            message = pubsub.get_message(timeout=_LISTEN_STEP_S)
            if message is None:
                continue
            kind = message["type"]
            if kind == "subscribe":
                self._subscribed.set()
                if after_outage:
                    logger.info(
                        "redis change subscription restored",
                        extra={"redis": self._connection.where},
                    )
                    self.notify()  # changes made during the outage went unseen
            elif kind == "message":
                data = message["data"]
                if data == self._stop_token:
                    return True
                if data != self._token:
                    self.notify()
        return True

    def close(self) -> None:
        """Stop the subscriber thread and release waiters; safe to call twice."""
        with self._condition:
            if self._closed.is_set():
                return
            self._closed.set()
            thread = self._thread
        if thread is not None and thread.is_alive() and self._pid == os.getpid():
            # If this fails, the thread notices the closed flag within _LISTEN_STEP_S.
            with contextlib.suppress(redis.RedisError):
                self._connection.client.publish(self._channel, self._stop_token)
            thread.join(_JOIN_TIMEOUT_S)
            if thread.is_alive():
                logger.warning(
                    "the redis change subscriber did not stop in time",
                    extra={"redis": self._connection.where},
                )
        self.notify()


def _close_quietly(pubsub: redis.client.PubSub) -> None:
    try:
        pubsub.close()
    except Exception:
        logger.debug("closing a pub/sub connection failed", exc_info=True)


__all__ = ["ChangeListener"]
