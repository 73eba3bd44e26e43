"""``WebhookManager``: the webhooks of one Queue. It subscribes to the Queue's event bus for the
event types its webhooks want, hands each event to the channel of every webhook that wants it
(a non-blocking put), and stops the channels' threads on ``close()`` within a short bound."""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Mapping
from typing import Any

from taskito import _checks
from taskito.events import EventBus, EventType
from taskito.exceptions import QueueError
from taskito.webhooks.channel import Channel
from taskito.webhooks.webhook import Webhook, to_event_type

logger = logging.getLogger("taskito.webhooks")

#: Events each webhook may have waiting; past that, new ones are dropped (and counted).
DEFAULT_MAX_PENDING = 1000
#: How long ``close()`` lets the channels send what is queued before it interrupts them.
DEFAULT_STOP_TIMEOUT_S = 2.0
#: After interrupting, how long ``close()`` still waits for a thread to end.
_ABORT_GRACE_S = 1.0


class WebhookManager:
    """POSTs events to HTTP endpoints from daemon threads, one per webhook.

    ``bus``, when given, is subscribed to (for the event types some webhook wants); without
    it, call ``notify`` yourself. ``max_pending`` bounds each webhook's buffer;
    ``stop_timeout_s`` bounds how long ``close()`` waits for queued events to be sent;
    ``tls_context`` verifies https endpoints (default: ``ssl.create_default_context()``).
    """

    def __init__(
        self,
        bus: EventBus | None = None,
        *,
        max_pending: int = DEFAULT_MAX_PENDING,
        stop_timeout_s: float = DEFAULT_STOP_TIMEOUT_S,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        if bus is not None and not isinstance(bus, EventBus):
            raise TypeError(f"bus must be a taskito EventBus or None, not {type(bus).__name__}")
        if tls_context is not None and not isinstance(tls_context, ssl.SSLContext):
            raise TypeError(
                f"tls_context must be an ssl.SSLContext or None, not {type(tls_context).__name__}"
            )
        self._bus = bus
        self._max_pending = _checks.check_positive("max_pending", max_pending)
        self._stop_timeout_s = _checks.check_seconds("stop_timeout_s", stop_timeout_s)
        self._tls_context = tls_context
        self._lock = threading.Lock()
        # Copy-on-write, so notify() reads it without the lock.
        self._channels: tuple[Channel, ...] = ()
        self._subscribed: set[EventType] = set()
        self._closed = False

    @property
    def _webhooks(self) -> list[dict[str, Any]]:
        """Each webhook's options as a dict, as the reference package keeps them."""
        return [channel.webhook.as_dict() for channel in self._channels]

    def add_webhook(
        self,
        url: str,
        events: list[EventType] | None = None,
        headers: dict[str, str] | None = None,
        secret: str | bytes | None = None,
        max_retries: int = 3,
        timeout: float = 10.0,
        retry_backoff: float = 2.0,
        *,
        allow_private: bool = False,
    ) -> None:
        """POST every later event of ``events`` (None: every event type) to ``url``.

        Only http and https URLs. The body is ``{"event": <value>, **payload}`` as JSON;
        ``headers`` are sent too; with a ``secret`` the ``X-Taskito-Signature`` header is
        ``sha256=<hex HMAC-SHA256 of the body>``. A 5xx answer or no answer within ``timeout``
        seconds is retried ``max_retries`` times, ``retry_backoff ** attempt`` seconds apart;
        a 3xx/4xx answer is not. Hosts that are or resolve to private, loopback, link-local,
        multicast or reserved addresses are refused unless ``allow_private``.
        """
        webhook = Webhook.from_options(
            url,
            events,
            headers,
            secret,
            max_retries,
            timeout,
            retry_backoff,
            allow_private=allow_private,
        )
        with self._lock:
            if self._closed:
                raise QueueError("this WebhookManager is closed; add webhooks before close()")
            channel = Channel(
                webhook,
                name=f"taskito-webhook-{len(self._channels) + 1}",
                capacity=self._max_pending,
                tls_context=self._tls,
            )
            self._channels = (*self._channels, channel)
            self._subscribe(webhook.events or frozenset(EventType))

    def notify(self, event_type: EventType | str, payload: Mapping[str, Any]) -> None:
        """Queue ``payload`` for every webhook that wants ``event_type``; never blocks."""
        event = to_event_type(event_type)
        if not isinstance(payload, Mapping):
            raise TypeError(f"payload must be a dict, not {type(payload).__name__}")
        snapshot: Mapping[str, Any] | None = None
        for channel in self._channels:
            if channel.webhook.wants(event):
                snapshot = dict(payload) if snapshot is None else snapshot
                channel.offer(event, snapshot)

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until every event queued so far has been sent or given up on; False when
        ``timeout_s`` passed first."""
        if timeout_s is not None:
            _checks.check_seconds("timeout_s", timeout_s)
        deadline = time.monotonic() + (timeout_s if timeout_s is not None else 1e9)
        return all(channel.flush(deadline) for channel in self._channels)

    def stats(self) -> list[dict[str, Any]]:
        """Per webhook, in the order added: ``url`` (scheme, host and port only), ``pending``,
        and the counts ``delivered``, ``failed``, ``refused``, ``dropped``, ``abandoned``,
        ``retries``."""
        return [{"url": channel.webhook.origin, **channel.counts()} for channel in self._channels]

    def close(self) -> None:
        """Take no more events, let the queued ones go out for up to ``stop_timeout_s``, then
        interrupt what is still running (a hung endpoint included) and join the threads.
        Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            channels = self._channels
        for channel in channels:
            channel.close()
        deadline = time.monotonic() + self._stop_timeout_s
        finished = [channel.join(deadline) for channel in channels]
        if not all(finished):
            for channel in channels:
                abandoned = channel.abort()
                if abandoned:
                    logger.warning(
                        "webhook %s: %d event(s) not sent when the queue closed",
                        channel.webhook.origin,
                        abandoned,
                    )
            grace = time.monotonic() + _ABORT_GRACE_S
            for channel in channels:
                if not channel.join(grace):
                    logger.warning(
                        "webhook %s: its delivery thread did not stop (a DNS lookup may hang); "
                        "left to end with the process",
                        channel.webhook.origin,
                    )
        for channel in channels:
            dropped = channel.unreported_drops()
            if dropped:
                logger.warning(
                    "webhook %s: %d more event(s) were dropped (buffer full) before closing",
                    channel.webhook.origin,
                    dropped,
                )

    def _subscribe(self, event_types: frozenset[EventType]) -> None:
        if self._bus is None:
            return
        for event_type in sorted(event_types - self._subscribed):
            # Inline: notify() only puts onto bounded buffers, so the pool's hop would cost
            # more than the call itself.
            self._bus.on(event_type, self.notify, inline=True)
            self._subscribed.add(event_type)

    def _tls(self) -> ssl.SSLContext:
        if self._tls_context is None:
            self._tls_context = ssl.create_default_context()
        return self._tls_context


__all__ = ["DEFAULT_MAX_PENDING", "DEFAULT_STOP_TIMEOUT_S", "WebhookManager"]
