"""Pools by name: ``create_pool("thread", ...)`` builds the pool ``run_worker(pool=...)`` names.

``POOLS`` is the one table of pool names: the worker's settings, the façade's
``run_worker(pool=...)`` and the ``taskito worker --pool`` choices all take them from here.
"""

from __future__ import annotations

import importlib

from taskito.registry import ExecutionEnv
from taskito.worker.pools.base import OnDone, Pool

#: name -> "module:class", in the order the docs list them. Pools other than "thread" live in
#: their own modules, imported only when selected; a pool class takes ``(env, threads, *,
#: app=, async_concurrency=)``, and the prefork pool also ``max_tasks_per_child=``.
POOLS: dict[str, str] = {
    "thread": "taskito.worker.pools.thread:ThreadPool",
    "prefork": "taskito.worker.pools.prefork.pool:PreforkPool",
    "async": "taskito.worker.pools.asyncio:AsyncPool",
}

#: The pool names alone: ``("thread", "prefork", "async")``.
POOL_NAMES: tuple[str, ...] = tuple(POOLS)


def check_pool_name(name: object) -> str:
    """``name`` if it names a pool; otherwise ``TypeError`` or a ``ValueError`` listing them."""
    if not isinstance(name, str):
        raise TypeError(f"pool must be a pool name string, not {type(name).__name__}")
    if name not in POOLS:
        raise ValueError(f"Unknown pool {name!r}: expected one of {', '.join(POOLS)}")
    return name


def check_pool_options(name: str, max_tasks_per_child: int) -> None:
    """``max_tasks_per_child`` (0: never recycle) applies to the prefork pool only."""
    if max_tasks_per_child and name != "prefork":
        raise ValueError(f"max_tasks_per_child applies to pool='prefork' only, not pool={name!r}")


def create_pool(
    name: str,
    env: ExecutionEnv,
    threads: int,
    *,
    app: str | None = None,
    async_concurrency: int = 100,
    max_tasks_per_child: int = 0,
) -> Pool:
    """The pool called ``name``; an unknown name raises ``ValueError`` listing the known ones.

    ``max_tasks_per_child`` (0: never recycle) applies to the prefork pool only.
    """
    target = POOLS[check_pool_name(name)]
    module_name, _, class_name = target.partition(":")
    check_pool_options(name, max_tasks_per_child)
    if name == "thread":
        from taskito.worker.pools.thread import ThreadPool

        return ThreadPool(env, threads, async_concurrency=async_concurrency)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise NotImplementedError(
            f"pool={name!r} is not available in this version of taskito"
        ) from None
    pool_class = getattr(module, class_name)
    options: dict[str, object] = {"app": app, "async_concurrency": async_concurrency}
    if name == "prefork":
        options["max_tasks_per_child"] = max_tasks_per_child
    pool: Pool = pool_class(env, threads, **options)
    return pool


__all__ = [
    "POOLS",
    "POOL_NAMES",
    "OnDone",
    "Pool",
    "check_pool_name",
    "check_pool_options",
    "create_pool",
]
