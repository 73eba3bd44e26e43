"""Server-side sessions: a random token in the browser's cookie, and under its SHA-256 in
the settings store the user it belongs to, its CSRF token and its expiry. A session ends at
its expiry, at logout, or when its user is deleted or changed (``Users.end_sessions``)."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass

import taskito
from taskito.dashboard.auth.users import SESSION_PREFIX, digest

#: A session lasts this long from login (12 hours), unless configured otherwise.
DEFAULT_TTL_S = 12 * 3600
_TOKEN_LENGTH = 43  # secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Session:
    user: str
    csrf: str
    expires_at: int


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def looks_like_secret(value: str | None) -> bool:
    """A value shaped as ``new_secret`` makes them (anything else is not looked up)."""
    return (
        value is not None
        and len(value) == _TOKEN_LENGTH
        and all(c.isalnum() or c in "-_" for c in value)
        and value.isascii()
    )


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class Sessions:
    """Sessions of one queue's dashboard; every method does storage I/O."""

    def __init__(self, queue: taskito.Queue, ttl_s: float = DEFAULT_TTL_S) -> None:
        self._queue = queue
        self._ttl_ms = round(ttl_s * 1000)

    def create(self, user: str) -> tuple[str, Session]:
        """A new session for ``user``: ``(token for the cookie, session)``. Expired sessions
        are swept first (logins are rare, so the sweep costs little)."""
        self.sweep()
        token = new_secret()
        session = Session(user, new_secret(), _now_ms() + self._ttl_ms)
        record = {"user": user, "csrf": session.csrf, "expires_at": session.expires_at}
        self._queue.set_setting(SESSION_PREFIX + digest(token), json.dumps(record))
        return token, session

    def get(self, token: str | None) -> Session | None:
        if token is None or not looks_like_secret(token):
            return None
        key = SESSION_PREFIX + digest(token)
        raw = self._queue.get_setting(key)
        session = _parse(raw)
        if session is None:
            return None
        if session.expires_at <= _now_ms():
            self._queue.delete_setting(key)
            return None
        return session

    def end(self, token: str | None) -> bool:
        if token is None or not looks_like_secret(token):
            return False
        return self._queue.delete_setting(SESSION_PREFIX + digest(token))

    def sweep(self) -> int:
        """Delete expired sessions; return how many."""
        now = _now_ms()
        swept = 0
        for key, raw in self._queue.list_settings().items():
            if key.startswith(SESSION_PREFIX):
                session = _parse(raw)
                if session is None or session.expires_at <= now:
                    swept += self._queue.delete_setting(key)
        return swept


def _parse(raw: str | None) -> Session | None:
    if raw is None:
        return None
    try:
        record = json.loads(raw)
        return Session(str(record["user"]), str(record["csrf"]), int(record["expires_at"]))
    except (ValueError, KeyError, TypeError):
        return None


__all__ = ["DEFAULT_TTL_S", "Session", "Sessions", "looks_like_secret", "new_secret"]
