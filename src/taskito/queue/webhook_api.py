"""``queue.add_webhook()``: events of this Queue POSTed to HTTP endpoints by a
``taskito.webhooks.WebhookManager``, made on the first call and closed with the Queue."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from taskito.exceptions import QueueError
from taskito.queue.state import QueueBase

if TYPE_CHECKING:
    from taskito.events import EventType
    from taskito.webhooks import WebhookManager

# Only guards making a Queue's manager on its first webhook; held for microseconds.
_MAKING_MANAGER = threading.Lock()


class WebhookMixin(QueueBase):
    """``add_webhook``."""

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
        """POST every later event of ``events`` (None: all) to ``url``, off the hot path.

        The body is ``{"event": <value>, **payload}`` as JSON, sent with ``headers``; with a
        ``secret``, ``X-Taskito-Signature: sha256=<hex HMAC-SHA256 of the body>``. 5xx answers
        and failed connections are retried ``max_retries`` times, ``retry_backoff ** attempt``
        seconds apart; 3xx/4xx answers are not. Hosts that are or resolve to private, loopback,
        link-local, multicast or reserved addresses are refused unless ``allow_private``. Every
        option is checked now (``TypeError``/``ConfigurationError``). Events fire where they
        happen: outcome events in the worker process, so add webhooks where the Queue is made.
        See docs/observability.md.
        """
        if self._closed:
            raise QueueError("this Queue is closed")
        self._webhooks_manager().add_webhook(
            url,
            events,
            headers,
            secret,
            max_retries,
            timeout,
            retry_backoff,
            allow_private=allow_private,
        )

    def _webhooks_manager(self) -> WebhookManager:
        with _MAKING_MANAGER:
            if self._webhook_manager is None:
                from taskito.webhooks import WebhookManager

                self._webhook_manager = WebhookManager(self._event_bus)
            return self._webhook_manager
