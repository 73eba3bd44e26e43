"""Pools by name: ``create_pool("thread", ...)`` builds the pool ``run_worker(pool=...)`` names."""

from __future__ import annotations

import importlib

from taskito.registry import ExecutionEnv
from taskito.worker.pools.base import OnDone, Pool

#: name -> "module:class". Pools other than "thread" live in their own modules, imported only
#: when selected; a pool class takes ``(env, threads, *, app=, async_concurrency=)``.
POOLS: dict[str, str] = {
    "thread": "taskito.worker.pools.thread:ThreadPool",
    "prefork": "taskito.worker.pools.prefork:PreforkPool",
    "async": "taskito.worker.pools.asyncio:AsyncPool",
}


def create_pool(
    name: str,
    env: ExecutionEnv,
    threads: int,
    *,
    app: str | None = None,
    async_concurrency: int = 100,
) -> Pool:
    """The pool called ``name``; an unknown name raises ``ValueError`` listing the known ones."""
    if not isinstance(name, str):
        raise TypeError(f"pool must be a pool name string, not {type(name).__name__}")
    target = POOLS.get(name)
    if target is None:
        raise ValueError(f"Unknown pool {name!r}: expected one of {', '.join(POOLS)}")
    module_name, _, class_name = target.partition(":")
    if name == "thread":
        from taskito.worker.pools.thread import ThreadPool

        return ThreadPool(env, threads)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise NotImplementedError(
            f"pool={name!r} is not available in this version of taskito"
        ) from None
    pool_class = getattr(module, class_name)
    pool: Pool = pool_class(env, threads, app=app, async_concurrency=async_concurrency)
    return pool


__all__ = ["POOLS", "OnDone", "Pool", "create_pool"]
