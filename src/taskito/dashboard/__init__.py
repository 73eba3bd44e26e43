"""The taskito dashboard: a REST API and web pages to watch and run a Queue, secure by
default (docs/dashboard.md). Needs the ``dashboard`` extra (Starlette and uvicorn).

``create_app(queue)`` is an ASGI app to mount in your own; ``serve_dashboard(queue)`` serves
it on 127.0.0.1:8080; ``Users(queue)`` manages who may sign in.
"""

from __future__ import annotations

from taskito.contrib import install_hint

try:
    import starlette  # noqa: F401
except ImportError as exc:
    raise ImportError(
        f"taskito.dashboard needs Starlette and uvicorn: {install_hint('dashboard')}",
        name=exc.name,
    ) from exc

from taskito.dashboard.api import ApiError
from taskito.dashboard.auth import ROLES, User, Users
from taskito.dashboard.server import create_app, serve_dashboard

__all__ = ["ROLES", "ApiError", "User", "Users", "create_app", "serve_dashboard"]
