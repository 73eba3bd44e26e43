"""``Webhook``: one endpoint's options, checked once when it is added, and what a delivery to it
sends (the JSON body, the headers, the signature)."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

from taskito import _checks
from taskito.events import EventType
from taskito.exceptions import ConfigurationError
from taskito.webhooks.addresses import check_literal

SIGNATURE_HEADER = "X-Taskito-Signature"
#: The longest sleep between two tries, whatever ``retry_backoff ** attempt`` gives.
MAX_BACKOFF_S = 300.0
MAX_RETRIES = 100
MAX_TIMEOUT_S = 3600.0
#: Headers taskito writes itself (lower case); a custom header may not replace them.
_RESERVED_HEADERS = frozenset(
    {"content-type", "content-length", "host", "transfer-encoding", SIGNATURE_HEADER.lower()}
)
#: An HTTP field name (RFC 9110 token).
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_EVENT_VALUES = ", ".join(e.value for e in EventType)


@dataclass(frozen=True, eq=False)
class Webhook:
    """A checked endpoint; build it with ``Webhook.from_options``."""

    url: str
    tls: bool
    host: str
    port: int
    #: What follows the host in the request line: the path and the query.
    target: str
    events: frozenset[EventType] | None
    headers: Mapping[str, str]
    secret: bytes | None
    max_retries: int
    timeout_s: float
    retry_backoff: float
    allow_private: bool

    @classmethod
    def from_options(
        cls,
        url: object,
        events: object = None,
        headers: object = None,
        secret: object = None,
        max_retries: object = 3,
        timeout: object = 10.0,
        retry_backoff: object = 2.0,
        *,
        allow_private: object = False,
    ) -> Webhook:
        """Check every option (``TypeError``/``ValueError`` naming the problem)."""
        allowed = _checks.check_bool("allow_private", allow_private)
        tls, host, port, target = _parse_url(url)
        if not allowed:
            check_literal(host)
        return cls(
            url=cast(str, url),
            tls=tls,
            host=host,
            port=port,
            target=target,
            events=_check_events(events),
            headers=_check_headers(headers),
            secret=_check_secret(secret),
            max_retries=_checks.check_int(
                "max_retries",
                max_retries,
                minimum=0,
                maximum=MAX_RETRIES,
                error=ConfigurationError,
            ),
            timeout_s=_checks.check_seconds(
                "timeout",
                timeout,
                allow_zero=False,
                maximum=MAX_TIMEOUT_S,
                error=ConfigurationError,
            ),
            retry_backoff=_check_backoff(retry_backoff),
            allow_private=allowed,
        )

    @property
    def origin(self) -> str:
        """Scheme, host and port only: what log lines show (a path may carry a token)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def wants(self, event_type: EventType) -> bool:
        return self.events is None or event_type in self.events

    def body(self, event_type: EventType, payload: Mapping[str, Any]) -> bytes:
        """The JSON body ``{"event": <value>, **payload}``; what JSON cannot hold is ``str()``."""
        return json.dumps({"event": event_type.value, **payload}, default=str).encode("utf-8")

    def request_headers(self, body: bytes) -> dict[str, str]:
        """Content type, the custom headers, and the signature of ``body`` with a secret."""
        headers = {"Content-Type": "application/json", **self.headers}
        if self.secret is not None:
            headers[SIGNATURE_HEADER] = "sha256=" + sign(self.secret, body)
        return headers

    def backoff_s(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` (0 for the first)."""
        try:
            return min(self.retry_backoff**attempt, MAX_BACKOFF_S)
        except OverflowError:
            return MAX_BACKOFF_S

    def as_dict(self) -> dict[str, Any]:
        """The options as the reference's ``WebhookManager._webhooks`` holds them."""
        return {
            "url": self.url,
            "events": None if self.events is None else {e.value for e in self.events},
            "headers": dict(self.headers),
            "secret": self.secret,
            "max_retries": self.max_retries,
            "timeout": self.timeout_s,
            "retry_backoff": self.retry_backoff,
        }


def sign(secret: bytes, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``body``: what follows ``sha256=`` in the signature header."""
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def _parse_url(url: object) -> tuple[bool, str, int, str]:
    """(tls, host, port, request target). Messages name the scheme but never echo the URL,
    whose path or query may hold a token."""
    text = _checks.check_text("url", url, error=ConfigurationError)
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise ConfigurationError("webhook url must not contain whitespace or control characters")
    if not text.isascii():
        raise ConfigurationError(
            "webhook url must be ASCII: percent-encode the path and write the host in IDNA form"
        )
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ConfigurationError(f"webhook url is not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        shown = f"{scheme}://" if scheme else "no scheme"
        raise ConfigurationError(f"webhook url must start with http:// or https://, not {shown}")
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError(
            "webhook url must not carry credentials (user:password@); "
            "send them in headers= (e.g. an Authorization header)"
        )
    host = parts.hostname
    if not host:
        raise ConfigurationError("webhook url has no host")
    if port == 0:
        raise ConfigurationError("webhook url has port 0; use a port from 1 to 65535")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme == "https", host, port or (443 if scheme == "https" else 80), target


def _check_events(events: object) -> frozenset[EventType] | None:
    if events is None:
        return None
    if isinstance(events, str | bytes):
        raise TypeError(
            f"events must be a list of event types, not a single {type(events).__name__}; "
            f"e.g. events=[EventType.JOB_FAILED]"
        )
    if not isinstance(events, Iterable):
        raise TypeError(f"events must be a list of event types, not {type(events).__name__}")
    chosen = frozenset(to_event_type(item, what="events") for item in events)
    if not chosen:
        raise ConfigurationError(
            "events must name at least one event type; pass None for every event"
        )
    return chosen


def to_event_type(item: object, *, what: str = "event_type") -> EventType:
    """An ``EventType``, or its string value as one; ``what`` names the argument in errors."""
    if isinstance(item, EventType):
        return item
    if isinstance(item, str):
        try:
            return EventType(item)
        except ValueError:
            raise ConfigurationError(
                f"unknown event type {item!r} in {what}; expected one of: {_EVENT_VALUES}"
            ) from None
    raise TypeError(
        f"{what} must hold EventType members or their values, not {type(item).__name__}"
    )


def _check_headers(headers: object) -> Mapping[str, str]:
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise TypeError(f"headers must be a dict of str to str, not {type(headers).__name__}")
    checked: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(
                "headers must map str to str, got "
                f"{type(name).__name__} -> {type(value).__name__} for {name!r}"
            )
        if not _HEADER_NAME.fullmatch(name):
            raise ConfigurationError(f"header name {name!r} is not a valid HTTP field name")
        if any(ch in value for ch in "\r\n\0"):
            raise ConfigurationError(f"header {name!r} has a CR, LF or NUL in its value")
        if not _is_latin1(value):
            raise ConfigurationError(f"header {name!r} has a value that is not Latin-1 text")
        if name.lower() in _RESERVED_HEADERS:
            raise ConfigurationError(f"header {name!r} is set by taskito and cannot be replaced")
        if name.lower() in seen:
            raise ConfigurationError(f"header {name!r} is given twice (names are case-insensitive)")
        seen.add(name.lower())
        checked[name] = value
    return checked


def _is_latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def _check_secret(secret: object) -> bytes | None:
    if secret is None:
        return None
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    if not isinstance(secret, bytes | bytearray | memoryview):
        raise TypeError(f"secret must be a str or bytes, not {type(secret).__name__}")
    if not len(secret):
        raise ConfigurationError("secret must not be empty; pass None for unsigned deliveries")
    return bytes(secret)


def _check_backoff(value: object) -> float:
    if not _checks.is_number(value):
        raise TypeError(f"retry_backoff must be a number, not {type(value).__name__}")
    try:
        backoff = float(cast(float, value))
    except OverflowError:
        backoff = math.inf
    if not math.isfinite(backoff) or backoff < 1.0:
        raise ConfigurationError(
            f"retry_backoff must be a finite number >= 1 (the sleep is retry_backoff ** attempt "
            f"seconds), got {value!r}"
        )
    return backoff


__all__ = ["MAX_BACKOFF_S", "SIGNATURE_HEADER", "Webhook", "sign", "to_event_type"]
