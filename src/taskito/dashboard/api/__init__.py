"""The dashboard's JSON layer: one function per REST route, taking the Queue and parsed
parameters and returning JSON data or raising ``ApiError``; ``routes.ROUTES`` binds them to
methods and paths. Nothing here knows the web framework."""

from __future__ import annotations

from taskito.dashboard.api.errors import ApiError
from taskito.dashboard.api.routes import ROUTES, Call, PlainText, Route

__all__ = ["ROUTES", "ApiError", "Call", "PlainText", "Route"]
