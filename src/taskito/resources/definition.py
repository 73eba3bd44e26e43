"""What a worker resource is: ``ResourceScope`` (how long one instance lives) and
``ResourceDefinition`` (the factory and its options), checked once when it is registered."""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class ResourceScope(enum.StrEnum):
    """How long a resource instance lives in a worker.

    ``worker``: one instance for the worker's life. ``task``: instances in a pool, one lent to
    each task and returned after it. ``thread``: one lazily built instance per thread.
    ``request``: a fresh instance for each task, torn down after it.
    """

    WORKER = "worker"
    TASK = "task"
    THREAD = "thread"
    REQUEST = "request"

    @classmethod
    def parse(cls, value: object) -> ResourceScope:
        """The scope ``value`` names; ``ValueError`` listing the known ones otherwise."""
        if isinstance(value, ResourceScope):
            return value
        try:
            if not isinstance(value, str):
                raise ValueError(value)
            return cls(value)
        except ValueError:
            known = ", ".join(repr(s.value) for s in cls)
            raise ValueError(f"invalid resource scope {value!r}: expected one of {known}") from None


@dataclass
class ResourceDefinition:
    """A worker resource: ``factory(**dependencies)`` builds it; ``teardown(instance)`` closes
    it; ``health_check(instance) -> bool`` runs every ``health_check_interval`` seconds (0:
    never) and may take ``health_check_timeout`` seconds before it counts as failed. Factories,
    teardowns and checks may be ``async def``. The pool options apply to ``task`` scope."""

    name: str
    factory: Callable[..., Any]
    teardown: Callable[[Any], Any] | None = None
    health_check: Callable[[Any], Any] | None = None
    health_check_interval: float = 0.0
    max_recreation_attempts: int = 3
    scope: ResourceScope = ResourceScope.WORKER
    depends_on: list[str] = field(default_factory=list)
    pool_size: int | None = None
    pool_min: int = 0
    acquire_timeout: float = 10.0
    max_lifetime: float = 3600.0
    idle_timeout: float = 300.0
    reloadable: bool = False
    frozen: bool = False
    health_check_timeout: float = 5.0

    def __post_init__(self) -> None:
        self.scope = ResourceScope.parse(self.scope)
        if self.depends_on is None:
            self.depends_on = []
        elif isinstance(self.depends_on, tuple):
            self.depends_on = list(self.depends_on)


def check_definition(defn: object) -> ResourceDefinition:
    """``defn`` when every field makes sense; ``TypeError``/``ValueError`` naming the resource
    and the bad field otherwise."""
    if not isinstance(defn, ResourceDefinition):
        raise TypeError(f"expected a ResourceDefinition, got {type(defn).__name__}")
    name = defn.name
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"a resource needs a non-empty name, got {name!r}")
    where = f"resource {name!r}"
    if not callable(defn.factory):
        raise TypeError(f"{where}: factory must be callable, not {type(defn.factory).__name__}")
    for option in ("teardown", "health_check"):
        value = getattr(defn, option)
        if value is not None and not callable(value):
            raise TypeError(f"{where}: {option} must be callable, not {type(value).__name__}")
    defn.scope = ResourceScope.parse(defn.scope)
    if not isinstance(defn.depends_on, list) or not all(
        isinstance(d, str) and d for d in defn.depends_on
    ):
        raise TypeError(f"{where}: depends_on must be a list of resource names")
    if name in defn.depends_on:
        raise ValueError(f"{where} cannot depend on itself")
    _check_number(where, "health_check_interval", defn.health_check_interval, minimum=0.0)
    _check_number(where, "health_check_timeout", defn.health_check_timeout, minimum=0.0, open=True)
    _check_number(where, "acquire_timeout", defn.acquire_timeout, minimum=0.0)
    _check_number(where, "max_lifetime", defn.max_lifetime, minimum=0.0, open=True)
    _check_number(where, "idle_timeout", defn.idle_timeout, minimum=0.0, open=True)
    _check_int(where, "max_recreation_attempts", defn.max_recreation_attempts, minimum=0)
    _check_int(where, "pool_min", defn.pool_min, minimum=0)
    if defn.pool_size is not None:
        _check_int(where, "pool_size", defn.pool_size, minimum=1)
        if defn.pool_min > defn.pool_size:
            raise ValueError(f"{where}: pool_min ({defn.pool_min}) exceeds pool_size")
    return defn


def _check_number(
    where: str, option: str, value: object, *, minimum: float, open: bool = False
) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TypeError(f"{where}: {option} must be a finite number of seconds, got {value!r}")
    if value < minimum or (open and value == minimum):
        bound = "greater than" if open else "at least"
        raise ValueError(f"{where}: {option} must be {bound} {minimum:g}, got {value!r}")


def _check_int(where: str, option: str, value: object, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{where}: {option} must be a whole number, got {value!r}")
    if value < minimum:
        raise ValueError(f"{where}: {option} must be at least {minimum}, got {value!r}")


__all__ = ["ResourceDefinition", "ResourceScope", "check_definition"]
