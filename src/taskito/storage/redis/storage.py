"""The Redis storage backend: any number of machines share one Redis; each operation that moves
jobs is one Lua script (atomic, one round trip) and every change is announced over pub/sub.

``RedisStorage`` is the ``Storage`` half, ``RedisControl`` (``control``) the flow-control half,
``RedisWorkflows`` (``workflows``) the workflow half;
the parts they call are listed in the package docstring (``redis/__init__.py``). The storage
object holds what its parts share: the connection, the key names, the script runner and the
change listener. Task metrics are read and purged in ``metrics``.
``docs/redis.md`` describes the data model and the durable server settings.

Clocks: ``now`` is honoured for every recorded time (created, scheduled, started, completed,
failed, logged, heartbeat) and for the due and expiry checks; locks, rate slots and breakers
use it as given. Leases alone are kept on the
Redis server's clock: ``claim`` and ``extend_leases`` store ``now + lease_ms`` shifted by this
host's offset to the server clock (measured with TIME), and ``requeue_expired(now)`` shifts
``now`` the same way, so a host whose clock runs ahead or behind neither takes live jobs from
others nor leaves dead ones be. Records show leases in the reader's clock: within one process
``lease_expires_at == now + lease_ms`` exactly, as the contract says.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence

from taskito._checks import check_count, check_optional_bytes, check_positive
from taskito.ids import new_job_id
from taskito.job import JobRecord, JobStatus, NewJob, TaskMetric
from taskito.storage.base import (
    DEFAULT_MAX_RESCUES,
    CancelResult,
    DeadLetter,
    Finish,
    JobError,
    JobFilter,
    LogEntry,
    Storage,
    WorkerInfo,
)
from taskito.storage.redis import enqueue as redis_enqueue
from taskito.storage.redis import metrics as redis_metrics
from taskito.storage.redis import reads as redis_reads
from taskito.storage.redis import workers as redis_workers
from taskito.storage.redis.connections import RedisConnection
from taskito.storage.redis.control import RedisControl
from taskito.storage.redis.keys import (
    Keys,
    check_prefix,
    finish_arguments,
    namespace_tag,
    require_time,
)
from taskito.storage.redis.notify import ChangeListener
from taskito.storage.redis.operations import RedisOperations
from taskito.storage.redis.records import encode_log, job_from_packed
from taskito.storage.redis.schema import open_prefix
from taskito.storage.redis.scripts import CHUNK, Scripts
from taskito.storage.redis.workflows import RedisWorkflows
from taskito.storage.validation import (
    cancel_arguments,
    claim_queue_names,
    release_arguments,
    wait_step,
)
from taskito.storage.worker_resources import encode_health

_REQUEUE_CHUNK = 100


class RedisStorage(RedisControl, RedisOperations, RedisWorkflows, Storage):
    """``Storage`` on a Redis server (6.2 or newer), every key under ``<prefix>:``."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "taskito",
        connect_timeout_s: float = 3.0,
        socket_timeout_s: float = 10.0,
        health_check_interval_s: float = 15,
    ) -> None:
        if not isinstance(url, str) or not url:
            raise ValueError(f"url must be a redis:// URL, got {url!r}")
        self.prefix = check_prefix(prefix)
        self._keys = Keys(prefix)
        token = uuid.uuid4().hex
        self._conn = RedisConnection(
            url,
            connect_timeout_s=connect_timeout_s,
            socket_timeout_s=socket_timeout_s,
            health_check_interval_s=health_check_interval_s,
            client_name=f"taskito-{prefix}",
        )
        self._scripts = Scripts(self._conn, prefix, token)
        self._listener = ChangeListener(self._conn, self._keys.changes, token)
        try:
            open_prefix(self._scripts, self._keys)
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._conn.where} prefix={self.prefix!r}>"

    def describe(self) -> str:
        return f"redis {self._conn.url} prefix {self.prefix}"

    def close(self) -> None:
        self._listener.close()
        self._conn.close()

    # --- jobs: enqueue (enqueue.py) and reads (reads.py) --------------------------------

    def enqueue(self, job: NewJob) -> JobRecord:
        return redis_enqueue.enqueue(self._scripts, self._listener, job)

    def enqueue_many(self, jobs: Sequence[NewJob]) -> list[JobRecord]:
        return redis_enqueue.enqueue_many(self._scripts, self._listener, jobs)

    def enqueue_coalescing(
        self, jobs: Sequence[NewJob], max_pending: int | None = None
    ) -> list[tuple[JobRecord, bool]]:
        return redis_enqueue.enqueue_coalescing(self._scripts, self._listener, jobs, max_pending)

    def enqueue_capped(
        self, jobs: Sequence[NewJob], max_pending: int, *, batch: bool
    ) -> list[JobRecord]:
        return redis_enqueue.enqueue_capped(
            self._scripts, self._listener, (jobs, max_pending, batch)
        )

    def get_job(self, job_id: str) -> JobRecord | None:
        found = redis_reads.get_jobs(self._scripts, [job_id])
        return found[0] if found else None

    def list_jobs(self, filter: JobFilter, limit: int, offset: int) -> list[JobRecord]:
        return redis_reads.list_jobs(self._scripts, self._keys, filter, limit, offset)

    def count_jobs(self, queue: str | None = None) -> dict[JobStatus, int]:
        return redis_reads.count_jobs(self._scripts, queue)

    def count_jobs_by_queue(self, include_complete: bool = True) -> dict[str, dict[JobStatus, int]]:
        by_queue = redis_reads.count_jobs_by_queue(self._scripts)
        if not include_complete:  # every count is a ZCARD here: leaving one out saves nothing
            for counts in by_queue.values():
                del counts[JobStatus.COMPLETE]
        return by_queue

    def dependencies(self, job_id: str) -> list[str]:
        return redis_reads.read_list(self._conn, self._keys.deps(job_id))

    def dependents(self, job_id: str) -> list[str]:
        return redis_reads.read_list(self._conn, self._keys.dependents(job_id))

    def cancel_requests(self, job_ids: Collection[str]) -> dict[str, bool]:
        return redis_reads.cancel_requests(self._conn, self._keys, job_ids)

    def task_logs(self, job_id: str) -> list[LogEntry]:
        return redis_reads.task_logs(self._conn, self._keys, job_id)

    def query_logs(
        self, task_name: str | None, level: str | None, since: int, limit: int
    ) -> list[LogEntry]:
        return redis_reads.query_logs(self._conn, self._keys, task_name, level, since, limit)

    def job_errors(self, job_id: str) -> list[JobError]:
        return redis_reads.job_errors(self._conn, self._keys, job_id)

    def dead_letters(
        self, limit: int, offset: int, before: tuple[int, str] | None = None
    ) -> list[DeadLetter]:
        if before is None:
            return redis_reads.dead_letters(self._scripts, limit, offset)
        return redis_reads.dead_letters_before(self._conn, self._keys, limit, offset, before)

    def dead_letter(self, dead_id: str) -> DeadLetter | None:
        return redis_reads.dead_letter(self._conn, self._keys, dead_id)

    # --- jobs: cancel and purge ---------------------------------------------------------

    def cancel_pending(self, job_id: str, now: int) -> bool:
        cancelled: bool = self._scripts.run("cancel_pending", job_id, require_time("now", now)) == 1
        if cancelled:
            self._listener.notify()
        return cancelled

    def request_cancel(self, job_id: str, force: bool = False) -> bool:
        level = 2 if force else 1
        requested: bool = self._scripts.run("request_cancel", job_id, level, idempotent=True) == 1
        if requested:
            self._listener.notify()
        return requested

    def cancel(self, job_id: str, force: bool, now: int) -> CancelResult:
        job_id, force, now = cancel_arguments(job_id, force, require_time("now", now))
        reply = self._scripts.run("cancel", job_id, 2 if force else 1, now)
        result = CancelResult(reply.decode())
        if result in (CancelResult.CANCELLED, CancelResult.REQUESTED):
            self._listener.notify()
        return result

    def purge_queue(self, queue: str, now: int) -> int:
        return self._bulk_cancel("queue", queue, now, "purged")

    def revoke_task(self, task_name: str, now: int) -> int:
        return self._bulk_cancel("task", task_name, now, "revoked")

    def _bulk_cancel(self, by: str, name: str, now: int, error: str) -> int:
        require_time("now", now)
        total = 0
        while True:
            cancelled, looked_at = self._scripts.run("bulk_cancel", by, name, now, error, CHUNK)
            total += cancelled
            if looked_at < CHUNK:
                break
        if total:
            self._listener.notify()
        return int(total)

    def purge_completed(self, before: int) -> int:
        return self._scripts.in_chunks("purge_completed", require_time("before", before))

    # --- the claim cycle ----------------------------------------------------------------

    def claim(
        self,
        worker_id: str,
        queues: Sequence[str] | None,
        namespace: str | None,
        limit: int,
        now: int,
        lease_ms: int,
    ) -> list[JobRecord]:
        queue_names = claim_queue_names(queues, limit, lease_ms)
        require_time("now", now)
        if limit == 0 or queue_names == []:
            return []
        scope = ["all"] if queue_names is None else ["list", *queue_names]
        offset = self._conn.clock_offset_ms()
        reply = self._scripts.run(
            "claim",
            worker_id,
            now,
            now + lease_ms + offset,
            limit,
            namespace_tag(namespace),
            *scope,
        )
        if reply[0] == 1:
            self._listener.notify()
        return [job_from_packed(job, offset) for job in reply[1:]]

    def extend_leases(
        self, worker_id: str, job_ids: Collection[str], now: int, lease_ms: int
    ) -> set[str]:
        check_positive("lease_ms", lease_ms, type_error=ValueError)
        require_time("now", now)
        ids = list(job_ids)
        if not ids:
            return set()
        deadline = now + lease_ms + self._conn.clock_offset_ms()
        held = self._scripts.run("extend", worker_id, deadline, *ids, idempotent=True)
        return {job_id.decode() for job_id in held}

    def finish_many(self, finishes: Sequence[Finish], now: int) -> list[bool]:
        batch = list(finishes)
        arguments = [finish_arguments(finish) for finish in batch]
        if not batch:
            return []
        flags = self._scripts.run("finish", require_time("now", now), len(batch), *arguments)
        applied = [flag == 1 for flag in flags]
        if any(applied):
            self._listener.notify()
        return applied

    def finish_and_claim(
        self,
        finishes: Sequence[Finish],
        worker_id: str,
        queues: Sequence[str] | None,
        namespace: str | None,
        limit: int,
        now: int,
        lease_ms: int,
    ) -> tuple[list[bool], list[JobRecord]]:
        """See ``Storage.finish_and_claim``: one script (``finish_claim.lua``)."""
        batch = list(finishes)
        arguments = [finish_arguments(finish) for finish in batch]
        queue_names = claim_queue_names(queues, limit, lease_ms)
        require_time("now", now)
        if limit == 0 or queue_names == []:
            return self.finish_many(batch, now), []
        scope = ["all"] if queue_names is None else ["list", *queue_names]
        offset = self._conn.clock_offset_ms()
        reply = self._scripts.run(
            "finish_claim",
            now,
            len(batch),
            *arguments,
            worker_id,
            now + lease_ms + offset,
            limit,
            namespace_tag(namespace),
            *scope,
        )
        applied = [flag == 1 for flag in reply[0]]
        if any(applied) or reply[1] == 1:
            self._listener.notify()
        return applied, [job_from_packed(job, offset) for job in reply[2:]]

    def requeue_expired(self, now: int, max_rescues: int = DEFAULT_MAX_RESCUES) -> list[JobRecord]:
        require_time("now", now)
        check_count("max_rescues", max_rescues, type_error=ValueError)
        offset = self._conn.clock_offset_ms()
        requeued: list[JobRecord] = []
        while True:
            dead_ids = [new_job_id() for _ in range(_REQUEUE_CHUNK)]
            reply = self._scripts.run(
                "requeue", now + offset, now, _REQUEUE_CHUNK, max_rescues, *dead_ids
            )
            requeued += [job_from_packed(job, offset) for job in reply]
            if len(reply) < _REQUEUE_CHUNK:
                break
        if requeued:
            self._listener.notify()
        return requeued

    def release_jobs(
        self, worker_id: str, keep: Collection[str], now: int, max_rescues: int, reason: str
    ) -> list[JobRecord]:
        worker, kept, cap, why = release_arguments(worker_id, keep, max_rescues, reason)
        require_time("now", now)
        offset = self._conn.clock_offset_ms()
        spare = 4  # poison pills are rare; the script asks for more when it needs them
        while True:
            dead_ids = [new_job_id() for _ in range(spare)]
            reply = self._scripts.run("release", worker, now, cap, why, len(kept), *kept, *dead_ids)
            if reply[0] == 1:
                break
            spare = int(reply[1])
        released = [job_from_packed(job, offset) for job in reply[1:]]
        if released:
            self._listener.notify()
        return released

    # --- progress, logs, errors, dead letters -------------------------------------------

    def update_progress(self, job_id: str, progress: int) -> bool:
        if isinstance(progress, bool) or not isinstance(progress, int) or not 0 <= progress <= 100:
            raise ValueError(f"progress must be an integer from 0 to 100, got {progress!r}")
        updated: bool = self._scripts.run("progress", job_id, progress, idempotent=True) == 1
        return updated

    def add_log(
        self,
        job_id: str,
        task_name: str,
        level: str,
        message: str,
        extra: str | None,
        now: int,
    ) -> None:
        entry = encode_log(job_id, task_name, level, message, extra, require_time("now", now))
        # Partial results ("result" lines) wake result streams; ordinary log lines do not.
        wake = level == "result"
        self._scripts.run("add_log", job_id, now, "1" if wake else "0", entry)
        if wake:
            self._listener.notify()

    def retry_dead(
        self,
        dead_id: str,
        new_job_id: str,
        now: int,
        payload: bytes | None = None,
        *,
        automatic: bool = False,
    ) -> JobRecord | None:
        bump = 1 if automatic else 0
        args: list[object] = [dead_id, new_job_id, require_time("now", now), bump]
        replacement = check_optional_bytes("payload", payload)
        if replacement is not None:
            args.append(replacement)
        packed = self._scripts.run("retry_dead", *args)
        if packed is None:
            return None
        self._listener.notify()
        return job_from_packed(packed, self._conn.clock_offset_ms())

    def purge_dead(self, before: int) -> int:
        require_time("before", before)
        total = 0
        while True:
            deleted = self._scripts.run("purge_dead", before, CHUNK)
            total += deleted
            if deleted < CHUNK:
                return int(total)

    def task_metrics(self, task_name: str | None, since: int) -> list[TaskMetric]:
        return redis_metrics.task_metrics(self._conn, self._keys, task_name, since)

    def purge_metrics(self, before: int, limit: int) -> int:
        return redis_metrics.purge_metrics(self._scripts.run, before, limit)

    # --- workers ------------------------------------------------------------------------

    def register_worker(self, worker: WorkerInfo) -> None:
        redis_workers.register(self._conn, self._keys, worker)

    def heartbeat(
        self,
        worker_id: str,
        status: str,
        now: int,
        resource_health: Mapping[str, str] | None = None,
    ) -> None:
        health = encode_health(resource_health) or ""
        self._scripts.run(
            "heartbeat", worker_id, status, require_time("now", now), health, idempotent=True
        )

    def unregister_worker(self, worker_id: str) -> None:
        redis_workers.unregister(self._conn, self._keys, worker_id)

    def list_workers(self) -> list[WorkerInfo]:
        return redis_workers.list_all(self._conn, self._keys)

    def reap_workers(self, stale_before: int) -> list[str]:
        reaped = self._scripts.run("reap", require_time("stale_before", stale_before))
        return [worker_id.decode() for worker_id in reaped]

    # --- change notification ------------------------------------------------------------

    def wait_for_change(self, timeout_s: float) -> bool:
        """See ``Storage.wait_for_change``. Writes through this object wake waiters at once;
        others arrive over pub/sub within a round trip. A change made since this thread's
        previous call counts, so a caller that checks, then waits, misses nothing between."""
        return self._listener.wait(wait_step(timeout_s))
