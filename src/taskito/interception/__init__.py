"""Argument interception (docs/interception.md): with ``Queue(interception="strict" |
"lenient")`` every call's arguments are walked at enqueue, and each value is passed, converted,
redirected to a worker resource, rejected or proxied by its type; the worker restores them
before the task runs.

The enqueue side (``walker``, ``registry``, ``built_in``, ``interceptor``, ``report``) belongs
to the façade; the worker side (``restore``) to the engine; what both use (``markers``,
``converters``, ``traverse``, ``strategy``, ``metrics``, ``settings``) sits below both.
"""

from __future__ import annotations

from taskito.exceptions import ArgumentFailure, InterceptionError
from taskito.interception.built_in import build_default_registry
from taskito.interception.interceptor import ArgumentInterceptor, InterceptedCall
from taskito.interception.metrics import InterceptionMetrics
from taskito.interception.registry import TypeEntry, TypeRegistry
from taskito.interception.report import InterceptionReport, ReportEntry
from taskito.interception.restore import reconstruct_args
from taskito.interception.strategy import Strategy
from taskito.interception.walker import ArgumentWalker, WalkResult

__all__ = [
    "ArgumentFailure",
    "ArgumentInterceptor",
    "ArgumentWalker",
    "InterceptedCall",
    "InterceptionError",
    "InterceptionMetrics",
    "InterceptionReport",
    "ReportEntry",
    "Strategy",
    "TypeEntry",
    "TypeRegistry",
    "WalkResult",
    "build_default_registry",
    "reconstruct_args",
]
