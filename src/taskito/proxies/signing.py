"""Recipe signatures: the producer signs each proxy recipe with ``recipe_signing_key`` (or
``$TASKITO_RECIPE_SECRET``) and the worker checks the signature before any handler code runs, so
a recipe changed in storage is refused and never rebuilt (docs/interception.md).

The signature is hex HMAC-SHA256 under the UTF-8 key over ``"handler:version:"`` followed by
the recipe as compact JSON with sorted keys.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, Final

from taskito.exceptions import ProxyReconstructionError

#: The environment variable a Queue reads when ``recipe_signing_key`` is not given.
RECIPE_SECRET_ENV: Final = "TASKITO_RECIPE_SECRET"


def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)


def _message(handler: str, version: int, recipe: dict[str, Any]) -> bytes:
    body = json.dumps(recipe, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"{handler}:{version}:{body}".encode()


def sign_recipe(handler: str, version: int, recipe: dict[str, Any], secret: str | bytes) -> str:
    """The hex signature of one recipe (deterministic)."""
    return hmac.new(_key(secret), _message(handler, version, recipe), hashlib.sha256).hexdigest()


def verify_recipe(
    handler: str, version: int, recipe: dict[str, Any], checksum: object, secret: str | bytes
) -> bool:
    """True when ``checksum`` signs the recipe; ``ProxyReconstructionError`` ("checksum
    mismatch") otherwise. Compared in constant time."""
    expected = sign_recipe(handler, version, recipe, secret)
    if not isinstance(checksum, str) or not hmac.compare_digest(expected, checksum):
        raise ProxyReconstructionError(
            f"proxy {handler!r}: recipe checksum mismatch: the recipe was changed after it was "
            "signed, or signed with another recipe_signing_key; refused, not rebuilt",
            retryable=False,
        )
    return True


__all__ = ["RECIPE_SECRET_ENV", "sign_recipe", "verify_recipe"]
