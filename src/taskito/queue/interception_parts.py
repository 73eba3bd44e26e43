"""``InterceptionParts``: what one Queue's interception settings make, once: the interceptor
(None when interception is off), the proxy handlers (every Queue has them), the figures, and the
worker's rules for restoring arguments (``ExecutionEnv.arguments``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from taskito.interception.built_in import build_default_registry
from taskito.interception.interceptor import ArgumentInterceptor, InterceptedCall
from taskito.interception.metrics import InterceptionMetrics
from taskito.interception.settings import RestoreSettings
from taskito.proxies.built_in import register_builtin_handlers
from taskito.proxies.metrics import ProxyMetrics
from taskito.proxies.registry import NoProxy, ProxyRegistry

if TYPE_CHECKING:
    from taskito.queue.settings import QueueSettings


@dataclass(frozen=True, slots=True)
class InterceptionParts:
    """What one Queue's settings make: the interceptor (None when off), the proxy handlers
    (every Queue has them), the figures, and the worker's rules for restoring arguments."""

    interceptor: ArgumentInterceptor | None
    proxies: ProxyRegistry
    interception_metrics: InterceptionMetrics
    proxy_metrics: ProxyMetrics
    restore: RestoreSettings

    @classmethod
    def from_settings(cls, settings: QueueSettings) -> InterceptionParts:
        proxies = ProxyRegistry(settings.disabled_proxies)
        register_builtin_handlers(
            proxies,
            disabled_proxies=settings.disabled_proxies,
            file_path_allowlist=settings.file_path_allowlist,
        )
        metrics = InterceptionMetrics()
        interceptor = None
        reconstructors: dict[str, Callable[[Any], Any]] = {}
        if settings.interception != "off":
            registry = build_default_registry()
            reconstructors = registry.reconstructors
            interceptor = ArgumentInterceptor(
                registry,
                settings.interception,
                settings.max_intercept_depth,
                proxy_registry=proxies,
                metrics=metrics,
                signing_secret=settings.recipe_signing_key,
            )
        proxy_metrics = ProxyMetrics()
        restore = RestoreSettings(
            proxies,
            signing_secret=settings.recipe_signing_key,
            max_timeout_s=settings.max_reconstruction_timeout,
            proxy_metrics=proxy_metrics,
            reconstructors=reconstructors,
        )
        return cls(interceptor, proxies, metrics, proxy_metrics, restore)

    def intercept(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> InterceptedCall:
        """One call as it is sent. With interception off it is sent as it is, but for a
        top-level ``NoProxy``, unwrapped as serializing it would (test mode sends nothing
        through a serializer)."""
        if self.interceptor is None:
            if any(type(v) is NoProxy for v in (*args, *kwargs.values())):
                args = tuple(v.value if type(v) is NoProxy else v for v in args)
                kwargs = {k: v.value if type(v) is NoProxy else v for k, v in kwargs.items()}
            return InterceptedCall(args, kwargs, None)
        return self.interceptor.intercept_call(args, kwargs)


__all__ = ["InterceptionParts"]
