"""Webhooks: events POSTed as signed JSON to HTTP endpoints, off the hot path.

``queue.add_webhook(...)`` is the usual way in; ``WebhookManager`` does the work (one bounded
buffer and one daemon thread per webhook, a request-forgery guard checked at connect time).
See docs/observability.md, section Webhooks.
"""

from __future__ import annotations

from taskito.webhooks.manager import WebhookManager
from taskito.webhooks.webhook import SIGNATURE_HEADER, Webhook, sign

__all__ = ["SIGNATURE_HEADER", "Webhook", "WebhookManager", "sign"]
