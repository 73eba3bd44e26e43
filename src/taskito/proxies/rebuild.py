"""Rebuilding proxied objects in the worker: ``ProxyRebuilder`` turns each proxy marker of one
call into an object (signature checked first, then the recipe's schema, then the handler, within
the time limit), resolves repeated references to the same object, and keeps what to clean up.
``reconstruct_proxies`` and ``cleanup_proxies`` are the reference's functions over it.

A failure names the argument and the handler and says whether another attempt could succeed
(``ProxyReconstructionError.retryable``): a refused signature, path or handler cannot.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from taskito.exceptions import ProxyReconstructionError
from taskito.interception.markers import PROXY, REF
from taskito.interception.traverse import RestoreAt, Traversal
from taskito.proxies.handler import ProxyHandler, schema_of
from taskito.proxies.metrics import ProxyMetrics
from taskito.proxies.registry import ProxyRegistry
from taskito.proxies.schema import validate_recipe
from taskito.proxies.signing import verify_recipe

logger = logging.getLogger("taskito.proxies")

#: What to clean up after the task: (handler, rebuilt object), in rebuild order.
CleanupList = list[tuple[ProxyHandler, Any]]


class ProxyRebuilder:
    """Rebuilds the proxies of one call; ``cleanup`` holds what was rebuilt, in order."""

    def __init__(
        self,
        registry: ProxyRegistry,
        *,
        signing_secret: str | bytes | None = None,
        max_timeout_s: float = 10.0,
        metrics: ProxyMetrics | None = None,
    ) -> None:
        self._registry = registry
        self._secret = signing_secret
        self._timeout_s = max_timeout_s
        self._metrics = metrics
        self._by_identity: dict[str, Any] = {}
        self.cleanup: CleanupList = []

    def on_marker(self, kind: str, marker: dict[str, Any], path: str, nested: RestoreAt) -> Any:
        """A ``Traversal`` callback for proxies and references; other markers stay."""
        if kind == PROXY:
            return self.rebuild(marker, path)
        if kind == REF:
            return self.resolve_ref(marker, path)
        return marker

    def resolve_ref(self, marker: dict[str, Any], path: str) -> Any:
        identity = marker[REF]
        if not isinstance(identity, str) or identity not in self._by_identity:
            raise ProxyReconstructionError(
                f"argument {path}: reference to proxy {identity!r:.40} that no earlier "
                "argument defines",
                retryable=False,
            )
        return self._by_identity[identity]

    def rebuild(self, marker: dict[str, Any], path: str) -> Any:
        name, version, recipe, identity = _read_marker(marker, path)
        if identity in self._by_identity:
            return self._by_identity[identity]
        handler = self._handler(name, path)
        self._check_signature(handler, marker, version, recipe, path)
        validate_recipe(name, recipe, schema_of(handler))
        if version != handler.version and callable(getattr(handler, "migrate", None)):
            recipe = handler.migrate(recipe, version, handler.version)  # type: ignore[attr-defined]
        started = time.perf_counter()
        failed = True
        try:
            obj = _call_within(
                lambda: handler.reconstruct(recipe, version),
                self._timeout_s,
                lambda late: _cleanup_one(handler, late, self._metrics),
            )
            failed = False
        except TimeoutError:
            raise ProxyReconstructionError(
                f"argument {path}: proxy {name!r} timed out after {self._timeout_s:g}s "
                "(max_reconstruction_timeout)"
            ) from None
        except PermissionError as exc:
            raise ProxyReconstructionError(
                f"argument {path}: proxy {name!r} refused: {exc}", retryable=False
            ) from None
        except Exception as exc:
            raise ProxyReconstructionError(
                f"argument {path}: Failed to reconstruct proxy {name!r}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        finally:
            if self._metrics is not None:
                self._metrics.record_reconstruction(
                    name, time.perf_counter() - started, failed=failed
                )
        self._by_identity[identity] = obj
        self.cleanup.append((handler, obj))
        return obj

    def _handler(self, name: str, path: str) -> ProxyHandler:
        handler = self._registry.get(name)
        if handler is not None:
            return handler
        if name in self._registry.disabled:
            raise ProxyReconstructionError(
                f"argument {path}: proxy handler {name!r} is disabled on this worker "
                "(disabled_proxies); not rebuilt",
                retryable=False,
            )
        raise ProxyReconstructionError(
            f"argument {path}: No proxy handler registered for {name!r}", retryable=False
        )

    def _check_signature(
        self,
        handler: ProxyHandler,
        marker: dict[str, Any],
        version: int,
        recipe: dict[str, Any],
        path: str,
    ) -> None:
        if self._secret is None:
            return
        checksum = marker.get("checksum")
        if checksum is None:
            if self._metrics is not None:
                self._metrics.record_checksum_failure(handler.name)
            raise ProxyReconstructionError(
                f"argument {path}: proxy {handler.name!r} recipe is missing checksum (signing "
                "is enabled): the producer has no recipe_signing_key; refused, not rebuilt",
                retryable=False,
            )
        try:
            verify_recipe(handler.name, version, recipe, checksum, self._secret)
        except ProxyReconstructionError as exc:
            if self._metrics is not None:
                self._metrics.record_checksum_failure(handler.name)
            raise ProxyReconstructionError(f"argument {path}: {exc}", retryable=False) from None


def _read_marker(marker: dict[str, Any], path: str) -> tuple[str, int, dict[str, Any], str]:
    try:
        name, version, recipe = marker["handler"], marker["version"], marker["recipe"]
    except KeyError as exc:
        raise ProxyReconstructionError(
            f"argument {path}: malformed proxy marker, missing {exc.args[0]!r}", retryable=False
        ) from None
    identity = marker.get("identity")
    if not isinstance(name, str) or not isinstance(version, int) or not isinstance(identity, str):
        raise ProxyReconstructionError(
            f"argument {path}: malformed proxy marker (handler, version or identity)",
            retryable=False,
        )
    if not isinstance(recipe, dict):
        raise ProxyReconstructionError(
            f"argument {path}: recipe of proxy {name!r} must be a dict", retryable=False
        )
    return name, version, recipe, identity


def _call_within(fn: Callable[[], Any], timeout_s: float, discard: Callable[[Any], None]) -> Any:
    """``fn()`` on a helper thread, waited for at most ``timeout_s`` (``TimeoutError`` then;
    the thread is left to finish and ``discard`` gets the object it makes too late). With no
    limit it runs here."""
    if timeout_s <= 0:
        return fn()
    lock = threading.Lock()
    box: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            value = fn()
        except BaseException as exc:
            box["error"] = exc
        else:
            with lock:
                late = box.get("abandoned", False)
                box["value"] = value
            if late:
                discard(value)
        done.set()

    thread = threading.Thread(target=run, name="taskito-proxy-rebuild", daemon=True)
    thread.start()
    if not done.wait(timeout_s):
        with lock:
            if "value" not in box and "error" not in box:
                box["abandoned"] = True
                raise TimeoutError
    if "error" in box:
        raise box["error"]
    return box["value"]


def _cleanup_one(handler: ProxyHandler, obj: Any, metrics: ProxyMetrics | None) -> Any:
    """``handler.cleanup(obj)``; errors logged and counted. Returns an awaitable it gave."""
    try:
        result = handler.cleanup(obj)
    except Exception:
        _cleanup_failed(handler, metrics)
        return None
    return result if inspect.isawaitable(result) else None


def _cleanup_failed(handler: ProxyHandler, metrics: ProxyMetrics | None) -> None:
    logger.exception("cleaning up a rebuilt %r proxy failed", handler.name)
    if metrics is not None:
        metrics.record_cleanup_error(handler.name)


def cleanup_proxies(
    cleanup: Sequence[tuple[ProxyHandler, Any]], metrics: ProxyMetrics | None = None
) -> None:
    """Clean up rebuilt objects in reverse order; errors are logged and counted, never raised.
    An awaitable a handler returns (an async client's ``aclose()``) is run to completion here."""
    for handler, obj in reversed(cleanup):
        pending = _cleanup_one(handler, obj, metrics)
        if pending is None:
            continue
        try:
            asyncio.run(_awaited(pending))
        except Exception:
            _cleanup_failed(handler, metrics)


async def acleanup_proxies(
    cleanup: Sequence[tuple[ProxyHandler, Any]], metrics: ProxyMetrics | None = None
) -> None:
    """``cleanup_proxies`` on an event loop: awaitables are awaited on this loop."""
    for handler, obj in reversed(cleanup):
        pending = _cleanup_one(handler, obj, metrics)
        if pending is None:
            continue
        try:
            await pending
        except Exception:
            _cleanup_failed(handler, metrics)


async def _awaited(pending: Any) -> Any:
    return await pending


def reconstruct_proxies(
    args: Sequence[Any],
    kwargs: dict[str, Any],
    registry: ProxyRegistry,
    *,
    signing_secret: str | bytes | None = None,
    max_timeout: float = 10,
    metrics: ProxyMetrics | None = None,
) -> tuple[tuple[Any, ...], dict[str, Any], CleanupList]:
    """``args`` and ``kwargs`` with every proxy rebuilt (other markers untouched), and the
    list to hand ``cleanup_proxies`` after the call. If one fails, those already rebuilt are
    cleaned up before the error propagates."""
    rebuilder = ProxyRebuilder(
        registry, signing_secret=signing_secret, max_timeout_s=max_timeout, metrics=metrics
    )
    try:
        new_args, new_kwargs = Traversal(rebuilder.on_marker).call(tuple(args), dict(kwargs))
    except BaseException:
        cleanup_proxies(rebuilder.cleanup, metrics)
        raise
    return new_args, new_kwargs, rebuilder.cleanup


__all__ = [
    "CleanupList",
    "ProxyRebuilder",
    "acleanup_proxies",
    "cleanup_proxies",
    "reconstruct_proxies",
]
