"""The wire contract between a producer that intercepted a call's arguments and the worker that
restores them: the marker dicts standing for converted, redirected and proxied values, and the
envelope that says a payload holds markers (docs/interception.md).

A payload without the envelope is passed to the task as it decodes: a dict that merely looks
like a marker is never acted on unless the producer's interceptor put it there.
"""

from __future__ import annotations

from typing import Any, Final

CONVERT: Final = "__taskito_convert__"
REDIRECT: Final = "__taskito_redirect__"
PROXY: Final = "__taskito_proxy__"
REF: Final = "__taskito_ref__"
#: Keys a dict argument may not use when interception is on: they would read as markers.
RESERVED_KEYS: Final = frozenset({CONVERT, REDIRECT, PROXY, REF})

#: The third element of an intercepted payload ``(args, kwargs, envelope)``.
ENVELOPE_KEY: Final = "taskito_markers"
ENVELOPE_VERSION: Final = 1


def envelope(has_proxies: bool, depth: int) -> dict[str, Any]:
    """The envelope of a payload whose arguments hold markers: ``has_proxies`` (some are
    proxies, so the worker rebuilds objects and may need time to) and ``depth``, how deep the
    deepest marker sits (the worker looks no deeper)."""
    return {ENVELOPE_KEY: ENVELOPE_VERSION, "proxies": bool(has_proxies), "depth": int(depth)}


def read_envelope(value: object) -> tuple[bool, int]:
    """``(has_proxies, depth)`` of an envelope; ``ValueError`` naming what is wrong otherwise."""
    if (
        not isinstance(value, dict)
        or value.get(ENVELOPE_KEY) != ENVELOPE_VERSION
        or not isinstance(value.get("depth"), int)
    ):
        raise ValueError(
            f"the payload's third element is not a taskito markers envelope "
            f"(version {ENVELOPE_VERSION}): {value!r:.80}"
        )
    return bool(value.get("proxies")), value["depth"]


def marker_kind(value: object) -> str | None:
    """Which marker ``value`` is (one of the four keys), or None for any other value."""
    if type(value) is not dict or not value:
        return None
    for key in (CONVERT, PROXY, REF, REDIRECT):
        if key in value:
            return key
    return None


def convert_marker(type_key: str, **fields: Any) -> dict[str, Any]:
    return {CONVERT: True, "type_key": type_key, **fields}


def redirect_marker(resource: str) -> dict[str, Any]:
    return {REDIRECT: True, "resource": resource}


def proxy_marker(
    handler: str, version: int, identity: str, recipe: dict[str, Any], checksum: str | None
) -> dict[str, Any]:
    marker: dict[str, Any] = {
        PROXY: True,
        "handler": handler,
        "version": version,
        "identity": identity,
        "recipe": recipe,
    }
    if checksum is not None:
        marker["checksum"] = checksum
    return marker


def ref_marker(identity: str) -> dict[str, Any]:
    return {REF: identity}


__all__ = [
    "CONVERT",
    "ENVELOPE_KEY",
    "ENVELOPE_VERSION",
    "PROXY",
    "REDIRECT",
    "REF",
    "RESERVED_KEYS",
    "convert_marker",
    "envelope",
    "marker_kind",
    "proxy_marker",
    "read_envelope",
    "redirect_marker",
    "ref_marker",
]
