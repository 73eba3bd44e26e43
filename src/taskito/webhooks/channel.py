"""``Channel``: one webhook's bounded buffer of events and the daemon thread that delivers them
in order, with retries and back-off, so that neither a producer nor a worker ever waits for an
endpoint. What a channel cannot do (a full buffer, a refused address, an endpoint that keeps
failing) it counts and logs, never raises to the emitter."""

from __future__ import annotations

import enum
import http.client
import logging
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from taskito.events import EventType
from taskito.webhooks.addresses import RefusedAddressError
from taskito.webhooks.transport import Interrupt, InterruptedDeliveryError, post
from taskito.webhooks.webhook import Webhook

logger = logging.getLogger("taskito.webhooks")

#: At most one warning per channel and per kind (dropped events, refused address) this often.
WARNING_INTERVAL_S = 60.0


class _Verdict(enum.Enum):
    DELIVERED = "delivered"
    REJECTED = "rejected"  # final: a 3xx/4xx answer, or an address that is refused
    RETRY = "retry"  # a 5xx answer, or no answer


@dataclass
class DeliveryCounts:
    """What happened to the events a channel was offered."""

    delivered: int = 0
    #: Events given up on: a 3xx/4xx answer, retries spent, or a body JSON cannot encode.
    failed: int = 0
    #: Events not sent because the host is or resolves to a refused address.
    refused: int = 0
    #: Events not queued because the buffer was full.
    dropped: int = 0
    #: Events still queued (or being sent) when the manager closed and stopped waiting.
    abandoned: int = 0
    #: Tries after the first, over all events.
    retries: int = 0


class Throttle:
    """Counts occurrences of one thing and says when to report them: on the first, then at
    most once per ``interval_s``, with how many happened since the last report."""

    def __init__(self, interval_s: float = WARNING_INTERVAL_S) -> None:
        self._interval_s = interval_s
        self._lock = threading.Lock()
        self._last: float | None = None
        self._unreported = 0

    def hit(self) -> int:
        """Count one; the number to report now, or 0 to stay quiet."""
        with self._lock:
            self._unreported += 1
            now = time.monotonic()
            if self._last is not None and now - self._last < self._interval_s:
                return 0
            self._last = now
            count, self._unreported = self._unreported, 0
            return count

    def unreported(self) -> int:
        with self._lock:
            count, self._unreported = self._unreported, 0
            return count


class Channel:
    """One webhook's events, delivered by one daemon thread started on the first event."""

    def __init__(
        self,
        webhook: Webhook,
        *,
        name: str,
        capacity: int,
        tls_context: Callable[[], ssl.SSLContext],
    ) -> None:
        self.webhook = webhook
        self.name = name
        self._capacity = capacity
        self._tls_context = tls_context
        self._items: deque[tuple[EventType, Mapping[str, Any]]] = deque()
        self._state = threading.Condition(threading.Lock())
        self._sending = False
        self._closing = False
        self._thread: threading.Thread | None = None
        self._interrupt = Interrupt()
        self._counts = DeliveryCounts()
        self._drops = Throttle()
        self._refusals = Throttle()

    # --- the emitter's side: never blocks ----------------------------------------------

    def offer(self, event_type: EventType, payload: Mapping[str, Any]) -> bool:
        """Queue one event; False (and counted) when the buffer is full or closing."""
        with self._state:
            if self._closing:
                return False
            if len(self._items) >= self._capacity:
                self._counts.dropped += 1
                queued = False
            else:
                self._items.append((event_type, payload))
                self._state.notify()
                queued = True
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                    self._thread.start()
        if not queued:
            dropped = self._drops.hit()
            if dropped:
                logger.warning(
                    "webhook %s is not keeping up: %d events wait to be sent; dropped %d "
                    "event(s) since the last warning (%d in all)",
                    self.webhook.origin,
                    self._capacity,
                    dropped,
                    self._counts.dropped,
                    extra={"webhook": self.webhook.origin, "dropped": dropped},
                )
        return queued

    # --- the manager's side --------------------------------------------------------------

    def counts(self) -> dict[str, Any]:
        with self._state:
            return {**asdict(self._counts), "pending": len(self._items) + self._sending}

    def flush(self, deadline: float) -> bool:
        """Wait until nothing is queued or being sent, or until ``deadline`` (monotonic)."""
        with self._state:
            while self._items or self._sending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._state.wait(remaining)
            return True

    def close(self) -> None:
        """Take no more events; the thread sends what is queued, then ends."""
        with self._state:
            self._closing = True
            self._state.notify_all()

    def join(self, deadline: float) -> bool:
        """Wait for the thread until ``deadline`` (monotonic); True when it has ended."""
        thread = self._thread
        if thread is None:
            return True
        thread.join(max(0.0, deadline - time.monotonic()))
        return not thread.is_alive()

    def abort(self) -> int:
        """Stop now: drop what is queued, interrupt the request in flight and any back-off.
        Returns how many events are left unsent (counted as abandoned)."""
        self.close()
        self._interrupt.trigger()
        with self._state:
            left = len(self._items) + self._sending
            self._items.clear()
            self._counts.abandoned += left
            self._state.notify_all()
        return left

    def unreported_drops(self) -> int:
        return self._drops.unreported()

    # --- the delivery thread -------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._state:
                while not self._items and not self._closing:
                    self._state.wait()
                if not self._items:
                    return
                event_type, payload = self._items.popleft()
                self._sending = True
            try:
                self._deliver(event_type, payload)
            except Exception:  # a bug here must not end the thread and strand the buffer
                logger.exception("webhook %s: delivery failed unexpectedly", self.webhook.origin)
            finally:
                with self._state:
                    self._sending = False
                    self._state.notify_all()

    def _deliver(self, event_type: EventType, payload: Mapping[str, Any]) -> None:
        hook = self.webhook
        try:
            body = hook.body(event_type, payload)
        except (TypeError, ValueError) as exc:
            self._count("failed")
            logger.error(
                "webhook %s: the %s payload cannot be encoded as JSON (%s); event dropped",
                hook.origin,
                event_type.value,
                exc,
            )
            return
        headers = hook.request_headers(body)
        reason = ""
        for attempt in range(hook.max_retries + 1):
            if self._interrupt.is_set:
                return  # closing: abort() counted the event
            if attempt:
                self._count("retries")
                if not self._interrupt.sleep(hook.backoff_s(attempt - 1)):
                    return  # closing: abort() counted the event
            verdict, reason = self._try_once(event_type, body, headers)
            if verdict is _Verdict.DELIVERED:
                self._count("delivered")
                return
            if verdict is _Verdict.REJECTED or self._interrupt.is_set:
                return
        self._count("failed")
        logger.warning(
            "webhook %s: gave up on %s after %d tries (%s)",
            hook.origin,
            event_type.value,
            hook.max_retries + 1,
            reason,
            extra={"webhook": hook.origin, "event_type": event_type.value},
        )

    def _try_once(
        self, event_type: EventType, body: bytes, headers: Mapping[str, str]
    ) -> tuple[_Verdict, str]:
        hook = self.webhook
        try:
            status = post(
                hook,
                body,
                headers,
                tls_context=self._tls_context,
                interrupt=self._interrupt,
            )
        except RefusedAddressError as exc:
            self._count("refused")
            self._report_refusal(event_type, exc)
            return _Verdict.REJECTED, str(exc)
        except InterruptedDeliveryError:
            return _Verdict.REJECTED, "interrupted"
        except (OSError, http.client.HTTPException) as exc:
            logger.debug("webhook %s: %s: %s", hook.origin, type(exc).__name__, exc)
            return _Verdict.RETRY, f"{type(exc).__name__}: {exc}"
        if 200 <= status < 300:
            return _Verdict.DELIVERED, ""
        if status >= 500:
            logger.debug("webhook %s answered %d", hook.origin, status)
            return _Verdict.RETRY, f"HTTP {status}"
        self._count("failed")
        logger.warning(
            "webhook %s answered %d to %s; not retried",
            hook.origin,
            status,
            event_type.value,
            extra={"webhook": hook.origin, "status": status, "event_type": event_type.value},
        )
        return _Verdict.REJECTED, f"HTTP {status}"

    def _report_refusal(self, event_type: EventType, exc: RefusedAddressError) -> None:
        refused = self._refusals.hit()
        if refused:
            logger.warning(
                "webhook %s: %s event not sent: %s (%d refused since the last warning)",
                self.webhook.origin,
                event_type.value,
                exc,
                refused,
                extra={"webhook": self.webhook.origin, "refused": refused},
            )

    def _count(self, field: str) -> None:
        with self._state:
            setattr(self._counts, field, getattr(self._counts, field) + 1)


__all__ = ["WARNING_INTERVAL_S", "Channel", "DeliveryCounts", "Throttle"]
