"""The checks the Prometheus integration applies to its arguments: metric name prefixes,
registries, durations."""

from __future__ import annotations

import itertools
import math
import re

from prometheus_client import CollectorRegistry

#: What Prometheus allows in a metric name (the namespace is its first part).
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def check_namespace(namespace: object) -> str:
    """A metric name prefix such as ``"taskito"``."""
    if not isinstance(namespace, str):
        raise TypeError(f"namespace must be a str, not {type(namespace).__name__}")
    if not _METRIC_NAME.fullmatch(namespace):
        raise ValueError(
            f"namespace must be a Prometheus metric name (letters, digits, '_' and ':', not "
            f"starting with a digit), got {namespace!r}"
        )
    return namespace


def check_registry(registry: object) -> CollectorRegistry | None:
    if registry is not None and not isinstance(registry, CollectorRegistry):
        raise TypeError(
            f"registry must be a prometheus_client CollectorRegistry or None, "
            f"not {type(registry).__name__}"
        )
    return registry


def check_positive_seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


def check_buckets(buckets: object) -> tuple[float, ...]:
    """Histogram bucket bounds: finite numbers in increasing order."""
    if isinstance(buckets, str | bytes) or not isinstance(buckets, list | tuple):
        raise TypeError(f"buckets must be a list of numbers, not {type(buckets).__name__}")
    if not buckets:
        raise ValueError("buckets must not be empty")
    for bound in buckets:
        if isinstance(bound, bool) or not isinstance(bound, int | float):
            raise TypeError(f"buckets must hold numbers, got {bound!r}")
        if not math.isfinite(bound):
            raise ValueError(f"buckets must be finite (+Inf is added), got {bound!r}")
    if any(low >= high for low, high in itertools.pairwise(buckets)):
        raise ValueError(f"buckets must increase, got {list(buckets)}")
    return tuple(float(bound) for bound in buckets)


__all__ = ["check_buckets", "check_namespace", "check_positive_seconds", "check_registry"]
