"""The Queue's interception and proxies (docs/interception.md): ``register_type``,
``register_proxy_handler``, ``task.analyze``'s report, the statistics and their async
mirrors. The parts they work on are built once from the settings (``interception_parts``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from taskito.interception.converters import SCALAR_KEYS, STRUCTURED_KEYS
from taskito.interception.report import InterceptionReport
from taskito.interception.strategy import Strategy
from taskito.proxies.handler import ProxyHandler
from taskito.queue.state import QueueBase

if TYPE_CHECKING:
    from taskito.proxies.registry import ProxyRegistry

#: Where ``register_type`` entries sit in the type table (above conversions, below rejects).
REGISTER_TYPE_PRIORITY = 15
_DISABLED = (
    "Interception is disabled; create the Queue with interception='strict' or 'lenient' "
    "to register types"
)


class InterceptionMixin(QueueBase):
    """Custom types and handlers, and what interception and proxies did in this process."""

    def register_type(
        self,
        python_type: type,
        strategy: str | Strategy,
        *,
        resource: str | None = None,
        message: str | None = None,
        converter: Callable[[Any], Any] | None = None,
        type_key: str | None = None,
        proxy_handler: str | None = None,
        reconstructor: Callable[[Any], Any] | None = None,
    ) -> None:
        """Decide what interception does with ``python_type`` (and its subclasses without an
        entry of their own): ``"pass"``, ``"convert"`` (``converter=``; with
        ``reconstructor=`` the worker turns the result back, and the worker's app must
        register the same ``type_key``), ``"redirect"`` (``resource=``), ``"reject"``
        (``message=`` says why) or ``"proxy"`` (``proxy_handler=``, a registered handler).
        Registering a type again replaces its entry, a built-in one included."""
        interceptor = self._interception.interceptor
        if interceptor is None:
            raise RuntimeError(_DISABLED)
        if not isinstance(python_type, type):
            raise TypeError(f"python_type must be a class, not {type(python_type).__name__}")
        chosen = Strategy.parse(strategy)
        options = _strategy_options(
            chosen,
            python_type,
            resource,
            message,
            converter,
            type_key,
            proxy_handler,
            reconstructor,
            self._interception.proxies,
        )
        interceptor.registry.register(
            python_type, chosen, priority=REGISTER_TYPE_PRIORITY, replace=True, **options
        )

    def register_proxy_handler(self, handler: ProxyHandler) -> None:
        """Add (or replace, by name) a proxy handler; with interception on, values of its
        ``handled_types`` are proxied through it."""
        self._interception.proxies.register(handler)
        interceptor = self._interception.interceptor
        if interceptor is not None and handler.handled_types:
            interceptor.registry.register(
                tuple(handler.handled_types),
                Strategy.PROXY,
                priority=20,
                proxy_handler=handler.name,
                replace=True,
            )

    def interception_stats(self) -> dict[str, Any]:
        """What this process's interceptor did (``{}`` when interception is off):
        ``total_intercepts``, ``total_duration_ms``, ``avg_duration_ms``, ``strategy_counts``
        and ``max_depth_reached``."""
        if self._interception.interceptor is None:
            return {}
        return self._interception.interception_metrics.to_dict()

    async def ainterception_stats(self) -> dict[str, Any]:
        return self.interception_stats()

    def proxy_stats(self) -> list[dict[str, Any]]:
        """Per proxy handler, what this process rebuilt (a worker's thread and async pools,
        test mode; a prefork child counts its own): reconstructions, errors, checksum and
        clean-up failures, and durations in milliseconds."""
        return self._interception.proxy_metrics.to_list()

    async def aproxy_stats(self) -> list[dict[str, Any]]:
        return self.proxy_stats()

    def analyze_arguments(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> InterceptionReport:
        """What interception would do with a call (``task.analyze``); empty when it is off."""
        interceptor = self._interception.interceptor
        return InterceptionReport() if interceptor is None else interceptor.analyze(args, kwargs)


def _strategy_options(
    strategy: Strategy,
    python_type: type,
    resource: object,
    message: object,
    converter: object,
    type_key: object,
    proxy_handler: object,
    reconstructor: object,
    proxies: ProxyRegistry,
) -> dict[str, Any]:
    """The registry options of one ``register_type`` call, each checked against the
    strategy that reads it."""
    given = {
        "resource": resource,
        "message": message,
        "converter": converter,
        "type_key": type_key,
        "proxy_handler": proxy_handler,
        "reconstructor": reconstructor,
    }
    used = _USED_BY[strategy]
    stray = sorted(name for name, value in given.items() if value is not None and name not in used)
    if stray:
        raise ValueError(f"register_type({strategy.value!r}) does not take {stray}")
    if strategy is Strategy.REDIRECT:
        if not isinstance(resource, str) or not resource:
            raise ValueError("register_type('redirect') needs resource='<worker resource name>'")
        return {"redirect_resource": resource}
    if strategy is Strategy.REJECT:
        if message is not None and not isinstance(message, str):
            raise TypeError(f"message must be a str, not {type(message).__name__}")
        return {"reject_reason": message}
    if strategy is Strategy.PROXY:
        if not isinstance(proxy_handler, str) or proxy_handler not in proxies:
            raise ValueError(
                f"register_type('proxy') needs proxy_handler= naming a registered handler "
                f"(one of {proxies.names()}), got {proxy_handler!r}"
            )
        return {"proxy_handler": proxy_handler}
    if strategy is Strategy.CONVERT:
        return _convert_options(python_type, converter, type_key, reconstructor)
    return {}


def _convert_options(
    python_type: type, converter: object, type_key: object, reconstructor: object
) -> dict[str, Any]:
    if not callable(converter):
        raise ValueError("register_type('convert') needs converter=<callable>")
    if reconstructor is not None and not callable(reconstructor):
        raise TypeError(f"reconstructor must be callable, not {type(reconstructor).__name__}")
    if type_key is None:
        type_key = f"{python_type.__module__}.{python_type.__qualname__}"
    if not isinstance(type_key, str) or not type_key:
        raise TypeError(f"type_key must be a non-empty str, not {type_key!r}")
    if type_key in SCALAR_KEYS | STRUCTURED_KEYS:
        raise ValueError(f"type_key {type_key!r} is a built-in conversion's: choose another")
    return {"converter": converter, "type_key": type_key, "reconstructor": reconstructor}


_USED_BY: dict[Strategy, frozenset[str]] = {
    Strategy.PASS: frozenset(),
    Strategy.CONVERT: frozenset({"converter", "type_key", "reconstructor"}),
    Strategy.REDIRECT: frozenset({"resource"}),
    Strategy.REJECT: frozenset({"message"}),
    Strategy.PROXY: frozenset({"proxy_handler"}),
}

__all__ = ["REGISTER_TYPE_PRIORITY", "InterceptionMixin"]
