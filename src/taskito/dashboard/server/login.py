"""Signing in and out: the login page (server-rendered HTML, the dashboard's own CSS, no
script), its form post, the JSON routes ``/api/auth/status|login|logout``, and the
throttle on failed attempts."""

from __future__ import annotations

import html
import threading
import time
from collections import deque
from collections.abc import Mapping
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from taskito.dashboard.api.errors import ApiError, bad_request
from taskito.dashboard.api.params import body_object
from taskito.dashboard.auth import User
from taskito.dashboard.server.config import CSRF_COOKIE, CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE
from taskito.dashboard.server.gate import Gate, root_path
from taskito.dashboard.server.http import json_response, read_body, read_json

#: Failed sign-ins allowed per client address in ``WINDOW_S``; then 429 until it passes.
MAX_FAILURES = 10
WINDOW_S = 300.0
MAX_FIELD = 1024


class LoginThrottle:
    """Counts failed sign-ins per client address, in memory (one process)."""

    def __init__(self, max_failures: int = MAX_FAILURES, window_s: float = WINDOW_S) -> None:
        self._max = max_failures
        self._window = window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(client, deque())
        while failures and failures[0] <= now - self._window:
            failures.popleft()
        return failures

    def check(self, client: str) -> None:
        with self._lock:
            if len(self._recent(client, time.monotonic())) >= self._max:
                raise ApiError(429, "too_many_attempts")

    def failed(self, client: str) -> None:
        with self._lock:
            now = time.monotonic()
            self._recent(client, now).append(now)
            if len(self._failures) > 10_000:  # forget the quiet ones
                for other in [c for c, f in self._failures.items() if not f]:
                    del self._failures[other]

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)


class Login:
    """The sign-in routes of one app."""

    def __init__(self, gate: Gate, title: str) -> None:
        self.gate = gate
        self.title = title
        self.throttle = LoginThrottle()

    async def _sign_in(
        self, request: Request, name: object, password: object
    ) -> tuple[User, str, str]:
        """Check the credentials; return the user, the session token and its CSRF token."""
        if not await self.gate.auth_enabled():
            raise bad_request("authentication is off: there is nothing to sign in to")
        if not isinstance(name, str) or not isinstance(password, str):
            raise bad_request("username and password must be strings")
        if len(name) > MAX_FIELD or len(password) > MAX_FIELD:
            raise ApiError(401, "invalid_credentials")
        client = request.client.host if request.client else "?"
        self.throttle.check(client)
        user = await run_in_threadpool(self.gate.users.authenticate, name, password)
        if user is None:
            self.throttle.failed(client)
            raise ApiError(401, "invalid_credentials")
        self.throttle.succeeded(client)
        token, session = await run_in_threadpool(self.gate.sessions.create, user.name)
        return user, token, session.csrf

    def _start_session(self, request: Request, response: Response, token: str, csrf: str) -> None:
        self.gate.set_cookie(request, response, SESSION_COOKIE, token, http_only=True)
        self.gate.set_cookie(request, response, CSRF_COOKIE, csrf, http_only=False)

    # --- JSON ----------------------------------------------------------------------------

    async def status(self, request: Request) -> Response:
        """``{auth_enabled, authenticated, user, role}`` (open to anyone)."""
        enabled = await self.gate.auth_enabled()
        try:
            identity = await self.gate.identify(request)
        except ApiError:
            identity = None
        user = identity.user if identity is not None else None
        response = json_response(
            {
                "auth_enabled": enabled,
                "authenticated": identity is not None,
                "user": user.name if user else None,
                "role": "admin"
                if identity is not None and user is None
                else (user.role if user else None),
            }
        )
        self.gate.keep_csrf_cookie(request, response, self.gate.csrf_token_for(request, identity))
        return response

    async def login(self, request: Request) -> Response:
        """``{"username", "password"}`` -> ``{user, role}`` with the session cookies."""
        self.gate.check_csrf(request, None, request.headers.get(CSRF_HEADER))
        body = body_object(await read_json(request))
        user, token, csrf = await self._sign_in(request, body.get("username"), body.get("password"))
        response = json_response({"user": user.name, "role": user.role})
        self._start_session(request, response, token, csrf)
        return response

    async def logout(self, request: Request) -> Response:
        identity = await self.gate.identify(request)
        self.gate.check_csrf(request, identity, request.headers.get(CSRF_HEADER))
        ended = await run_in_threadpool(self.gate.sessions.end, request.cookies.get(SESSION_COOKIE))
        response = json_response({"logged_out": ended})
        self.gate.clear_cookie(request, response, SESSION_COOKIE)
        self.gate.clear_cookie(request, response, CSRF_COOKIE)
        return response

    # --- the page ------------------------------------------------------------------------

    async def page(self, request: Request) -> Response:
        if not await self.gate.auth_enabled():
            return RedirectResponse(root_path(request) + "/", 303)
        return self._render(request, None, 200)

    async def submit(self, request: Request) -> Response:
        """The form post: a session and a redirect to the dashboard, or the page again with
        the reason."""
        form = _form(await read_body(request))
        self.gate.check_csrf(request, None, form.get(CSRF_FIELD))
        try:
            _, token, csrf = await self._sign_in(
                request, form.get("username", ""), form.get("password", "")
            )
        except ApiError as exc:
            message = {
                401: "Wrong user name or password.",
                429: "Too many failed attempts; try again in a few minutes.",
            }.get(exc.status, exc.message)
            return self._render(request, message, exc.status)
        response = RedirectResponse(root_path(request) + "/", 303)
        self._start_session(request, response, token, csrf)
        return response

    def _render(self, request: Request, message: str | None, status: int) -> Response:
        csrf = self.gate.csrf_token_for(request, None)
        page = login_html(root_path(request), self.title, csrf, message)
        response = Response(
            page, status, headers={"cache-control": "no-store"}, media_type="text/html"
        )
        self.gate.keep_csrf_cookie(request, response, csrf)
        return response


def _form(body: bytes) -> Mapping[str, str]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_request("the form is not UTF-8") from None
    return dict(parse_qsl(text, keep_blank_values=True, max_num_fields=10))


def login_html(root: str, title: str, csrf: str, message: str | None) -> str:
    """The sign-in page; every interpolated value is escaped."""
    esc = html.escape
    alert = f'<p class="login-error" role="alert">{esc(message)}</p>' if message else ""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · {esc(title)}</title>
<link rel="stylesheet" href="{esc(root)}/static/login.css">
</head>
<body class="login">
<main class="login-card">
<h1>{esc(title)}</h1>
<p class="login-lead">Sign in to the dashboard.</p>
{alert}
<form method="post" action="{esc(root)}/login">
<input type="hidden" name="{CSRF_FIELD}" value="{esc(csrf)}">
<label for="username">User name</label>
<input id="username" name="username" autocomplete="username" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
</main>
</body>
</html>
"""


__all__ = ["Login", "LoginThrottle", "login_html"]
