"""The dashboard's web server: the ASGI app (``create_app``) and its uvicorn runner."""

from __future__ import annotations

from taskito.dashboard.server.app import create_app
from taskito.dashboard.server.serve import serve_dashboard

__all__ = ["create_app", "serve_dashboard"]
