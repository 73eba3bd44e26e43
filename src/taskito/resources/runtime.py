"""``ResourceRuntime``: a worker's resources, built in dependency order, handed to tasks by
scope (``acquire_for_task``), rebuilt when unhealthy or reloaded, and torn down in reverse.

A worker process owns one runtime (a prefork child builds its own: resources do not cross
processes). It is the engine's ``registry.ResourceProvider``.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from taskito.async_support.helpers import run_maybe_async
from taskito.exceptions import ResourceInitError, ResourceNotFoundError, ResourceUnavailableError
from taskito.resources.definition import ResourceDefinition, ResourceScope
from taskito.resources.frozen import FrozenResource
from taskito.resources.graph import dependents_of, topological_sort
from taskito.resources.mock import MockResource
from taskito.resources.pool import PoolConfig, ResourcePool
from taskito.resources.thread_local import ThreadLocalStore

logger = logging.getLogger("taskito.resources")

#: ``ResourcePool`` size when a task-scoped definition gives no ``pool_size``.
DEFAULT_POOL_SIZE = 4

Release = Callable[[], None]


class ResourceRuntime:
    """The resources of one worker process, by name."""

    def __init__(self, definitions: Mapping[str, ResourceDefinition] | None = None) -> None:
        self._definitions: dict[str, ResourceDefinition] = dict(definitions or {})
        self._lock = threading.RLock()
        # Rebuilds run one at a time; a task asking for a resource mid-rebuild waits for it.
        self._recreating = threading.Lock()
        self._rebuilt = threading.Condition()
        self._rebuilding: set[str] = set()
        self._instances: dict[str, Any] = {}
        self._pools: dict[str, ResourcePool] = {}
        self._stores: dict[str, ThreadLocalStore] = {}
        self._init_order: list[str] = []
        self._init_durations: dict[str, float] = {}
        self._recreation_count: dict[str, int] = {}
        self._unhealthy: set[str] = set()

    @classmethod
    def from_test_overrides(cls, overrides: Mapping[str, Any]) -> ResourceRuntime:
        """A runtime without definitions whose values act as worker instances (a
        ``MockResource`` stands for what its ``get()`` returns), all healthy."""
        runtime = cls()
        for name, value in overrides.items():
            runtime._instances[name] = value.value if isinstance(value, MockResource) else value
            runtime._init_order.append(name)
        return runtime

    @property
    def definitions(self) -> dict[str, ResourceDefinition]:
        return dict(self._definitions)

    def names(self) -> list[str]:
        """Every resource this runtime knows, in build order (then any not built yet)."""
        rest = [n for n in self._definitions if n not in self._init_order]
        return [*self._init_order, *rest]

    # --- building and tearing down -------------------------------------------------------

    def initialize(self) -> None:
        """Build every resource, dependencies first. A factory that fails raises
        ``ResourceInitError`` naming the resource, after tearing down what was built."""
        order = topological_sort(self._definitions)
        try:
            for name in order:
                self._build(name)
        except BaseException:
            self.teardown()
            raise

    def _build(self, name: str) -> None:
        defn = self._definitions[name]
        started = time.perf_counter()
        deps = self._dependencies(defn)
        try:
            if defn.scope is ResourceScope.WORKER:
                instance = run_maybe_async(defn.factory(**deps))
                self._instances[name] = FrozenResource(instance, name) if defn.frozen else instance
            elif defn.scope is ResourceScope.TASK:
                pool = ResourcePool(name, defn.factory, defn.teardown, _pool_config(defn), deps)
                self._pools[name] = pool
                if defn.pool_min > 0:
                    pool.prewarm()
            elif defn.scope is ResourceScope.THREAD:
                self._stores[name] = ThreadLocalStore(name, defn.factory, defn.teardown, deps)
        except Exception as exc:
            raise ResourceInitError(
                f"Failed to initialize resource '{name}': {_describe(exc)}"
            ) from exc
        self._init_durations[name] = (time.perf_counter() - started) * 1000
        if name not in self._init_order:
            self._init_order.append(name)

    def _dependencies(self, defn: ResourceDefinition) -> dict[str, Any]:
        """The keyword arguments of ``defn``'s factory: its worker-scoped dependencies."""
        deps: dict[str, Any] = {}
        for dep in defn.depends_on:
            if dep in self._instances:
                deps[dep] = self._instances[dep]
            elif defn.scope is ResourceScope.REQUEST:
                deps[dep] = None
            else:
                scope = self._definitions[dep].scope.value if dep in self._definitions else "?"
                raise ResourceInitError(
                    f"Failed to initialize resource '{defn.name}': its dependency {dep!r} is "
                    f"not a built worker-scoped resource (scope {scope!r}); a factory can only "
                    "receive worker-scoped resources"
                )
        return deps

    def teardown(self) -> None:
        """Pools, then per-thread instances, then worker instances in reverse build order.
        Errors are logged and the rest still go. Safe to call twice."""
        with self._lock:
            pools, self._pools = self._pools, {}
            stores, self._stores = self._stores, {}
            order = list(reversed(self._init_order))
            instances, self._instances = self._instances, {}
            self._init_order = []
        for pool in pools.values():
            pool.shutdown()
        for store in stores.values():
            store.teardown_all()
        for name in order:
            if name in instances:
                self._close(name, instances[name])

    def _close(self, name: str, instance: Any) -> None:
        defn = self._definitions.get(name)
        if defn is None or defn.teardown is None:
            return
        if isinstance(instance, FrozenResource):
            instance = instance._wrapped
        try:
            run_maybe_async(defn.teardown(instance))
        except Exception:
            logger.exception("teardown of resource %r failed", name, extra={"resource": name})

    # --- handing out ----------------------------------------------------------------------

    def _check_usable(self, name: str) -> ResourceDefinition | None:
        if name not in self._definitions and name not in self._instances:
            known = ", ".join(sorted(self.names())) or "none"
            raise ResourceNotFoundError(
                f"Resource '{name}' is not registered (known resources: {known})"
            )
        if name in self._unhealthy:
            raise ResourceUnavailableError(f"Resource '{name}' is permanently unhealthy")
        return self._definitions.get(name)

    def resolve(self, name: str) -> Any:
        """The instance of a worker- or thread-scoped resource (``acquire_for_task`` for the
        others)."""
        defn = self._check_usable(name)
        for _ in range(2):
            if name in self._instances:
                return self._instances[name]
            store = self._stores.get(name)
            if store is not None:
                return store.get_or_create()
            if not self._waited_for_rebuild(name, defn):
                break
        if defn is not None and defn.scope is ResourceScope.TASK:
            raise ResourceUnavailableError(
                f"Resource '{name}' is task-scoped: use acquire_for_task()"
            )
        raise ResourceNotFoundError(f"Resource '{name}' is not initialized")

    def acquire_for_task(self, name: str) -> tuple[Any, Release | None]:
        """``(instance, release or None)`` for one task: the worker's instance, this
        thread's, one lent by the pool (``release`` returns it), or a fresh one for this task
        (``release`` tears it down)."""
        defn = self._check_usable(name)
        if defn is not None and defn.scope is ResourceScope.REQUEST:
            return self._fresh(defn)
        for _ in range(2):
            if name in self._instances:
                return self._instances[name], None
            store = self._stores.get(name)
            if store is not None:
                return store.get_or_create(), None
            pool = self._pools.get(name)
            if pool is not None:
                instance = pool.acquire()
                return instance, functools.partial(pool.release, instance)
            if not self._waited_for_rebuild(name, defn):
                break
        raise ResourceNotFoundError(f"Resource '{name}' is not initialized")

    def _waited_for_rebuild(self, name: str, defn: ResourceDefinition | None) -> bool:
        """Wait (up to the resource's ``acquire_timeout``) while ``name`` is being rebuilt;
        True when it was."""
        timeout_s = defn.acquire_timeout if defn is not None else 10.0
        with self._rebuilt:
            if name not in self._rebuilding:
                return False
            self._rebuilt.wait_for(lambda: name not in self._rebuilding, timeout_s)
        return True

    def _fresh(self, defn: ResourceDefinition) -> tuple[Any, Release]:
        deps = self._dependencies(defn)
        try:
            instance = run_maybe_async(defn.factory(**deps))
        except Exception as exc:
            raise ResourceInitError(
                f"Failed to initialize resource '{defn.name}': {_describe(exc)}"
            ) from exc
        return instance, functools.partial(self._close, defn.name, instance)

    # --- health and reloading --------------------------------------------------------------

    def instance_for_check(self, name: str) -> Any:
        """The worker instance a health check inspects (None when there is none)."""
        return self._instances.get(name)

    def mark_unhealthy(self, name: str) -> None:
        with self._lock:
            self._unhealthy.add(name)
        logger.error(
            "resource %r is permanently unhealthy; tasks that need it fail",
            name,
            extra={"resource": name},
        )

    def is_unhealthy(self, name: str) -> bool:
        return name in self._unhealthy

    def recreate(self, name: str) -> bool:
        """Tear down and build ``name`` again, then the resources built from it; clear its
        unhealthy mark. False (logged) when a factory fails."""
        if name not in self._definitions:
            raise ResourceNotFoundError(f"Resource '{name}' is not registered")
        with self._recreating:
            targets = [name, *(n for n in self._init_order if n in self._dependents(name))]
            with self._rebuilt:
                self._rebuilding.update(targets)
            try:
                for target in targets:
                    self._drop(target)
                    try:
                        self._build(target)
                    except ResourceInitError:
                        logger.exception("rebuilding resource %r failed", target)
                        return False
                    self._recreation_count[target] = self._recreation_count.get(target, 0) + 1
                self._unhealthy.discard(name)
            finally:
                with self._rebuilt:
                    self._rebuilding.difference_update(targets)
                    self._rebuilt.notify_all()
        return True

    def _dependents(self, name: str) -> set[str]:
        return dependents_of(self._definitions, name)

    def _drop(self, name: str) -> None:
        pool = self._pools.pop(name, None)
        if pool is not None:
            pool.shutdown()
        store = self._stores.pop(name, None)
        if store is not None:
            store.teardown_all()
        if name in self._instances:
            self._close(name, self._instances.pop(name))

    def reload(self, names: Iterable[str] | None = None) -> dict[str, bool]:
        """Rebuild the ``reloadable`` resources (only those named, when ``names`` is given),
        in build order: ``{name: rebuilt}``. A named resource that is not reloadable is left
        alone and reported False."""
        wanted = None if not names else set(names)
        results: dict[str, bool] = {}
        for name in self.names():
            defn = self._definitions.get(name)
            if defn is None or (wanted is not None and name not in wanted):
                continue
            if not defn.reloadable:
                if wanted is not None:
                    logger.warning("resource %r is not reloadable (reloadable=False)", name)
                    results[name] = False
                continue
            results[name] = self.recreate(name)
        for name in sorted((wanted or set()) - set(self._definitions)):
            logger.warning("reload: no resource named %r", name)
            results[name] = False
        return results

    # --- reporting -------------------------------------------------------------------------

    def health(self) -> dict[str, str]:
        """Each resource's health as a worker reports it: "unhealthy" when marked, "healthy"
        when built (a request-scoped one always), else "unknown"."""
        return {name: self._health_of(name) for name in self.names()}

    def _health_of(self, name: str) -> str:
        if name in self._unhealthy:
            return "unhealthy"
        defn = self._definitions.get(name)
        built = name in self._instances or name in self._pools or name in self._stores
        if built or (defn is not None and defn.scope is ResourceScope.REQUEST):
            return "healthy"
        return "unknown"

    def status(self) -> list[dict[str, Any]]:
        """One dict per resource: name, scope, health, init_duration_ms, recreations,
        depends_on, and pool (the pool's ``stats()``) for task scope."""
        rows = []
        for name in self.names():
            defn = self._definitions.get(name)
            row: dict[str, Any] = {
                "name": name,
                "scope": defn.scope.value if defn is not None else ResourceScope.WORKER.value,
                "health": self._health_of(name),
                "init_duration_ms": round(self._init_durations.get(name, 0.0), 2),
                "recreations": self._recreation_count.get(name, 0),
                "depends_on": list(defn.depends_on) if defn is not None else [],
            }
            pool = self._pools.get(name)
            if pool is not None:
                row["pool"] = pool.stats()
            rows.append(row)
        return rows


def _pool_config(defn: ResourceDefinition) -> PoolConfig:
    return PoolConfig(
        pool_size=defn.pool_size or DEFAULT_POOL_SIZE,
        pool_min=defn.pool_min,
        acquire_timeout=defn.acquire_timeout,
        max_lifetime=defn.max_lifetime,
        idle_timeout=defn.idle_timeout,
    )


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


__all__ = ["DEFAULT_POOL_SIZE", "ResourceRuntime"]
