"""``ArgumentInterceptor``: a Queue's interception at enqueue (``Queue(interception=...)``).

"strict" refuses a call with any failure (``InterceptionError`` listing every one; nothing is
stored); "lenient" logs a warning per failure and sends the rest: a refused value is dropped (a
keyword or dict entry removed, a positional or sequence item made None), a value nested too
deep is sent unchecked; "off" returns the call as it is. Each intercepted call is counted in
the metrics, whether it then raises or not.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from taskito.exceptions import InterceptionError
from taskito.interception.markers import envelope
from taskito.interception.report import InterceptionReport, ReportEntry
from taskito.interception.strategy import Strategy
from taskito.interception.walker import REJECTED, ArgumentWalker, WalkResult

if TYPE_CHECKING:
    from taskito.interception.metrics import InterceptionMetrics
    from taskito.interception.registry import TypeRegistry
    from taskito.proxies.registry import ProxyRegistry

logger = logging.getLogger("taskito.interception")

MODES: Final = ("off", "strict", "lenient")


@dataclass(frozen=True, slots=True)
class InterceptedCall:
    """A call as it is sent: its arguments, and the envelope when they hold markers."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    envelope: dict[str, Any] | None


def check_mode(mode: object) -> str:
    if mode not in MODES:
        raise ValueError(
            f"Invalid interception mode: {mode!r} (expected 'off', 'strict' or 'lenient')"
        )
    return str(mode)


class ArgumentInterceptor:
    """Walks each call with one registry and mode."""

    def __init__(
        self,
        registry: TypeRegistry,
        mode: str = "strict",
        max_depth: int = 10,
        *,
        proxy_registry: ProxyRegistry | None = None,
        metrics: InterceptionMetrics | None = None,
        signing_secret: str | bytes | None = None,
    ) -> None:
        self._mode = check_mode(mode)
        self._registry = registry
        self._walker = ArgumentWalker(
            registry, max_depth, proxy_registry, signing_secret=signing_secret
        )
        self._metrics = metrics

    @property
    def mode(self) -> str:
        return self._mode

    @property
    def registry(self) -> TypeRegistry:
        return self._registry

    def intercept(
        self, args: Sequence[Any], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The call's arguments as they are sent (the reference's method)."""
        call = self.intercept_call(args, kwargs)
        return call.args, call.kwargs

    def intercept_call(self, args: Sequence[Any], kwargs: dict[str, Any]) -> InterceptedCall:
        if self._mode == "off":
            return InterceptedCall(tuple(args), kwargs, None)
        started = time.perf_counter()
        try:
            new_args, new_kwargs, result = self._walker.walk(tuple(args), kwargs)
        finally:
            elapsed = time.perf_counter() - started
        if self._metrics is not None:
            self._metrics.record(elapsed, result.strategy_counts, result.max_depth)
        if result.failures:
            if self._mode == "strict":
                raise InterceptionError(result.failures)
            new_args, new_kwargs = _lenient(new_args, new_kwargs, result)
        marked = envelope(result.proxies, result.marker_depth) if result.markers else None
        return InterceptedCall(new_args, new_kwargs, marked)

    def analyze(self, args: Sequence[Any], kwargs: dict[str, Any]) -> InterceptionReport:
        """What ``intercept`` would do, without converting or proxying anything."""
        if self._mode == "off":
            return InterceptionReport()
        _, _, result = self._walker.walk(tuple(args), kwargs, dry_run=True)
        top = {f"args[{i}]" for i in range(len(args))} | {f"kwargs.{k}" for k in kwargs}
        entries = [
            ReportEntry(d.path, d.type_name, d.strategy, d.detail)
            for d in result.decisions
            if d.path in top or d.strategy is not Strategy.PASS
        ]
        unchecked = Strategy.REJECT if self._mode == "strict" else Strategy.PASS
        entries += [
            ReportEntry(f.path, f.type_name, unchecked, f.reason)
            for f in result.failures
            if f.path not in result.dropped
        ]
        return InterceptionReport(entries)


def _lenient(
    args: tuple[Any, ...], kwargs: dict[str, Any], result: WalkResult
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    for failure in result.failures:
        action = "dropped" if failure.path in result.dropped else "sent unchecked"
        logger.warning(
            "interception (lenient): %s %s (type: %s): %s",
            action,
            failure.path,
            failure.type_name,
            failure.reason,
            extra={"argument": failure.path},
        )
    kept_args = tuple(None if value is REJECTED else value for value in args)
    kept_kwargs = {key: value for key, value in kwargs.items() if value is not REJECTED}
    return kept_args, kept_kwargs


__all__ = ["MODES", "ArgumentInterceptor", "InterceptedCall", "check_mode"]
