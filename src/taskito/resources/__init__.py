"""Worker resources: objects a worker builds once (database pools, HTTP clients) and hands to
the tasks that ask for them (``@queue.task(inject=["db"])`` or ``db: Inject["db"]``).

``ResourceDefinition`` says how to build one and for how long it lives (``ResourceScope``);
``ResourceRuntime`` builds a worker's resources in dependency order (``topological_sort``),
hands them out, rebuilds them (``HealthChecker``, reload) and tears them down in reverse.
"""

from __future__ import annotations

from taskito.resources.definition import ResourceDefinition, ResourceScope
from taskito.resources.frozen import FrozenResource
from taskito.resources.graph import detect_cycle, topological_sort
from taskito.resources.health import HealthChecker
from taskito.resources.mock import MockResource
from taskito.resources.pool import PoolConfig, ResourcePool
from taskito.resources.runtime import ResourceRuntime
from taskito.resources.thread_local import ThreadLocalStore

__all__ = [
    "FrozenResource",
    "HealthChecker",
    "MockResource",
    "PoolConfig",
    "ResourceDefinition",
    "ResourcePool",
    "ResourceRuntime",
    "ResourceScope",
    "ThreadLocalStore",
    "detect_cycle",
    "topological_sort",
]
