"""The ``a*`` mirrors of the Queue's methods for async code: each runs the sync method on a
small executor shared by the Queue, so the event loop never waits on storage I/O."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from taskito.exceptions import QueueError
from taskito.queue.admin import AdminMixin
from taskito.queue.enqueue import EnqueueMixin
from taskito.queue.inspection import InspectionMixin
from taskito.result import JobResult

T = TypeVar("T")

#: Threads of the shared executor; storage serializes writers anyway.
ASYNC_EXECUTOR_THREADS = 2

_executor_lock = threading.Lock()


class AsyncMixin(EnqueueMixin, InspectionMixin, AdminMixin):
    """``await queue.astats()`` and friends."""

    def _executor(self) -> ThreadPoolExecutor:
        executor = self._async_executor
        if executor is None:
            if self._closed:
                raise QueueError("this Queue is closed")
            with _executor_lock:
                executor = self._async_executor
                if executor is None:
                    executor = ThreadPoolExecutor(
                        max_workers=ASYNC_EXECUTOR_THREADS, thread_name_prefix="taskito-async"
                    )
                    self._async_executor = executor
        return executor

    def _shutdown_async_executor(self) -> None:
        with _executor_lock:
            executor, self._async_executor = self._async_executor, None
        if executor is not None:
            executor.shutdown(wait=True)

    async def _in_executor(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor(), functools.partial(fn, *args, **kwargs))

    async def aenqueue(self, task_name: str, **kwargs: Any) -> JobResult:
        return await self._in_executor(self.enqueue, task_name, **kwargs)

    async def aenqueue_many(self, task_name: str, **kwargs: Any) -> list[JobResult]:
        return await self._in_executor(self.enqueue_many, task_name, **kwargs)

    async def aget_job(self, job_id: str) -> JobResult | None:
        return await self._in_executor(self.get_job, job_id)

    async def alist_jobs(self, **kwargs: Any) -> list[JobResult]:
        return await self._in_executor(self.list_jobs, **kwargs)

    async def alist_jobs_filtered(self, **kwargs: Any) -> list[JobResult]:
        return await self._in_executor(self.list_jobs_filtered, **kwargs)

    async def astats(self) -> dict[str, int]:
        return await self._in_executor(self.stats)

    async def astats_by_queue(self, queue_name: str) -> dict[str, int]:
        return await self._in_executor(self.stats_by_queue, queue_name)

    async def astats_all_queues(self) -> dict[str, dict[str, int]]:
        return await self._in_executor(self.stats_all_queues)

    async def ajob_errors(self, job_id: str) -> list[dict[str, Any]]:
        return await self._in_executor(self.job_errors, job_id)

    async def aupdate_progress(self, job_id: str, progress: int) -> None:
        await self._in_executor(self.update_progress, job_id, progress)

    async def atask_logs(self, job_id: str) -> list[dict[str, Any]]:
        return await self._in_executor(self.task_logs, job_id)

    async def aquery_logs(self, **kwargs: Any) -> list[dict[str, Any]]:
        return await self._in_executor(self.query_logs, **kwargs)

    async def aworkers(self) -> list[dict[str, Any]]:
        return await self._in_executor(self.workers)

    async def acancel(self, job_id: str, force: bool = False) -> bool:
        return await self._in_executor(self.cancel, job_id, force)

    async def acancel_job(self, job_id: str) -> bool:
        return await self._in_executor(self.cancel_job, job_id)

    async def acancel_running_job(self, job_id: str) -> bool:
        return await self._in_executor(self.cancel_running_job, job_id)

    async def adead_letters(self, limit: int = 10, offset: int = 0) -> list[dict[str, Any]]:
        return await self._in_executor(self.dead_letters, limit, offset)

    async def aretry_dead(self, dead_id: str) -> str:
        return await self._in_executor(self.retry_dead, dead_id)

    async def apurge_dead(self, older_than: float = 86400) -> int:
        return await self._in_executor(self.purge_dead, older_than)

    async def apurge_completed(self, older_than: float = 86400) -> int:
        return await self._in_executor(self.purge_completed, older_than)

    async def apurge(self, queue_name: str) -> int:
        return await self._in_executor(self.purge, queue_name)

    async def arevoke_task(self, task_name: str) -> int:
        return await self._in_executor(self.revoke_task, task_name)


__all__ = ["ASYNC_EXECUTOR_THREADS", "AsyncMixin"]
