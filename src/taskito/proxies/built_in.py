"""``register_builtin_handlers``: the handlers every Queue has, whatever its interception mode:
file and logger always; requests, httpx, boto3 and Google Cloud Storage when their library is
installed (found, not imported: a Queue never imports them)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence

from taskito.proxies.handler import ProxyHandler
from taskito.proxies.handlers.cloud import Boto3ClientHandler, GcsClientHandler
from taskito.proxies.handlers.file import FileHandler
from taskito.proxies.handlers.http import HttpxClientHandler, RequestsSessionHandler
from taskito.proxies.handlers.lazy import installed
from taskito.proxies.handlers.logger import LoggerHandler
from taskito.proxies.registry import ProxyRegistry

#: Every built-in handler's name, in registration order, with the library it needs.
BUILTIN_HANDLERS: dict[str, str | None] = {
    "file": None,
    "logger": None,
    "requests_session": "requests",
    "httpx_client": "httpx",
    "boto3_client": "boto3",
    "gcs_client": "google.cloud.storage",
}


def check_disabled_proxies(names: object) -> frozenset[str]:
    """``disabled_proxies`` checked: built-in handler names only (``ValueError`` naming the
    unknown ones and the known)."""
    if names is None:
        return frozenset()
    if isinstance(names, str) or not isinstance(names, Iterable):
        raise TypeError(
            f"disabled_proxies must be a list of handler names, not {type(names).__name__}"
        )
    given = list(names)
    unknown = sorted(str(n) for n in given if n not in BUILTIN_HANDLERS)
    if unknown:
        raise ValueError(
            f"disabled_proxies names unknown proxy handlers {unknown}: "
            f"expected some of {', '.join(BUILTIN_HANDLERS)}"
        )
    return frozenset(given)


def register_builtin_handlers(
    registry: ProxyRegistry,
    *,
    disabled_proxies: Iterable[str] | None = None,
    file_path_allowlist: Sequence[str | os.PathLike[str]] | None = None,
) -> None:
    """Register the built-in handlers not disabled, in ``BUILTIN_HANDLERS`` order."""
    disabled = check_disabled_proxies(disabled_proxies)
    makers: dict[str, Callable[[], ProxyHandler]] = {
        "file": lambda: FileHandler(file_path_allowlist),
        "logger": LoggerHandler,
        "requests_session": RequestsSessionHandler,
        "httpx_client": HttpxClientHandler,
        "boto3_client": Boto3ClientHandler,
        "gcs_client": GcsClientHandler,
    }
    for name, library in BUILTIN_HANDLERS.items():
        if name in disabled or (library is not None and not installed(library)):
            continue
        registry.register(makers[name]())


__all__ = ["BUILTIN_HANDLERS", "check_disabled_proxies", "register_builtin_handlers"]
