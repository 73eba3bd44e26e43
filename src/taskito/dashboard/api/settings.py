"""Routes over the settings store: list, read, write and delete one key. Keys under
``auth:`` hold the dashboard's users, tokens and sessions, and keys under ``retention:`` the
workers' retention reports: hidden from the list and refused by every route here."""

from __future__ import annotations

import json
import re
from typing import Any

import taskito
from taskito.dashboard.api.errors import ApiError, bad_request, not_found

#: Prefixes of the settings the dashboard keeps for itself.
HIDDEN_PREFIXES = ("auth:", "retention:")
MAX_KEY_LENGTH = 256
#: The longest stored value, in UTF-8 bytes.
MAX_VALUE_BYTES = 64 * 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def is_hidden(key: str) -> bool:
    return key.startswith(HIDDEN_PREFIXES)


def check_key(key: str) -> str:
    """A settings key as the API takes it: 1-256 characters, no control characters, not
    under a hidden prefix (403)."""
    if not key:
        raise bad_request("setting key must not be empty")
    if len(key) > MAX_KEY_LENGTH:
        raise bad_request(f"setting key must be at most {MAX_KEY_LENGTH} characters")
    if _CONTROL.search(key):
        raise bad_request("setting key must not contain control characters")
    if is_hidden(key):
        prefix = next(p for p in HIDDEN_PREFIXES if key.startswith(p))
        raise ApiError(403, f"setting keys under {prefix!r} are reserved")
    return key


def encode_value(value: Any) -> str:
    """The stored text: a string as it is, anything else as compact JSON; at most 64 KiB."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, separators=(",", ":"), allow_nan=False)
        except ValueError:
            raise bad_request("setting value must be valid JSON (no NaN or Infinity)") from None
    if "\x00" in text:
        raise bad_request("setting value must not contain NUL characters")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_VALUE_BYTES:
        raise bad_request(f"setting value must be at most {MAX_VALUE_BYTES} bytes")
    return text


def list_settings(queue: taskito.Queue) -> dict[str, str]:
    return {key: value for key, value in queue.list_settings().items() if not is_hidden(key)}


def get_setting(queue: taskito.Queue, key: str) -> dict[str, str]:
    value = queue.get_setting(check_key(key))
    if value is None:
        raise not_found("Setting not found")
    return {"key": key, "value": value}


def put_setting(queue: taskito.Queue, key: str, body: Any) -> dict[str, str]:
    """Body ``{"value": any}``."""
    check_key(key)
    if not isinstance(body, dict) or "value" not in body:
        raise bad_request('the request body must be a JSON object with a "value"')
    text = encode_value(body["value"])
    try:
        queue.set_setting(key, text)
    except ValueError as exc:  # text storage refuses (a lone surrogate)
        raise bad_request(f"setting value cannot be stored: {exc}") from None
    return {"key": key, "value": text}


def delete_setting(queue: taskito.Queue, key: str) -> dict[str, bool]:
    return {"deleted": queue.delete_setting(check_key(key))}


__all__ = [
    "HIDDEN_PREFIXES",
    "MAX_KEY_LENGTH",
    "MAX_VALUE_BYTES",
    "check_key",
    "delete_setting",
    "encode_value",
    "get_setting",
    "is_hidden",
    "list_settings",
    "put_setting",
]
