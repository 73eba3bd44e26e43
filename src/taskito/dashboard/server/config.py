"""``DashboardConfig``: the options of ``create_app``, checked once, and the names the
server gives its cookies and limits."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass

from taskito.dashboard.auth import sessions

SESSION_COOKIE = "taskito_session"
CSRF_COOKIE = "taskito_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
#: The largest request body taken (1 MiB); a bigger one is answered 413 unread.
MAX_BODY_BYTES = 1024 * 1024
#: How long "is authentication on?" is remembered in ``auth="auto"`` mode.
AUTH_PROBE_TTL_S = 5.0


@dataclass(frozen=True)
class DashboardConfig:
    """``auth``: None ("auto": on as soon as a user or token exists), True (required) or
    False (off: loopback clients and Host names only). ``secure_cookies``: None marks
    cookies Secure when the request came over https. ``allowed_hosts``: the Host names
    accepted with authentication on (None: any); without it only loopback names are."""

    auth: bool | None = None
    secure_cookies: bool | None = None
    allowed_hosts: tuple[str, ...] | None = None
    session_ttl_s: float = sessions.DEFAULT_TTL_S
    static_dir: str | None = None
    title: str = "taskito"

    @classmethod
    def from_options(
        cls,
        *,
        auth: bool | None,
        secure_cookies: bool | None,
        allowed_hosts: Iterable[str] | None,
        session_ttl_s: float,
        static_dir: str | os.PathLike[str] | None,
        title: str,
    ) -> DashboardConfig:
        for name, value in (("auth", auth), ("secure_cookies", secure_cookies)):
            if value is not None and not isinstance(value, bool):
                raise TypeError(f"{name} must be True, False or None, not {value!r}")
        hosts = None
        if allowed_hosts is not None:
            if isinstance(allowed_hosts, str):
                raise TypeError("allowed_hosts must be a list of host names, not a str")
            hosts = tuple(_check_host(host) for host in allowed_hosts)
        if (
            not isinstance(session_ttl_s, int | float)
            or isinstance(session_ttl_s, bool)
            or not math.isfinite(session_ttl_s)
            or not 60 <= session_ttl_s <= 30 * 86400
        ):
            raise ValueError(f"session_ttl_s must be 60 s to 30 days, got {session_ttl_s!r}")
        return cls(
            auth=auth,
            secure_cookies=secure_cookies,
            allowed_hosts=hosts,
            session_ttl_s=float(session_ttl_s),
            static_dir=None if static_dir is None else os.fspath(static_dir),
            title=_check_title(title),
        )


def _check_title(title: object) -> str:
    if not isinstance(title, str) or not 1 <= len(title) <= 100:
        raise ValueError(f"title must be a str of 1 to 100 characters, got {title!r}")
    return title


def _check_host(host: object) -> str:
    if (
        not isinstance(host, str)
        or not host
        or any(c in host for c in " /\\\x00")
        or (":" in host and not host.startswith("["))
    ):
        raise ValueError(f"allowed_hosts entries must be host names, got {host!r}")
    return host.lower()


__all__ = [
    "AUTH_PROBE_TTL_S",
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "MAX_BODY_BYTES",
    "SESSION_COOKIE",
    "DashboardConfig",
]
