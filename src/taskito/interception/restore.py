"""The worker side of interception: the arguments of a job whose payload carries the markers
envelope are restored before the task runs (``restore_call``, called by ``execution`` for every
pool and by test mode): converted values are rebuilt, proxies rebuilt (``proxies.rebuild``),
and redirected values replaced by the worker's resource of that name. ``RestoredCall.release``
gives back what was acquired and cleans up what was rebuilt, in reverse order, after the task.

Resources reach this module through one hook, ``registry.ResourceProvider``: the worker's
``ExecutionEnv.resources`` (``acquire_for_task(name) -> (instance, release or None)``). Without
one, a redirected argument fails its job with an error naming the resource.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from taskito.exceptions import (
    ProxyReconstructionError,
    ResourceError,
    ResourceNotFoundError,
    SerializationError,
)
from taskito.interception.converters import reconstruct_converted
from taskito.interception.markers import CONVERT, REDIRECT
from taskito.interception.traverse import RestoreAt, Traversal
from taskito.proxies.rebuild import ProxyRebuilder, acleanup_proxies, cleanup_proxies

if TYPE_CHECKING:
    from taskito.interception.settings import RestoreSettings
    from taskito.registry import ResourceProvider

logger = logging.getLogger("taskito.interception")


class RestoredCall:
    """A call's arguments as the task receives them, and what to give back after it ran."""

    def __init__(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], restorer: _CallRestorer
    ) -> None:
        self.args = args
        self.kwargs = kwargs
        self._restorer = restorer

    def release(self) -> None:
        """Release acquired resources, then clean up rebuilt proxies (each in reverse)."""
        self._restorer.release()

    async def arelease(self) -> None:
        """``release`` on an event loop: an async client's ``aclose()`` is awaited here."""
        self._restorer.release_resources()
        rebuilder = self._restorer.rebuilder
        await acleanup_proxies(rebuilder.cleanup, self._restorer.settings.proxy_metrics)


class _CallRestorer:
    """The ``Traversal`` callback of one call: every kind of marker, and what it acquired."""

    def __init__(self, settings: RestoreSettings, resources: ResourceProvider | None) -> None:
        self.settings = settings
        self._resources = resources
        self.rebuilder = ProxyRebuilder(
            settings.proxies,
            signing_secret=settings.signing_secret,
            max_timeout_s=settings.max_timeout_s,
            metrics=settings.proxy_metrics,
        )
        self._releases: list[Callable[[], None]] = []

    def on_marker(self, kind: str, marker: dict[str, Any], path: str, nested: RestoreAt) -> Any:
        if kind == CONVERT:
            return converted(marker, path, nested, self.settings.reconstructors)
        if kind == REDIRECT:
            return self._acquire(marker, path)
        return self.rebuilder.on_marker(kind, marker, path, nested)

    def _acquire(self, marker: dict[str, Any], path: str) -> Any:
        name = marker.get("resource")
        if not isinstance(name, str) or not name:
            raise SerializationError(f"argument {path}: malformed redirect marker (no resource)")
        if self._resources is None:
            raise ResourceNotFoundError(
                f"argument {path} was redirected to worker resource {name!r} at enqueue, but "
                f"this worker has no resources; define it with @queue.worker_resource({name!r})"
            )
        instance, release = self._resources.acquire_for_task(name)
        if release is not None:
            self._releases.append(release)
        return instance

    def release_resources(self) -> None:
        releases, self._releases = self._releases, []
        for release in reversed(releases):
            try:
                release()
            except Exception:
                logger.exception("releasing a worker resource after the task failed")

    def release(self) -> None:
        self.release_resources()
        cleanup_proxies(self.rebuilder.cleanup, self.settings.proxy_metrics)


def converted(
    marker: dict[str, Any],
    path: str,
    nested: RestoreAt,
    reconstructors: Mapping[str, Callable[[Any], Any]] | None,
) -> Any:
    """The value a convert marker stands for; a ``SerializationError`` naming the argument
    when it cannot be rebuilt (an error from a nested argument passes as it is)."""
    try:
        return reconstruct_converted(marker, nested, reconstructors)
    except (SerializationError, ResourceError):
        raise
    except Exception as exc:
        raise SerializationError(
            f"argument {path}: converted value (type_key {marker.get('type_key')!r}) could not "
            f"be rebuilt: {type(exc).__name__}: {exc}"
        ) from exc


def restore_call(
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    settings: RestoreSettings,
    *,
    resources: ResourceProvider | None = None,
    max_depth: int | None = None,
) -> RestoredCall:
    """The call's arguments restored. On an error (``SerializationError``,
    ``ProxyReconstructionError``, ``ResourceError``) what was already acquired or rebuilt is
    given back before it propagates."""
    restorer = _CallRestorer(settings, resources)
    try:
        new_args, new_kwargs = Traversal(restorer.on_marker, max_depth).call(args, kwargs)
    except BaseException:
        restorer.release()
        raise
    return RestoredCall(new_args, new_kwargs, restorer)


def reconstruct_args(
    args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any], dict[str, str]]:
    """The reference's worker-side step on its own: converted values rebuilt at any depth; a
    top-level keyword holding a redirect marker removed and reported as keyword -> resource;
    proxies and other redirects left as markers."""

    def on_marker(kind: str, marker: dict[str, Any], path: str, nested: RestoreAt) -> Any:
        if kind == CONVERT:
            return converted(marker, path, nested, None)
        return marker

    new_args, new_kwargs = Traversal(on_marker).call(tuple(args), dict(kwargs))
    redirects: dict[str, str] = {}
    for key, value in list(new_kwargs.items()):
        if type(value) is dict and value.get(REDIRECT) and isinstance(value.get("resource"), str):
            redirects[key] = value["resource"]
            del new_kwargs[key]
    return new_args, new_kwargs, redirects


#: The errors ``restore_call`` raises for a job's arguments (execution classifies them).
RESTORE_ERRORS = (SerializationError, ProxyReconstructionError, ResourceError)

__all__ = ["RESTORE_ERRORS", "RestoredCall", "converted", "reconstruct_args", "restore_call"]
