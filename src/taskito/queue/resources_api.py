"""The Queue's worker resources (docs/resources.md): ``@queue.worker_resource``,
``register_resource``, ``load_resources``, and what the resources of this process's workers
(or, from any process, of every worker's heartbeats) look like: ``resource_status`` and
``health_check``."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from taskito.exceptions import CircularDependencyError
from taskito.queue.state import QueueBase
from taskito.resources.definition import ResourceDefinition, ResourceScope, check_definition
from taskito.resources.graph import detect_cycle
from taskito.worker.resources import reload_request_path

if TYPE_CHECKING:
    from taskito.resources.runtime import ResourceRuntime

F = TypeVar("F", bound=Callable[..., Any])


class ResourcesMixin(QueueBase):
    """Defining worker resources, and reporting on them."""

    def worker_resource(
        self,
        name: str,
        depends_on: list[str] | None = None,
        teardown: Callable[[Any], Any] | None = None,
        health_check: Callable[[Any], Any] | None = None,
        health_check_interval: float = 0.0,
        max_recreation_attempts: int = 3,
        scope: str = "worker",
        pool_size: int | None = None,
        pool_min: int = 0,
        acquire_timeout: float = 10.0,
        max_lifetime: float = 3600.0,
        idle_timeout: float = 300.0,
        reloadable: bool = False,
        frozen: bool = False,
        health_check_timeout: float = 5.0,
    ) -> Callable[[F], F]:
        """Register the decorated function as the factory of the worker resource ``name``
        (its dependencies arrive as keyword arguments) and return it unchanged. Options are
        checked now; a dependency cycle raises ``CircularDependencyError`` and registers
        nothing. A dependency may be registered later."""
        resource_scope = ResourceScope.parse(scope)

        def register(factory: F) -> F:
            defn = ResourceDefinition(
                name=name,
                factory=factory,
                teardown=teardown,
                health_check=health_check,
                health_check_interval=health_check_interval,
                max_recreation_attempts=max_recreation_attempts,
                scope=resource_scope,
                depends_on=[] if depends_on is None else depends_on,
                pool_size=pool_size,
                pool_min=pool_min,
                acquire_timeout=acquire_timeout,
                max_lifetime=max_lifetime,
                idle_timeout=idle_timeout,
                reloadable=reloadable,
                frozen=frozen,
                health_check_timeout=health_check_timeout,
            )
            self.register_resource(defn)
            return factory

        return register

    def register_resource(self, defn: ResourceDefinition) -> None:
        """Add (or replace, by name) a resource definition; a cycle raises
        ``CircularDependencyError`` and leaves the definitions as they were."""
        check_definition(defn)
        definitions = self._resource_definitions
        previous = definitions.get(defn.name)
        definitions[defn.name] = defn
        cycle = detect_cycle(definitions)
        if cycle is not None:
            if previous is None:
                del definitions[defn.name]
            else:
                definitions[defn.name] = previous
            raise CircularDependencyError(f"Circular dependency detected: {' -> '.join(cycle)}")

    def load_resources(self, toml_path: str | os.PathLike[str]) -> list[str]:
        """Register every ``[resources.<name>]`` table of a TOML file; return their names.
        A bad file registers none of them."""
        from taskito.resources.toml_config import load_resources_from_toml

        definitions = load_resources_from_toml(toml_path)
        saved = dict(self._resource_definitions)
        try:
            for defn in definitions:
                self.register_resource(defn)
        except BaseException:
            self._resource_definitions.clear()
            self._resource_definitions.update(saved)
            raise
        return [defn.name for defn in definitions]

    @property
    def _task_inject_map(self) -> dict[str, list[str]]:
        """Task name -> the resources it is injected with (tasks that have some)."""
        return {
            name: list(spec.inject) for name, spec in self._task_registry.items() if spec.inject
        }

    @property
    def _resource_runtime(self) -> ResourceRuntime | None:
        """The live runtime of this process: test mode's overrides inside ``test_mode()``,
        else the runtime of a worker running on this Queue here, else None."""
        overrides = getattr(self._test_mode, "resources", None)
        if overrides:
            from taskito.resources.runtime import ResourceRuntime

            return ResourceRuntime.from_test_overrides(overrides)
        for worker in self._running_workers:
            runtime = worker.resource_runtime
            if runtime is not None:
                return runtime
        return None

    def _build_resource_health_json(self) -> str | None:
        """What a heartbeat of a worker here carries, as JSON (None without resources)."""
        runtime = self._resource_runtime
        if runtime is None or not self._resource_definitions:
            return None
        return json.dumps(runtime.health(), sort_keys=True)

    def resource_status(self) -> list[dict[str, Any]]:
        """Each resource, by name: with a worker running in this process, its runtime's view
        (scope, health, init time, recreations, dependencies, pool figures); otherwise the
        health every worker reported in its heartbeat, combined ("healthy" when all say so,
        "unhealthy" when any does, "degraded" otherwise, "not_initialized" when none reports
        it), with ``workers`` the number of workers that reported it."""
        runtime = self._resource_runtime
        if runtime is not None:
            return runtime.status()
        reports = [worker.resource_health for worker in self._storage.list_workers()]
        return self._resource_status_from(reports)

    def _resource_status_from(
        self, reports: Sequence[Mapping[str, str] | None]
    ) -> list[dict[str, Any]]:
        """``resource_status`` over workers' heartbeat reports already read (readiness reads
        the workers once, for every check); a live runtime here still wins."""
        runtime = self._resource_runtime
        if runtime is not None:
            return runtime.status()
        return _from_heartbeats(self._resource_definitions, reports)

    async def aresource_status(self) -> list[dict[str, Any]]:
        return await self._blocking.run(self.resource_status)

    def health_check(self, name: str) -> bool:
        """Run ``name``'s health check once, here, on the live runtime's instance: False with
        no live runtime or no check, when the check fails, raises or outlasts its limit."""
        from taskito.resources.health import run_check

        runtime = self._resource_runtime
        defn = self._resource_definitions.get(name)
        if runtime is None or defn is None or defn.health_check is None:
            return False
        return run_check(defn, runtime.instance_for_check(name)).ok


def _from_heartbeats(
    definitions: dict[str, ResourceDefinition], reported: Sequence[Mapping[str, str] | None]
) -> list[dict[str, Any]]:
    reports: dict[str, list[str]] = {name: [] for name in definitions}
    for health_of in reported:
        for name, health in (health_of or {}).items():
            reports.setdefault(name, []).append(health)
    rows = []
    for name in sorted(reports):
        said = reports[name]
        if not said:
            health = "not_initialized"
        elif "unhealthy" in said:
            health = "unhealthy"
        elif all(h == "healthy" for h in said):
            health = "healthy"
        else:
            health = "degraded"
        defn = definitions.get(name)
        rows.append(
            {
                "name": name,
                "scope": defn.scope.value if defn is not None else "unknown",
                "health": health,
                "init_duration_ms": 0.0,
                "recreations": 0,
                "depends_on": list(defn.depends_on) if defn is not None else [],
                "workers": len(said),
            }
        )
    return rows


__all__ = ["ResourcesMixin", "reload_request_path"]
