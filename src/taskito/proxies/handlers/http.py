"""HTTP clients: a ``requests.Session`` and an ``httpx.Client``/``AsyncClient`` cross as their
settings and are built anew in the worker.

Credentials never go into a recipe: ``Authorization``, ``Cookie`` and other secret-bearing
headers and all cookies are left out, because a recipe is stored with the job and shown by the
dashboard. Give a worker authenticated clients as worker resources instead (docs/interception.md).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from taskito.proxies.handler import FieldSpec
from taskito.proxies.handlers.lazy import loaded_classes

_SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}
)
_SECRET_WORDS = ("token", "secret", "password", "api-key", "apikey", "auth")


def public_headers(headers: Mapping[str, Any]) -> dict[str, str]:
    """``headers`` without the ones that may carry credentials."""
    kept: dict[str, str] = {}
    for name, value in headers.items():
        lowered = str(name).lower()
        if lowered in _SECRET_HEADERS or any(word in lowered for word in _SECRET_WORDS):
            continue
        kept[str(name)] = str(value)
    return kept


class RequestsSessionHandler:
    name = "requests_session"
    version = 1
    schema = {
        "headers": FieldSpec(dict),
        "verify": FieldSpec((bool, str), required=False),
        "max_redirects": FieldSpec(int, required=False),
    }

    @property
    def handled_types(self) -> tuple[type, ...]:
        return loaded_classes(["requests.sessions:Session"])

    def detect(self, obj: Any) -> bool:
        types = self.handled_types
        return bool(types) and isinstance(obj, types)

    def deconstruct(self, obj: Any) -> dict[str, Any]:
        return {
            "headers": public_headers(obj.headers),
            "verify": obj.verify,
            "max_redirects": obj.max_redirects,
        }

    def reconstruct(self, recipe: dict[str, Any], version: int) -> Any:
        import requests

        session = requests.Session()
        session.headers.clear()
        session.headers.update(recipe["headers"])
        if recipe.get("verify") is not None:
            session.verify = recipe["verify"]
        if recipe.get("max_redirects") is not None:
            session.max_redirects = recipe["max_redirects"]
        return session

    def cleanup(self, obj: Any) -> None:
        obj.close()


class HttpxClientHandler:
    name = "httpx_client"
    version = 1
    schema = {
        "headers": FieldSpec(dict),
        "follow_redirects": FieldSpec(bool, required=False),
        "base_url": FieldSpec(str, required=False),
        "is_async": FieldSpec(bool, required=False),
    }

    @property
    def handled_types(self) -> tuple[type, ...]:
        return loaded_classes(["httpx:Client", "httpx:AsyncClient"])

    def detect(self, obj: Any) -> bool:
        types = self.handled_types
        return bool(types) and isinstance(obj, types)

    def deconstruct(self, obj: Any) -> dict[str, Any]:
        httpx = sys.modules["httpx"]
        return {
            "headers": public_headers(obj.headers),
            "follow_redirects": obj.follow_redirects,
            "base_url": str(obj.base_url),
            "is_async": isinstance(obj, httpx.AsyncClient),
        }

    def reconstruct(self, recipe: dict[str, Any], version: int) -> Any:
        import httpx

        cls = httpx.AsyncClient if recipe.get("is_async") else httpx.Client
        return cls(
            headers=recipe["headers"],
            follow_redirects=bool(recipe.get("follow_redirects")),
            base_url=recipe.get("base_url") or "",
        )

    def cleanup(self, obj: Any) -> Any:
        """``close()``; an ``AsyncClient`` returns its ``aclose()`` coroutine to be awaited."""
        aclose = getattr(obj, "aclose", None)
        if aclose is not None:
            return aclose()
        obj.close()
        return None


__all__ = ["HttpxClientHandler", "RequestsSessionHandler", "public_headers"]
