"""Change notification for the PostgreSQL backend: a generation counter that writes through the
storage object bump at once, and a thread that LISTENs on the schema's channel and bumps it
when another process (or another storage object) writes.

The listener keeps its own connection. When it drops, the thread reconnects with backoff and
never dies; while it is down, waiters fall back to their timeouts (callers poll anyway), and
each time it starts listening again it bumps the counter, since changes may have been missed.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from taskito.storage.changes import ChangeNotifier

logger = logging.getLogger("taskito.storage.postgres")

_FIRST_BACKOFF_S = 0.05
_MAX_BACKOFF_S = 5.0
# With no traffic for this long the listener pings its connection, so a server that vanished
# without closing the socket is noticed (TCP keepalives catch the rest).
_PING_AFTER_S = 15.0
# How long a thread's first wait_for_change waits for the listener's first connection attempt.
_FIRST_LISTEN_WAIT_S = 2.0


class Listener:
    """A daemon thread that LISTENs on ``channel`` and bumps ``notifier`` for every
    notification whose payload is not ``own_token`` (this object's writes already did)."""

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection[Any]],
        channel: str,
        own_token: str,
        notifier: ChangeNotifier,
        target: str,
    ) -> None:
        self._connect = connect
        self._listen = sql.SQL("LISTEN {}").format(sql.Identifier(channel))
        self._own_token = own_token
        self._notifier = notifier
        self._target = target
        self._stop = threading.Event()
        self._listening = threading.Event()
        self._first_attempt = threading.Event()
        self._wake_read, self._wake_write = os.pipe()
        self._thread = threading.Thread(target=self._run, name="taskito-pg-listener", daemon=True)

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    def start(self) -> None:
        self._thread.start()

    def wait_first_attempt(self, timeout_s: float) -> bool:
        """Wait until the first connection attempt succeeded or failed; True if listening."""
        self._first_attempt.wait(timeout_s)
        return self.listening

    def stop(self) -> None:
        """Stop the thread and join it; safe to call twice."""
        if self._stop.is_set():
            return
        self._stop.set()
        os.write(self._wake_write, b"x")
        if self._thread.ident is not None:
            self._thread.join()
        os.close(self._wake_read)
        os.close(self._wake_write)

    def _run(self) -> None:
        backoff_s = _FIRST_BACKOFF_S
        reported_down = False
        while not self._stop.is_set():
            try:
                conn = self._connect()
            except Exception as exc:
                if not reported_down:
                    logger.warning(
                        "cannot LISTEN for changes (waiting falls back to polling): %s",
                        exc,
                        extra={"target": self._target},
                    )
                    reported_down = True
                self._first_attempt.set()
                self._stop.wait(backoff_s)
                backoff_s = min(backoff_s * 2, _MAX_BACKOFF_S)
                continue
            try:
                with conn:
                    conn.execute(self._listen)
                    if reported_down:
                        logger.info("listening for changes again", extra={"target": self._target})
                    reported_down = False
                    backoff_s = _FIRST_BACKOFF_S
                    # Bump before anyone may take a baseline after this attempt: a first wait
                    # must not count the listener's own start as a change.
                    self._notifier.notify()
                    self._listening.set()
                    self._first_attempt.set()
                    self._pump(conn)
            except Exception as exc:  # never let the thread die: waiters would poll forever
                if not self._stop.is_set():
                    logger.warning(
                        "lost the LISTEN connection (waiting falls back to polling): %s",
                        exc,
                        extra={"target": self._target},
                        exc_info=not isinstance(exc, psycopg.Error),
                    )
                    reported_down = True
                    self._stop.wait(backoff_s)
                    backoff_s = min(backoff_s * 2, _MAX_BACKOFF_S)
            finally:
                self._listening.clear()
                self._first_attempt.set()

    def _pump(self, conn: psycopg.Connection[Any]) -> None:
        """Relay notifications until ``stop()`` or a connection error."""
        socket_fd = conn.fileno()
        while not self._stop.is_set():
            ready, _, _ = select.select([socket_fd, self._wake_read], [], [], _PING_AFTER_S)
            if self._wake_read in ready:
                return
            if not ready:
                conn.execute("SELECT 1")
            self._relay(conn)

    def _relay(self, conn: psycopg.Connection[Any]) -> None:
        changed = False
        for notification in conn.notifies(timeout=0):
            if notification.payload != self._own_token:
                changed = True
        if changed:
            self._notifier.notify()


class Announcer:
    """Sends the NOTIFY of this object's finishes from a thread of its own, after their commit:
    one statement for all the finishes since the previous one, off the worker's path (why not
    inside the write: ``queries.NOTIFY_CHANGE``). Started by the first ``announce``."""

    def __init__(self, send: Callable[[], None]) -> None:
        self._send = send
        self._lock = threading.Lock()
        self._due = threading.Condition(self._lock)
        self._pending = False
        self._closed = False
        self._thread: threading.Thread | None = None

    def announce(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._pending = True
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="taskito-pg-announcer", daemon=True
                )
                self._thread.start()
            self._due.notify()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._closed:
                    self._due.wait()
                if not self._pending:
                    return
                self._pending = False  # a finish from now on is announced again
            try:
                self._send()
            except Exception:
                # Nothing is lost: listeners fall back to their timeouts (callers poll anyway).
                logger.warning("notifying other processes of finished jobs failed", exc_info=True)

    def close(self) -> None:
        """Send what is pending, then stop the thread."""
        with self._lock:
            self._closed = True
            thread = self._thread
            self._due.notify()
        if thread is not None:
            thread.join()


class ChangeFeed:
    """``wait_for_change`` for one storage object: local writes bump the notifier directly,
    the listener (started on the first wait) bumps it for everyone else's writes, and each
    thread remembers the generation it last saw."""

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection[Any]],
        channel: str,
        own_token: str,
        target: str,
    ) -> None:
        self.notifier = ChangeNotifier()
        self._connect = connect
        self._channel = channel
        self._own_token = own_token
        self._target = target
        self._listener: Listener | None = None
        self._lock = threading.Lock()
        self._local = threading.local()
        self._closed = False

    def notify(self) -> None:
        self.notifier.notify()

    def wait(self, timeout_s: float) -> bool:
        """True when the generation moved since this thread's previous call (on its first
        call: since the listener started), False after ``timeout_s`` or once closed."""
        local = self._local
        seen: int | None = getattr(local, "seen", None)
        if seen is None:
            # The first call is the baseline: changes after it must reach this thread, so
            # the listener must be up (or have failed once) before the baseline is taken.
            self._started_listener().wait_first_attempt(_FIRST_LISTEN_WAIT_S)
            seen = self.notifier.generation
        deadline = time.monotonic() + timeout_s
        changed = False
        while not self._closed:
            generation = self.notifier.generation
            if generation != seen:
                seen, changed = generation, True
                break
            remaining_s = deadline - time.monotonic()
            if remaining_s <= 0:
                break
            self.notifier.wait(seen, remaining_s)
        local.seen = seen
        return changed

    def _started_listener(self) -> Listener:
        with self._lock:
            if self._listener is None:
                self._listener = Listener(
                    self._connect, self._channel, self._own_token, self.notifier, self._target
                )
                if not self._closed:
                    self._listener.start()
            return self._listener

    def close(self) -> None:
        with self._lock:
            self._closed = True
            listener = self._listener
        self.notifier.notify()
        if listener is not None:
            listener.stop()
