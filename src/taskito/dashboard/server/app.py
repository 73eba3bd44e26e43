"""``create_app``: the dashboard as an ASGI application (Starlette). It serves the route
table of ``api.routes`` behind the gate, the sign-in routes, the assets and the page shell,
and calls the Queue only on worker threads, never on the event loop."""

from __future__ import annotations

import html
import os
from collections.abc import Awaitable, Callable, Iterable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Route as StarletteRoute

import taskito
from taskito.contrib import install_hint
from taskito.dashboard.api.errors import ApiError, not_found
from taskito.dashboard.api.routes import ROUTES, Call, Route
from taskito.dashboard.auth import Sessions, Users
from taskito.dashboard.auth.sessions import DEFAULT_TTL_S
from taskito.dashboard.server.config import DashboardConfig
from taskito.dashboard.server.gate import MUTATIONS, Gate, root_path
from taskito.dashboard.server.http import (
    answer,
    error_response,
    failure_response,
    read_json,
)
from taskito.dashboard.server.login import Login
from taskito.dashboard.server.security import SecurityHeaders, safe_path
from taskito.dashboard.server.static import StaticAssets, content_type_for

Endpoint = Callable[[Request], Awaitable[Response]]

_MISSING_PAGES = (
    "<!doctype html><title>taskito dashboard</title><h1>The dashboard pages are missing</h1>"
    "<p>This installation of taskito has no <code>dashboard/static/index.html</code>. "
    f"Reinstall it with <code>{html.escape(install_hint('dashboard'))}</code>.</p>"
)


def create_app(
    queue: taskito.Queue,
    *,
    auth: bool | None = None,
    secure_cookies: bool | None = None,
    allowed_hosts: Iterable[str] | None = None,
    session_ttl_s: float = DEFAULT_TTL_S,
    static_dir: str | os.PathLike[str] | None = None,
    title: str = "taskito",
) -> Starlette:
    """The dashboard for ``queue`` as an ASGI app, to serve (``serve_dashboard``) or to
    mount in your own (``Mount("/taskito", app=create_app(queue))``; every link, asset and
    cookie follows the mount's ``root_path``).

    ``auth``: None turns authentication on as soon as a user or token exists
    (``taskito dashboard --create-user``), True requires it, False turns it off. Without
    it the dashboard answers loopback clients that name a loopback host only. See
    docs/dashboard.md for ``secure_cookies``, ``allowed_hosts`` and the rest.
    """
    if not isinstance(queue, taskito.Queue):
        raise TypeError(f"create_app() needs a taskito.Queue, not {type(queue).__name__}")
    config = DashboardConfig.from_options(
        auth=auth,
        secure_cookies=secure_cookies,
        allowed_hosts=allowed_hosts,
        session_ttl_s=session_ttl_s,
        static_dir=static_dir,
        title=title,
    )
    gate = Gate(config, Users(queue), Sessions(queue, config.session_ttl_s))
    assets = StaticAssets(config.static_dir)
    login = Login(gate, config.title)
    routes = [_table_route(queue, gate, route) for route in ROUTES]
    routes += [
        StarletteRoute("/api/auth/status", _guarded(login.status), methods=["GET"]),
        StarletteRoute("/api/auth/login", _guarded(login.login), methods=["POST"]),
        StarletteRoute("/api/auth/logout", _guarded(login.logout), methods=["POST"]),
        StarletteRoute("/login", _guarded(login.page), methods=["GET"]),
        StarletteRoute("/login", _guarded(login.submit), methods=["POST"]),
        StarletteRoute("/static/{path:path}", _guarded(_static(assets)), methods=["GET"]),
        StarletteRoute("/{path:path}", _guarded(_page(gate, assets)), methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={HTTPException: _http_error},
    )
    app.state.queue = queue
    app.state.config = config
    return app


def _table_route(queue: taskito.Queue, gate: Gate, route: Route) -> StarletteRoute:
    async def endpoint(request: Request) -> Response:
        if route.access != "public":
            await gate.admit(request, route.access)
        body = await read_json(request) if request.method in MUTATIONS else None
        call = Call(dict(request.path_params), dict(request.query_params), body)
        result = await run_in_threadpool(route.handler, queue, call)
        return answer(result)

    return StarletteRoute(route.path, _guarded(endpoint), methods=[route.method])


def _guarded(endpoint: Endpoint) -> Endpoint:
    """``endpoint`` with every exception turned into its answer (``http.failure_response``)."""

    async def guarded(request: Request) -> Response:
        try:
            return await endpoint(request)
        except Exception as exc:
            return failure_response(exc, f"{request.method} {safe_path(request.url.path)}")

    return guarded


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 and 405, as ``{"error"}`` bodies."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    message = {404: "Not found", 405: "Method not allowed"}.get(status, "Request refused")
    response = error_response(ApiError(status, message))
    if isinstance(exc, HTTPException) and exc.headers:
        response.headers.update(exc.headers)
    return response


def _static(assets: StaticAssets) -> Endpoint:
    async def static(request: Request) -> Response:
        relative = request.path_params["path"]
        # The route's pattern ends in "$", which also matches before a final newline: the
        # parameter must be the whole rest of the path.
        if not str(request.scope["path"]).endswith("/static/" + relative):
            raise not_found("Asset not found")
        path = await run_in_threadpool(assets.resolve, relative)
        if path is None:
            raise not_found("Asset not found")
        return FileResponse(
            path, media_type=content_type_for(path.name), headers={"cache-control": "no-cache"}
        )

    return static


def _page(gate: Gate, assets: StaticAssets) -> Endpoint:
    """Every other GET: the page shell (``index.html``) for the client's routes, after
    sign-in; ``/api/...`` paths that no route serves are 404."""

    async def page(request: Request) -> Response:
        if request.path_params["path"].startswith("api/"):
            raise not_found("Not found")
        identity = await gate.identify(request)
        root = root_path(request)
        if identity is None:
            return RedirectResponse(root + "/login", 303)
        shell = await run_in_threadpool(assets.index_html, root)
        if shell is None:
            return HTMLResponse(_MISSING_PAGES, 503)
        response = HTMLResponse(shell, headers={"cache-control": "no-cache"})
        gate.keep_csrf_cookie(request, response, gate.csrf_token_for(request, identity))
        return response

    return page


__all__ = ["create_app"]
