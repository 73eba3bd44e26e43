"""The ``a*`` mirrors of the Queue's methods for async code, all in one place: each runs the
sync method on the Queue's executor for blocking calls (``blocking.py``), so the event loop
never waits on storage I/O."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from taskito.queue.state import QueueBase

if TYPE_CHECKING:
    from taskito.locks import DistributedLock, OnLost
    from taskito.queue.blocking import BlockingCalls
    from taskito.queue.flow import PeriodicInfo
    from taskito.result import JobResult


class _Mirrored(Protocol):
    """The sync methods the mirrors run (the other parts of ``Queue`` define them)."""

    @property
    def _blocking(self) -> BlockingCalls: ...

    @property
    def enqueue(self) -> Callable[..., JobResult]: ...

    @property
    def enqueue_many(self) -> Callable[..., list[JobResult]]: ...

    @property
    def get_job(self) -> Callable[..., JobResult | None]: ...

    @property
    def list_jobs(self) -> Callable[..., list[JobResult]]: ...

    @property
    def list_jobs_filtered(self) -> Callable[..., list[JobResult]]: ...

    @property
    def stats(self) -> Callable[..., dict[str, int]]: ...

    @property
    def stats_by_queue(self) -> Callable[..., dict[str, int]]: ...

    @property
    def stats_all_queues(self) -> Callable[..., dict[str, dict[str, int]]]: ...

    @property
    def job_errors(self) -> Callable[..., list[dict[str, Any]]]: ...

    @property
    def update_progress(self) -> Callable[..., None]: ...

    @property
    def task_logs(self) -> Callable[..., list[dict[str, Any]]]: ...

    @property
    def query_logs(self) -> Callable[..., list[dict[str, Any]]]: ...

    @property
    def workers(self) -> Callable[..., list[dict[str, Any]]]: ...

    @property
    def metrics(self) -> Callable[..., dict[str, Any]]: ...

    @property
    def metrics_timeseries(self) -> Callable[..., list[dict[str, Any]]]: ...

    @property
    def cancel(self) -> Callable[..., bool]: ...

    @property
    def cancel_job(self) -> Callable[..., bool]: ...

    @property
    def cancel_running_job(self) -> Callable[..., bool]: ...

    @property
    def dead_letters(self) -> Callable[..., list[dict[str, Any]]]: ...

    @property
    def retry_dead(self) -> Callable[..., str]: ...

    @property
    def purge_dead(self) -> Callable[..., int]: ...

    @property
    def purge_completed(self) -> Callable[..., int]: ...

    @property
    def purge(self) -> Callable[..., int]: ...

    @property
    def revoke_task(self) -> Callable[..., int]: ...

    @property
    def pause(self) -> Callable[..., None]: ...

    @property
    def resume(self) -> Callable[..., None]: ...

    @property
    def paused_queues(self) -> Callable[..., list[str]]: ...

    @property
    def archive(self) -> Callable[..., int]: ...

    @property
    def list_archived(self) -> Callable[..., list[JobResult]]: ...

    @property
    def replay(self) -> Callable[..., JobResult]: ...

    @property
    def replay_history(self) -> Callable[..., list[dict[str, Any]]]: ...

    @property
    def job_dag(self) -> Callable[..., dict[str, list[dict[str, Any]]]]: ...

    @property
    def circuit_breakers(self) -> Callable[..., list[dict[str, Any]]]: ...

    @property
    def list_periodic(self) -> Callable[..., list[PeriodicInfo]]: ...

    @property
    def lock(self) -> Callable[..., DistributedLock]: ...


class AsyncMixin(QueueBase):
    """``await queue.astats()`` and friends, and ``queue.alock()``."""

    async def aenqueue(self: _Mirrored, task_name: str, **kwargs: Any) -> JobResult:
        return await self._blocking.run(self.enqueue, task_name, **kwargs)

    async def aenqueue_many(self: _Mirrored, task_name: str, **kwargs: Any) -> list[JobResult]:
        return await self._blocking.run(self.enqueue_many, task_name, **kwargs)

    async def aget_job(self: _Mirrored, job_id: str) -> JobResult | None:
        return await self._blocking.run(self.get_job, job_id)

    async def alist_jobs(self: _Mirrored, **kwargs: Any) -> list[JobResult]:
        return await self._blocking.run(self.list_jobs, **kwargs)

    async def alist_jobs_filtered(self: _Mirrored, **kwargs: Any) -> list[JobResult]:
        return await self._blocking.run(self.list_jobs_filtered, **kwargs)

    async def astats(self: _Mirrored) -> dict[str, int]:
        return await self._blocking.run(self.stats)

    async def astats_by_queue(self: _Mirrored, queue_name: str) -> dict[str, int]:
        return await self._blocking.run(self.stats_by_queue, queue_name)

    async def astats_all_queues(self: _Mirrored) -> dict[str, dict[str, int]]:
        return await self._blocking.run(self.stats_all_queues)

    async def ajob_errors(self: _Mirrored, job_id: str) -> list[dict[str, Any]]:
        return await self._blocking.run(self.job_errors, job_id)

    async def aupdate_progress(self: _Mirrored, job_id: str, progress: int) -> None:
        await self._blocking.run(self.update_progress, job_id, progress)

    async def atask_logs(self: _Mirrored, job_id: str) -> list[dict[str, Any]]:
        return await self._blocking.run(self.task_logs, job_id)

    async def aquery_logs(self: _Mirrored, **kwargs: Any) -> list[dict[str, Any]]:
        return await self._blocking.run(self.query_logs, **kwargs)

    async def aworkers(self: _Mirrored) -> list[dict[str, Any]]:
        return await self._blocking.run(self.workers)

    async def ametrics(
        self: _Mirrored, task_name: str | None = None, since: int = 3600
    ) -> dict[str, Any]:
        return await self._blocking.run(self.metrics, task_name, since)

    async def ametrics_timeseries(self: _Mirrored, **kwargs: Any) -> list[dict[str, Any]]:
        return await self._blocking.run(self.metrics_timeseries, **kwargs)

    async def acancel(self: _Mirrored, job_id: str, force: bool = False) -> bool:
        return await self._blocking.run(self.cancel, job_id, force)

    async def acancel_job(self: _Mirrored, job_id: str) -> bool:
        return await self._blocking.run(self.cancel_job, job_id)

    async def acancel_running_job(self: _Mirrored, job_id: str) -> bool:
        return await self._blocking.run(self.cancel_running_job, job_id)

    async def adead_letters(
        self: _Mirrored, limit: int = 10, offset: int = 0
    ) -> list[dict[str, Any]]:
        return await self._blocking.run(self.dead_letters, limit, offset)

    async def aretry_dead(self: _Mirrored, dead_id: str) -> str:
        return await self._blocking.run(self.retry_dead, dead_id)

    async def apurge_dead(self: _Mirrored, older_than: float = 86400) -> int:
        return await self._blocking.run(self.purge_dead, older_than)

    async def apurge_completed(self: _Mirrored, older_than: float = 86400) -> int:
        return await self._blocking.run(self.purge_completed, older_than)

    async def apurge(self: _Mirrored, queue_name: str) -> int:
        return await self._blocking.run(self.purge, queue_name)

    async def arevoke_task(self: _Mirrored, task_name: str) -> int:
        return await self._blocking.run(self.revoke_task, task_name)

    async def apause(self: _Mirrored, queue_name: str = "default") -> None:
        await self._blocking.run(self.pause, queue_name)

    async def aresume(self: _Mirrored, queue_name: str = "default") -> None:
        await self._blocking.run(self.resume, queue_name)

    async def apaused_queues(self: _Mirrored) -> list[str]:
        return await self._blocking.run(self.paused_queues)

    async def aarchive(self: _Mirrored, older_than: float = 86400) -> int:
        return await self._blocking.run(self.archive, older_than)

    async def alist_archived(self: _Mirrored, limit: int = 50, offset: int = 0) -> list[JobResult]:
        return await self._blocking.run(self.list_archived, limit, offset)

    async def areplay(self: _Mirrored, job_id: str) -> JobResult:
        return await self._blocking.run(self.replay, job_id)

    async def areplay_history(self: _Mirrored, job_id: str) -> list[dict[str, Any]]:
        return await self._blocking.run(self.replay_history, job_id)

    async def ajob_dag(self: _Mirrored, job_id: str) -> dict[str, list[dict[str, Any]]]:
        return await self._blocking.run(self.job_dag, job_id)

    async def acircuit_breakers(self: _Mirrored) -> list[dict[str, Any]]:
        return await self._blocking.run(self.circuit_breakers)

    async def alist_periodic(self: _Mirrored) -> list[PeriodicInfo]:
        return await self._blocking.run(self.list_periodic)

    def alock(
        self: _Mirrored,
        name: str,
        ttl: float = 30.0,
        auto_extend: bool = True,
        owner_id: str | None = None,
        timeout: float | None = None,
        retry_interval: float = 0.1,
        on_lost: OnLost | None = None,
    ) -> DistributedLock:
        """``lock()`` for ``async with queue.alock("name"):`` (storage calls run off the event
        loop; waiting between attempts is ``asyncio.sleep``)."""
        return self.lock(name, ttl, auto_extend, owner_id, timeout, retry_interval, on_lost)


__all__ = ["AsyncMixin"]
