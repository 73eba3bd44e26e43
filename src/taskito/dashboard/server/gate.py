"""Who may do what, decided once per request: the authentication mode, the identity (a
bearer token, a session, or the open loopback mode), the Host and client rules, the CSRF
check on every mutation, and the role check. Every refusal is an ``ApiError``."""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from taskito.dashboard.api.errors import ApiError
from taskito.dashboard.auth import Session, Sessions, User, Users
from taskito.dashboard.auth.sessions import looks_like_secret, new_secret
from taskito.dashboard.server.config import (
    AUTH_PROBE_TTL_S,
    CSRF_COOKIE,
    CSRF_HEADER,
    SESSION_COOKIE,
    DashboardConfig,
)
from taskito.dashboard.server.security import host_allowed, is_loopback

MUTATIONS = frozenset({"POST", "PUT", "DELETE", "PATCH"})


def not_authenticated() -> ApiError:
    return ApiError(401, "not_authenticated")


def forbidden() -> ApiError:
    return ApiError(403, "forbidden")


def csrf_failed() -> ApiError:
    return ApiError(403, "csrf_failed")


def host_not_allowed() -> ApiError:
    return ApiError(403, "host_not_allowed")


@dataclass(frozen=True)
class Identity:
    """Who a request acts as. ``user`` is None in the open mode (authentication off, a
    loopback client), which may do everything."""

    via: Literal["open", "session", "token"]
    user: User | None = None
    session: Session | None = None

    @property
    def is_admin(self) -> bool:
        return self.user is None or self.user.is_admin


OPEN = Identity("open")


class Gate:
    def __init__(self, config: DashboardConfig, users: Users, sessions: Sessions) -> None:
        self.config = config
        self.users = users
        self.sessions = sessions
        self._probed: tuple[float, bool] | None = None

    async def auth_enabled(self) -> bool:
        """On, off, or in ``auto`` mode whether a user or token exists (remembered a few
        seconds; once seen on, it stays on for the life of the app)."""
        if self.config.auth is not None:
            return self.config.auth
        now = time.monotonic()
        probed = self._probed
        if probed is not None and (probed[1] or now - probed[0] < AUTH_PROBE_TTL_S):
            return probed[1]
        enabled = await run_in_threadpool(self.users.configured)
        self._probed = (now, enabled)
        return enabled

    def local_request(self, request: Request) -> bool:
        """A loopback client that named a loopback host (the DNS-rebinding guard)."""
        client = request.client
        if client is not None and client.host and not is_loopback(client.host):
            return False
        return host_allowed(request.headers.get("host"), None)

    async def identify(self, request: Request) -> Identity | None:
        """The request's identity; None when authentication is on and it has none. Raises
        403 ``host_not_allowed`` for a Host (or, in the open mode, a client) not allowed,
        and 401 for an unknown bearer token."""
        if not await self.auth_enabled():
            if not self.local_request(request):
                raise host_not_allowed()
            return OPEN
        allowed = self.config.allowed_hosts
        if allowed is not None and not host_allowed(request.headers.get("host"), allowed):
            raise host_not_allowed()
        bearer = _bearer(request)
        if bearer is not None:
            user = await run_in_threadpool(self.users.token_user, bearer)
            if user is None:
                raise not_authenticated()
            return Identity("token", user)
        token = request.cookies.get(SESSION_COOKIE)
        if not looks_like_secret(token):
            return None
        session = await run_in_threadpool(self.sessions.get, token)
        if session is None:
            return None
        user = await run_in_threadpool(self.users.get, session.user)
        return None if user is None else Identity("session", user, session)

    async def admit(self, request: Request, access: str) -> Identity:
        """The identity of a request to a route of ``access`` ("read" or "admin"), after
        the CSRF check of a mutation; raises the refusal otherwise."""
        identity = await self.identify(request)
        if identity is None:
            raise not_authenticated()
        if request.method in MUTATIONS:
            self.check_csrf(request, identity, request.headers.get(CSRF_HEADER))
        if access == "admin" and not identity.is_admin:
            raise forbidden()
        return identity

    def check_csrf(self, request: Request, identity: Identity | None, sent: str | None) -> None:
        """Double submit: the token sent (header or form field) equals the CSRF cookie and,
        with a session, the session's token; an ``Origin`` header must name this host. A
        bearer token needs none (browsers never send one by themselves)."""
        if identity is not None and identity.via == "token":
            return
        cookie = request.cookies.get(CSRF_COOKIE)
        if not (looks_like_secret(sent) and looks_like_secret(cookie)):
            raise csrf_failed()
        assert sent is not None and cookie is not None
        if not hmac.compare_digest(sent, cookie):
            raise csrf_failed()
        session = identity.session if identity is not None else None
        if session is not None and not hmac.compare_digest(sent, session.csrf):
            raise csrf_failed()
        origin = request.headers.get("origin")
        if origin is not None and urlsplit(origin).netloc.lower() != (
            request.headers.get("host", "").lower()
        ):
            raise csrf_failed()

    # --- cookies -------------------------------------------------------------------------

    def secure(self, request: Request) -> bool:
        if self.config.secure_cookies is not None:
            return self.config.secure_cookies
        return request.url.scheme == "https"

    def set_cookie(
        self, request: Request, response: Response, name: str, value: str, *, http_only: bool
    ) -> None:
        response.set_cookie(
            name,
            value,
            path=cookie_path(request),
            secure=self.secure(request),
            httponly=http_only,
            samesite="strict",
        )

    def clear_cookie(self, request: Request, response: Response, name: str) -> None:
        response.delete_cookie(
            name, path=cookie_path(request), secure=self.secure(request), samesite="strict"
        )

    def csrf_token_for(self, request: Request, identity: Identity | None) -> str:
        """The CSRF token this client should hold: its session's, else its cookie's, else
        a new one."""
        if identity is not None and identity.session is not None:
            return identity.session.csrf
        cookie = request.cookies.get(CSRF_COOKIE)
        if looks_like_secret(cookie):
            assert cookie is not None
            return cookie
        return new_secret()

    def keep_csrf_cookie(self, request: Request, response: Response, token: str) -> None:
        """Set the CSRF cookie to ``token`` unless the client holds it already."""
        if request.cookies.get(CSRF_COOKIE) != token:
            self.set_cookie(request, response, CSRF_COOKIE, token, http_only=False)


def root_path(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def cookie_path(request: Request) -> str:
    return root_path(request) or "/"


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise not_authenticated()
    return value.strip()


__all__ = [
    "MUTATIONS",
    "OPEN",
    "Gate",
    "Identity",
    "cookie_path",
    "csrf_failed",
    "forbidden",
    "host_not_allowed",
    "not_authenticated",
    "root_path",
]
