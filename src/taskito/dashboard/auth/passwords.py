"""Password hashing for dashboard users: scrypt (memory-hard) with a random salt, encoded
with its parameters so that a stored hash keeps verifying when the default cost changes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

#: scrypt's N (CPU/memory cost, a power of two): about 32 MiB and 50-100 ms a hash. Tests may
#: pass a lower ``cost`` (e.g. 2**4) to ``Users(queue, password_cost=...)``; never in production.
DEFAULT_COST = 2**15
MIN_COST = 2
MAX_COST = 2**20
_BLOCK_SIZE = 8
_PARALLELISM = 1
_KEY_BYTES = 32
_SALT_BYTES = 16
_SCHEME = "scrypt"
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024


def check_cost(cost: object) -> int:
    if not isinstance(cost, int) or isinstance(cost, bool):
        raise TypeError(f"password_cost must be an int, not {type(cost).__name__}")
    if not MIN_COST <= cost <= MAX_COST or cost & (cost - 1):
        raise ValueError(
            f"password_cost must be a power of two between {MIN_COST} and {MAX_COST}, got {cost}"
        )
    return cost


def check_password(password: object) -> str:
    if not isinstance(password, str):
        raise TypeError(f"password must be a str, not {type(password).__name__}")
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise ValueError(
            f"password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters long"
        )
    if "\x00" in password:
        raise ValueError("password must not contain NUL characters")
    return password


def _derive(password: str, salt: bytes, cost: int, block_size: int, parallelism: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8", "surrogatepass"),
        salt=salt,
        n=cost,
        r=block_size,
        p=parallelism,
        maxmem=256 * block_size * (cost + parallelism + 2),
        dklen=_KEY_BYTES,
    )


def hash_password(password: str, cost: int = DEFAULT_COST) -> str:
    """``scrypt$N$r$p$salt$key`` (base64 without padding)."""
    check_password(password)
    check_cost(cost)
    salt = secrets.token_bytes(_SALT_BYTES)
    key = _derive(password, salt, cost, _BLOCK_SIZE, _PARALLELISM)
    return "$".join(
        (_SCHEME, str(cost), str(_BLOCK_SIZE), str(_PARALLELISM), _b64(salt), _b64(key))
    )


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches ``encoded``; a malformed hash never matches."""
    try:
        scheme, cost, block_size, parallelism, salt, key = encoded.split("$")
        if scheme != _SCHEME:
            return False
        n, r, p = check_cost(int(cost)), int(block_size), int(parallelism)
        if not (1 <= r <= 32 and 1 <= p <= 16):
            return False
        expected = _unb64(key)
        derived = _derive(password, _unb64(salt), n, r, p)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(derived, expected)


#: Verified against when the user does not exist, so that an unknown name takes as long as
#: a wrong password (the cost is read from the stored hash, so this runs at the default).
_DUMMY_SALT = b"taskito-dashboard"


def spend_equal_time(password: str, cost: int = DEFAULT_COST) -> None:
    _derive(password, _DUMMY_SALT, cost, _BLOCK_SIZE, _PARALLELISM)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


__all__ = [
    "DEFAULT_COST",
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "check_cost",
    "check_password",
    "hash_password",
    "spend_equal_time",
    "verify_password",
]
