"""What every response and every log line gets: the security headers, request paths made
safe to log, and the loopback test behind the bind rule and the DNS-rebinding guard."""

from __future__ import annotations

import ipaddress
import logging
import time
import unicodedata
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("taskito.dashboard")

#: Sent on every response. The pages load nothing from anywhere but the dashboard itself.
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (
        b"content-security-policy",
        b"default-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'; "
        b"object-src 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)
_HEADER_NAMES = {name for name, _ in SECURITY_HEADERS}
MAX_LOGGED_PATH = 256
LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost", "ip6-loopback"})


def safe_path(path: str) -> str:
    """``path`` fit for a log line: control and format characters (C0, C1, DEL, line and
    paragraph separators, bidi marks) removed, then cut to 256 characters."""
    kept = "".join(
        char
        for char in path[: MAX_LOGGED_PATH * 4]
        if not unicodedata.category(char).startswith("C")
        and unicodedata.category(char) not in ("Zl", "Zp")
    )
    return kept[:MAX_LOGGED_PATH]


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, IPv6 with or without brackets) is this
    machine's loopback: ``localhost``, ``*.localhost``, 127.0.0.0/8, ::1."""
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def host_name(host_header: str) -> str:
    """The name part of a Host header (``[::1]:8080`` -> ``[::1]``, ``a:80`` -> ``a``)."""
    host_header = host_header.strip()
    if host_header.startswith("["):
        end = host_header.find("]")
        return host_header[: end + 1] if end > 0 else host_header
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


def host_allowed(host_header: str | None, allowed: Iterable[str] | None) -> bool:
    """Whether a request's Host is acceptable: with ``allowed`` None, loopback names only;
    otherwise one of ``allowed`` (names; a leading ``.`` allows subdomains)."""
    if not host_header:
        return False
    name = host_name(host_header).lower()
    if allowed is None:
        return is_loopback(name)
    for entry in allowed:
        entry = entry.lower()
        if name == entry or (entry.startswith(".") and name.endswith(entry)):
            return True
    return False


class SecurityHeaders:
    """ASGI middleware: adds ``SECURITY_HEADERS`` to every HTTP response (replacing any
    the app set), and logs one line per request with its path made safe."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() not in _HEADER_NAMES
                ]
                message = {**message, "headers": headers + list(SECURITY_HEADERS)}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            logger.info(
                "%s %s %d %.1fms",
                safe_path(str(scope.get("method", "?"))),
                safe_path(str(scope.get("path", ""))),
                status,
                (time.perf_counter() - started) * 1000,
            )


__all__ = [
    "SECURITY_HEADERS",
    "SecurityHeaders",
    "host_allowed",
    "host_name",
    "is_loopback",
    "safe_path",
]
