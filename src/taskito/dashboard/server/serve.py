"""``serve_dashboard``: the dashboard on uvicorn, bound to loopback unless authentication
is configured (a user or a token exists): it refuses to start otherwise."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable

import taskito
from taskito.contrib import install_hint
from taskito.dashboard.auth import Users
from taskito.dashboard.auth.sessions import DEFAULT_TTL_S
from taskito.dashboard.server.app import create_app
from taskito.dashboard.server.security import is_loopback

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def check_bind(queue: taskito.Queue, host: str, auth: bool | None) -> None:
    """Refuse (``ConfigurationError``) to serve a non-loopback address without
    authentication: ``auth=False`` there, or no user or token in the queue's storage."""
    if not isinstance(host, str) or not host:
        raise TypeError(f"host must be a non-empty str, not {host!r}")
    if is_loopback(host):
        return
    if auth is False:
        raise taskito.ConfigurationError(
            f"refusing to serve the dashboard on {host!r} with auth=False: anyone who can "
            "reach that address could run and cancel jobs. Bind 127.0.0.1, or turn "
            "authentication on"
        )
    if not Users(queue).configured():
        raise taskito.ConfigurationError(
            f"refusing to serve the dashboard on {host!r} without authentication: create a "
            "user first (taskito dashboard --app MODULE:QUEUE --create-user NAME --role "
            "admin), or bind 127.0.0.1"
        )


def serve_dashboard(
    queue: taskito.Queue,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    auth: bool | None = None,
    secure_cookies: bool | None = None,
    allowed_hosts: Iterable[str] | None = None,
    session_ttl_s: float = DEFAULT_TTL_S,
    static_dir: str | os.PathLike[str] | None = None,
    title: str = "taskito",
    root_path: str = "",
) -> None:
    """Serve the dashboard with uvicorn until interrupted (Ctrl-C). It binds 127.0.0.1 by
    default; any other address needs authentication configured (``check_bind``).
    ``root_path`` is the prefix a reverse proxy strips before forwarding. Logging is left
    to the application: request lines go to the ``taskito.dashboard`` logger."""
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise ValueError(f"port must be an int between 0 and 65535, got {port!r}")
    check_bind(queue, host, auth)
    try:
        import uvicorn
    except ImportError as exc:  # pragma: no cover - the dashboard extra installs it
        raise ImportError(f"the dashboard needs uvicorn: {install_hint('dashboard')}") from exc
    app = create_app(
        queue,
        auth=auth,
        secure_cookies=secure_cookies,
        allowed_hosts=allowed_hosts,
        session_ttl_s=session_ttl_s,
        static_dir=static_dir,
        title=title,
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        root_path=root_path,
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        lifespan="off",
    )
    shown = f"[{host}]" if ":" in host else host
    print(f"taskito dashboard → http://{shown}:{port}{root_path}/", file=sys.stderr, flush=True)
    uvicorn.Server(config).run()


__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "check_bind", "serve_dashboard"]
