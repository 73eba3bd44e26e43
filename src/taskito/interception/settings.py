"""``RestoreSettings``: what a worker needs to restore the arguments a producer intercepted,
taken from its Queue once: the proxy handlers, the recipe key, the rebuild time limit, where
proxy figures are counted, and the reconstructors of ``register_type`` conversions."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from taskito.proxies.metrics import ProxyMetrics
from taskito.proxies.registry import ProxyRegistry


@dataclass(frozen=True, slots=True)
class RestoreSettings:
    """One Queue's rules for turning markers back into values (``interception.restore``)."""

    proxies: ProxyRegistry
    #: ``recipe_signing_key``: with a key, every recipe must carry a valid signature.
    signing_secret: str | bytes | None = dataclasses.field(default=None, repr=False)
    #: Seconds one proxy may take to rebuild; 0: no limit (rebuilt in the calling thread).
    max_timeout_s: float = 10.0
    proxy_metrics: ProxyMetrics = dataclasses.field(default_factory=ProxyMetrics)
    #: ``type_key`` -> reconstructor, the Queue's own (live) table.
    reconstructors: Mapping[str, Callable[[Any], Any]] = dataclasses.field(default_factory=dict)


__all__ = ["RestoreSettings"]
