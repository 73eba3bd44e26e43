"""Secrets kept out of messages: the password of a database URL, and of a libpq key=value
connection string, blanked wherever a text quotes one (errors, log lines, banners).

Every message that names a database goes through ``redact_url`` or ``redact_secrets``, driver
messages included (docs/architecture.md, invariant 10).
"""

from __future__ import annotations

import re
from urllib.parse import unquote

MASK = "***"

# scheme://user:password@ — the password runs to the last "@" before a "/" or a space, so a
# raw "@" inside it (not percent-encoded, as users do write) is blanked too.
_URL_PASSWORD = re.compile(
    r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^:@/\s]*:)(?P<password>[^\s/]*)(?=@)"
)
# password=secret or password='sec ret' in a conninfo string or a URL query.
_KEY_VALUE_PASSWORD = re.compile(
    r"(?P<head>\b(?:password|passwd|pwd)\s*=\s*)(?P<password>'(?:[^'\\]|\\.)*'|[^\s&;,]+)",
    re.IGNORECASE,
)


def redact_url(url: str) -> str:
    """``url`` with the password of its user information (and any ``password=`` parameter)
    replaced by ``***``; the rest, user name included, is kept for the reader."""
    if not url:
        return url
    text = _URL_PASSWORD.sub(lambda m: m["head"] + MASK if m["password"] else m[0], url)
    return _KEY_VALUE_PASSWORD.sub(lambda m: m["head"] + MASK, text)


def _passwords_of(url: str) -> list[str]:
    """The passwords written in ``url`` (URL userinfo or ``password=``), raw and decoded."""
    found: list[str] = []
    for pattern in (_URL_PASSWORD, _KEY_VALUE_PASSWORD):
        for match in pattern.finditer(url):
            password = match["password"]
            if len(password) >= 2 and password[0] == password[-1] == "'":
                password = password[1:-1]
            found.extend(value for value in (password, unquote(password)) if value)
    return found


def redact_secrets(text: str, *urls: str | None) -> str:
    """``text`` with every URL password and ``password=`` value blanked, and also every literal
    occurrence of the passwords written in ``urls`` (a driver may quote one on its own)."""
    redacted = redact_url(text)
    secrets = {secret for url in urls if url for secret in _passwords_of(url)}
    # Longest first, so a password that contains another is blanked whole.
    for secret in sorted(secrets, key=len, reverse=True):
        redacted = redacted.replace(secret, MASK)
    return redacted


def safe_cause(exc: BaseException, *urls: str | None) -> BaseException | None:
    """``exc`` to chain as the cause of a translated error, or None when its text (printed
    in every traceback) would show a password: the translated message says what it said."""
    text = str(exc)
    return exc if redact_secrets(text, *urls) == text else None


__all__ = ["MASK", "redact_secrets", "redact_url", "safe_cause"]
