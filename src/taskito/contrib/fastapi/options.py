"""The options of ``TaskitoRouter``, checked once: which routes it serves (by name), how often
the progress stream polls, and how it pages lists and shows results."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import taskito
from taskito import _checks
from taskito.dashboard.api.values import to_jsonable
from taskito.queue import checks as check

#: Every route by name, in the order the router adds them (the reference's names).
ROUTE_NAMES: tuple[str, ...] = (
    "stats",
    "queue-stats",
    "jobs",
    "job-errors",
    "job-result",
    "job-progress",
    "cancel",
    "dead-letters",
    "retry-dead",
    "health",
    "readiness",
    "resources",
)


@dataclass(frozen=True)
class RouterOptions:
    """``sse_poll_interval_s``: seconds between two polls of a progress stream.
    ``result_timeout_s``: what ``JobResult.result()`` may take to read a finished job's
    result. ``default_page_size`` and ``max_page_size``: the dead-letter list's ``limit``
    when none is given, and the largest one taken. ``result_serializer``: a job's decoded
    result in, JSON data out."""

    sse_poll_interval_s: float = 0.5
    result_timeout_s: float = 1.0
    default_page_size: int = 20
    max_page_size: int = 100
    result_serializer: Callable[[Any], Any] = to_jsonable

    @classmethod
    def from_arguments(
        cls,
        *,
        sse_poll_interval: object,
        result_timeout: object,
        default_page_size: object,
        max_page_size: object,
        result_serializer: object,
    ) -> RouterOptions:
        """The router's keyword arguments, checked: ``TypeError`` for a wrong type,
        ``ConfigurationError`` (a ``ValueError``) for a wrong value, each naming it."""
        max_size = _checks.check_int(
            "max_page_size", max_page_size, minimum=1, error=taskito.ConfigurationError
        )
        default_size = _checks.check_int(
            "default_page_size", default_page_size, minimum=1, error=taskito.ConfigurationError
        )
        if default_size > max_size:
            raise taskito.ConfigurationError(
                f"default_page_size ({default_size}) must not exceed max_page_size ({max_size})"
            )
        if result_serializer is not None and not callable(result_serializer):
            raise TypeError(
                "result_serializer must be a callable (a result in, JSON data out) or None, "
                f"not {type(result_serializer).__name__}"
            )
        return cls(
            sse_poll_interval_s=check.check_duration(
                "sse_poll_interval", sse_poll_interval, allow_zero=False
            ),
            result_timeout_s=check.check_duration(
                "result_timeout", result_timeout, allow_zero=False
            ),
            default_page_size=default_size,
            max_page_size=max_size,
            result_serializer=result_serializer or to_jsonable,
        )


def select_routes(include: object, exclude: object) -> tuple[str, ...]:
    """The names of the routes to serve, in ``ROUTE_NAMES`` order: all of them, only those
    in ``include``, or all but those in ``exclude`` (never both)."""
    if include is not None and exclude is not None:
        raise taskito.ConfigurationError(
            "pass include_routes or exclude_routes, not both: one names the routes to serve, "
            "the other the routes to leave out"
        )
    if include is not None:
        chosen = _route_names("include_routes", include)
        return tuple(name for name in ROUTE_NAMES if name in chosen)
    if exclude is not None:
        left_out = _route_names("exclude_routes", exclude)
        return tuple(name for name in ROUTE_NAMES if name not in left_out)
    return ROUTE_NAMES


def _route_names(argument: str, value: object) -> frozenset[str]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise TypeError(
            f"{argument} must be a collection of route names, such as {{'stats', 'jobs'}}, "
            f"not {type(value).__name__}"
        )
    names = list(value)
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"{argument} must hold route names (str), not {name!r}")
    unknown = sorted(set(names) - set(ROUTE_NAMES))
    if unknown:
        raise taskito.ConfigurationError(
            f"{argument}: unknown route name{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(map(repr, unknown))}; the routes are {', '.join(ROUTE_NAMES)}"
        )
    return frozenset(names)


__all__ = ["ROUTE_NAMES", "RouterOptions", "select_routes"]
