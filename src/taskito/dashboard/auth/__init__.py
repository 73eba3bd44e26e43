"""Dashboard authentication: password hashing, users and tokens, server-side sessions."""

from __future__ import annotations

from taskito.dashboard.auth.sessions import Session, Sessions
from taskito.dashboard.auth.users import ROLES, Role, User, Users

__all__ = ["ROLES", "Role", "Session", "Sessions", "User", "Users"]
