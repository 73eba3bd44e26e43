"""``Users``: the dashboard's users (name, role, password hash) and API tokens, stored in the
queue's settings under hidden ``auth:`` keys, so every process on the database shares them.

Roles: ``admin`` may do everything; ``viewer`` reads only. Tokens are random and stored as
their SHA-256 (they are long enough that a fast hash is safe); each has a name and a role.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal

import taskito
from taskito.dashboard.auth import passwords

Role = Literal["admin", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "viewer")
USER_PREFIX = "auth:user:"
TOKEN_PREFIX = "auth:token:"
SESSION_PREFIX = "auth:session:"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
#: Bearer tokens start with this, so a leaked one is easy to recognise and grep for.
TOKEN_MARK = "tsk_"


@dataclass(frozen=True)
class User:
    """Who a request acts as: a user, or a token (``token=True``, named by its name)."""

    name: str
    role: Role
    token: bool = False

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def check_name(kind: str, name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"{kind} name must be a str, not {type(name).__name__}")
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"{kind} name {name!r} must be 1 to 64 letters, digits or _.@- "
            "(starting with a letter or digit)"
        )
    return name


def check_role(role: object) -> Role:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    return role


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _load(raw: str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class Users:
    """Users and tokens of one queue's dashboard. Every method does storage I/O (the
    server calls them on a thread). ``password_cost`` is scrypt's N for new hashes (see
    ``passwords.DEFAULT_COST``; lower it in tests only)."""

    def __init__(self, queue: taskito.Queue, *, password_cost: int = passwords.DEFAULT_COST):
        self._queue = queue
        self._cost = passwords.check_cost(password_cost)

    # --- users ---------------------------------------------------------------------------

    def create(self, name: str, password: str, role: Role = "viewer") -> None:
        """Add a user; ``ValueError`` when the name is taken or an argument is invalid."""
        key = USER_PREFIX + check_name("user", name)
        role = check_role(role)
        if self._queue.get_setting(key) is not None:
            raise ValueError(f"user {name!r} already exists")
        self._write_user(name, role, passwords.hash_password(password, self._cost))

    def _write_user(self, name: str, role: Role, password_hash: str) -> None:
        record = {"role": role, "password": password_hash, "created_at": _now_ms()}
        self._queue.set_setting(USER_PREFIX + name, json.dumps(record))

    def _record(self, name: str) -> dict[str, Any] | None:
        record = _load(self._queue.get_setting(USER_PREFIX + name))
        if record is None or record.get("role") not in ROLES:
            return None
        return record

    def _existing(self, name: str) -> dict[str, Any]:
        record = self._record(check_name("user", name))
        if record is None:
            raise ValueError(f"no user named {name!r}")
        return record

    def set_password(self, name: str, password: str) -> None:
        """Change a user's password and end their sessions."""
        record = self._existing(name)
        self._write_user(name, record["role"], passwords.hash_password(password, self._cost))
        self.end_sessions(name)

    def set_role(self, name: str, role: Role) -> None:
        record = self._existing(name)
        self._write_user(name, check_role(role), record["password"])
        self.end_sessions(name)

    def delete(self, name: str) -> bool:
        """Remove a user and end their sessions; False when there was none."""
        deleted = self._queue.delete_setting(USER_PREFIX + check_name("user", name))
        self.end_sessions(name)
        return deleted

    def get(self, name: str) -> User | None:
        record = self._record(name) if _NAME.fullmatch(name) else None
        return None if record is None else User(name, record["role"])

    def list_users(self) -> list[dict[str, Any]]:
        """``[{name, role, created_at}]`` by name; no hashes."""
        found = []
        for key, raw in sorted(self._queue.list_settings().items()):
            record = _load(raw) if key.startswith(USER_PREFIX) else None
            if record is not None and record.get("role") in ROLES:
                name = key[len(USER_PREFIX) :]
                found.append(
                    {"name": name, "role": record["role"], "created_at": record.get("created_at")}
                )
        return found

    def authenticate(self, name: str, password: str) -> User | None:
        """The user when the password matches; None otherwise (an unknown name costs the
        same time as a wrong password)."""
        record = self._record(name) if _NAME.fullmatch(name) else None
        if record is None:
            passwords.spend_equal_time(password, self._cost)
            return None
        if not passwords.verify_password(password, str(record.get("password", ""))):
            return None
        return User(name, record["role"])

    # --- tokens --------------------------------------------------------------------------

    def create_token(self, name: str, role: Role = "viewer") -> str:
        """A new bearer token (shown once: only its digest is stored) for scripts and
        ``/metrics``; ``Authorization: Bearer <token>`` acts with ``role``."""
        check_name("token", name)
        role = check_role(role)
        token = TOKEN_MARK + secrets.token_urlsafe(32)
        record = {"name": name, "role": role, "created_at": _now_ms()}
        self._queue.set_setting(TOKEN_PREFIX + digest(token), json.dumps(record))
        return token

    def list_tokens(self) -> list[dict[str, Any]]:
        """``[{name, role, created_at}]``; the tokens themselves are not stored."""
        found = []
        for key, raw in self._queue.list_settings().items():
            record = _load(raw) if key.startswith(TOKEN_PREFIX) else None
            if record is not None and record.get("role") in ROLES:
                found.append({k: record.get(k) for k in ("name", "role", "created_at")})
        return sorted(found, key=lambda t: (str(t["name"]), t["created_at"] or 0))

    def revoke_token(self, name: str) -> int:
        """Delete every token named ``name``; return how many."""
        check_name("token", name)
        revoked = 0
        for key, raw in self._queue.list_settings().items():
            record = _load(raw) if key.startswith(TOKEN_PREFIX) else None
            if record is not None and record.get("name") == name:
                revoked += self._queue.delete_setting(key)
        return revoked

    def token_user(self, token: str) -> User | None:
        if not token.startswith(TOKEN_MARK) or len(token) > 128:
            return None
        record = _load(self._queue.get_setting(TOKEN_PREFIX + digest(token)))
        if record is None or record.get("role") not in ROLES:
            return None
        return User(str(record.get("name")), record["role"], token=True)

    # --- the whole store -----------------------------------------------------------------

    def configured(self) -> bool:
        """Whether any user or token exists (authentication is then on)."""
        return any(
            key.startswith((USER_PREFIX, TOKEN_PREFIX)) for key in self._queue.list_settings()
        )

    def end_sessions(self, name: str) -> int:
        """Delete every session of user ``name``; return how many."""
        ended = 0
        for key, raw in self._queue.list_settings().items():
            record = _load(raw) if key.startswith(SESSION_PREFIX) else None
            if record is not None and record.get("user") == name:
                ended += self._queue.delete_setting(key)
        return ended


__all__ = [
    "ROLES",
    "SESSION_PREFIX",
    "TOKEN_PREFIX",
    "USER_PREFIX",
    "Role",
    "User",
    "Users",
    "check_name",
    "check_role",
    "digest",
]
