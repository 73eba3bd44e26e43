"""Proxies (docs/interception.md): live objects an argument cannot carry (open files,
loggers, HTTP and cloud clients) sent as signed recipes and rebuilt in the worker.

The handlers, the registry, recipe signing, schemas and metrics serve both sides and sit in the
foundation layer; rebuilding (``rebuild``) is the engine's.
"""

from __future__ import annotations

from taskito.proxies.built_in import BUILTIN_HANDLERS, register_builtin_handlers
from taskito.proxies.handler import FieldSpec, ProxyHandler
from taskito.proxies.metrics import ProxyMetrics
from taskito.proxies.rebuild import (
    ProxyRebuilder,
    acleanup_proxies,
    cleanup_proxies,
    reconstruct_proxies,
)
from taskito.proxies.registry import NoProxy, ProxyRegistry
from taskito.proxies.schema import validate_recipe
from taskito.proxies.signing import RECIPE_SECRET_ENV, sign_recipe, verify_recipe

__all__ = [
    "BUILTIN_HANDLERS",
    "RECIPE_SECRET_ENV",
    "FieldSpec",
    "NoProxy",
    "ProxyHandler",
    "ProxyMetrics",
    "ProxyRebuilder",
    "ProxyRegistry",
    "acleanup_proxies",
    "cleanup_proxies",
    "reconstruct_proxies",
    "register_builtin_handlers",
    "sign_recipe",
    "validate_recipe",
    "verify_recipe",
]
