"""Worker resources handed to a task, for ``execution``: each name in the task's ``inject``
list that the caller did not pass as a keyword is acquired from the worker's resources
(``ExecutionEnv.resources``) before the task runs, and given back, in reverse, after it.

A resource that cannot be acquired (unknown to this worker, permanently unhealthy, its pool
timed out, its factory raised) fails the attempt before any hook or middleware runs, with an
error naming the task and the resource; the attempt is retried by the task's policy (another
worker, or this one later, may have it), and what was already acquired is given back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from taskito.exceptions import ResourceNotFoundError
from taskito.job import Outcome, OutcomeKind

if TYPE_CHECKING:
    from taskito.registry import ExecutionEnv, TaskSpec

logger = logging.getLogger("taskito.execution")


class Acquired:
    """What one run acquired: ``release()`` gives it back, last acquired first."""

    __slots__ = ("_releases",)

    def __init__(self) -> None:
        self._releases: list[Callable[[], None]] = []

    def add(self, release: Callable[[], None] | None) -> None:
        if release is not None:
            self._releases.append(release)

    def release(self) -> None:
        releases, self._releases = self._releases, []
        for give_back in reversed(releases):
            try:
                give_back()
            except Exception:
                logger.exception("giving back a worker resource after the task failed")

    async def arelease(self) -> None:
        """``release`` on an event loop: on a helper thread, since a teardown may block or be
        ``async def`` (run on that thread's own loop)."""
        if self._releases:
            await asyncio.get_running_loop().run_in_executor(None, self.release)


class InjectionError(Exception):
    """The resource ``resource`` could not be acquired; ``__cause__`` says why."""

    def __init__(self, resource: str, cause: BaseException) -> None:
        super().__init__(resource, cause)
        self.resource = resource
        self.cause = cause


#: Nothing acquired (a task without ``inject``): shared, since it holds nothing.
NOTHING = Acquired()


def needs_resources(spec: TaskSpec, kwargs: dict[str, Any]) -> bool:
    return any(name not in kwargs for name in spec.inject)


def acquire_injected(spec: TaskSpec, env: ExecutionEnv, kwargs: dict[str, Any]) -> Acquired:
    """Put each injected resource the caller did not pass into ``kwargs``. On an error what
    was acquired is given back before it propagates."""
    if not needs_resources(spec, kwargs):
        return NOTHING
    provider = env.resources
    acquired = Acquired()
    try:
        for name in spec.inject:
            if name in kwargs:
                continue  # the caller's value wins
            try:
                if provider is None:
                    raise ResourceNotFoundError(
                        f"this worker has no resources; define it with "
                        f"@queue.worker_resource({name!r})"
                    )
                instance, release = provider.acquire_for_task(name)
            except Exception as exc:
                raise InjectionError(name, exc) from exc
            acquired.add(release)
            kwargs[name] = instance
    except BaseException:
        acquired.release()
        raise
    return acquired


async def acquire_injected_off_loop(
    spec: TaskSpec, env: ExecutionEnv, kwargs: dict[str, Any]
) -> Acquired:
    """``acquire_injected`` for an event loop: on a helper thread (a pool may wait up to its
    ``acquire_timeout``). If the waiting task is cancelled, what the thread acquires is given
    back when it is done."""
    if not needs_resources(spec, kwargs):
        return NOTHING
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(None, acquire_injected, spec, env, kwargs)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        future.add_done_callback(_release_when_done)
        raise


def _release_when_done(future: asyncio.Future[Acquired]) -> None:
    if not future.cancelled() and future.exception() is None:
        future.result().release()


def not_injected(exc: BaseException, spec: TaskSpec, started_ns: int) -> Outcome:
    """The failed attempt of a job whose injected resources could not be acquired."""
    cause = exc.cause if isinstance(exc, InjectionError) else exc
    about = f" {exc.resource!r}" if isinstance(exc, InjectionError) else "s"
    # A KeyError (ResourceNotFoundError is one) quotes its message in str(): use it as given.
    message = cause.args[0] if isinstance(cause, KeyError) and cause.args else str(cause)
    return Outcome(
        OutcomeKind.FAILURE,
        error=(
            f"task {spec.name!r} could not get its injected resource{about}: "
            f"{type(cause).__name__}: {message}"
        ),
        retryable=True,
        wall_time_ns=time.perf_counter_ns() - started_ns,
        exception_type=type(cause).__name__,
    )


__all__ = [
    "NOTHING",
    "Acquired",
    "InjectionError",
    "acquire_injected",
    "acquire_injected_off_loop",
    "needs_resources",
    "not_injected",
]
