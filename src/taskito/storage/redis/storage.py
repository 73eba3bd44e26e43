"""The Redis storage backend: any number of machines share one Redis; each operation that moves
jobs is one Lua script (atomic, one round trip) and every change is announced over pub/sub.

The client, error translation, scripts and server clock offset live in ``connections``; the
storage object's connection, prefix and schema check in ``core``; key names and script arguments
in ``keys``; record decoding in ``records``; change notification in ``notify``; inspection walks
in ``reads``; task metrics in ``metrics``; the flow-control half of the contract in
``control``; the Lua scripts in ``lua/``.
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

import logging
from collections.abc import Collection, Sequence
from typing import cast

from taskito.exceptions import StorageError, StorageUnavailableError
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
from taskito.storage.redis import metrics as redis_metrics
from taskito.storage.redis import reads as redis_inspect
from taskito.storage.redis import workers as redis_workers
from taskito.storage.redis.control import RedisControl
from taskito.storage.redis.core import CHUNK
from taskito.storage.redis.keys import (
    check_batch,
    check_new_job,
    finish_arguments,
    job_arguments,
    namespace_tag,
    require_time,
)
from taskito.storage.redis.records import (
    dead_letter_from_fields,
    encode_log,
    job_error_from_entry,
    job_from_packed,
    pairs,
)
from taskito.storage.validation import (
    cancel_arguments,
    claim_queue_names,
    release_arguments,
    require_count,
    require_lease,
    require_optional_bytes,
    require_text,
    wait_step,
)

logger = logging.getLogger("taskito.storage.redis")

_REQUEUE_CHUNK = 100


class RedisStorage(RedisControl, Storage):
    """``Storage`` on a Redis server (6.2 or newer), every key under ``<prefix>:``.

    The connection and the prefix live in ``RedisCore``; the flow-control half of the
    contract in ``RedisControl``.
    """

    # --- jobs: enqueue, read ------------------------------------------------------------

    def enqueue(self, job: NewJob) -> JobRecord:
        check_new_job(job)
        reply = self._insert_new("one", [job])
        if reply is not None:
            return self._enqueued(job, reply)
        stored = self.get_job(job.id)
        assert stored is not None  # _insert_new saw it
        return stored

    def enqueue_many(self, jobs: Sequence[NewJob]) -> list[JobRecord]:
        batch = [check_new_job(job) for job in jobs]
        if not batch:
            return []
        check_batch(batch)
        self._insert_new("many", batch)
        self._listener.notify()
        return [JobRecord.from_new(job) for job in batch]

    def _insert_new(self, mode: str, jobs: Sequence[NewJob]) -> list[bytes] | None:
        """Run the enqueue script; after a dropped connection, run it once more. The job ids
        are made by the client, so the retry cannot store them twice: when it is refused and
        the first job is there, the lost attempt had stored them all (None is returned)."""
        args: list[object] = [mode, len(jobs), *[job_arguments(job) for job in jobs]]
        try:
            return cast(list[bytes], self._run("enqueue", *args))
        except StorageUnavailableError as exc:
            logger.info(
                "lost the connection to redis mid-write; trying once more",
                extra={"redis": self._conn.where, "error": str(exc)},
            )
        try:
            return cast(list[bytes], self._run("enqueue", *args))
        except StorageUnavailableError:
            raise
        except StorageError:
            if not self._jobs([jobs[0].id]):
                raise
            return None

    def get_job(self, job_id: str) -> JobRecord | None:
        found = self._jobs([job_id])
        return found[0] if found else None

    def list_jobs(self, filter: JobFilter, limit: int, offset: int) -> list[JobRecord]:
        """See ``reads.list_job_ids`` for the cost of each filter."""
        if not isinstance(filter, JobFilter):
            raise TypeError(f"filter must be a JobFilter, got {type(filter).__name__}")
        limit = require_count("limit", limit)
        offset = require_count("offset", offset)
        return self._jobs(redis_inspect.list_job_ids(self._conn, self._keys, filter, limit, offset))

    def count_jobs(self, queue: str | None = None) -> dict[JobStatus, int]:
        scope = ("all",) if queue is None else ("queue", queue)
        counts = self._run("counts", *scope, idempotent=True)
        return {status: int(counts[status.code]) for status in JobStatus}

    def count_jobs_by_queue(self) -> dict[str, dict[JobStatus, int]]:
        flat = self._run("counts", "by_queue", idempotent=True)
        by_queue: dict[str, dict[JobStatus, int]] = {}
        for start in range(0, len(flat), 7):
            counts = flat[start + 1 : start + 7]
            by_queue[flat[start].decode()] = {s: int(counts[s.code]) for s in JobStatus}
        return by_queue

    def dependencies(self, job_id: str) -> list[str]:
        return self._read_list(self._keys.deps(job_id))

    def dependents(self, job_id: str) -> list[str]:
        return self._read_list(self._keys.dependents(job_id))

    def _read_list(self, key: str) -> list[str]:
        items = self._conn.call(lambda client: client.lrange(key, 0, -1), idempotent=True)
        return [item.decode() for item in cast("list[bytes]", items)]

    # --- jobs: cancel and purge ---------------------------------------------------------

    def cancel_pending(self, job_id: str, now: int) -> bool:
        cancelled: bool = self._run("cancel_pending", job_id, require_time("now", now)) == 1
        if cancelled:
            self._listener.notify()
        return cancelled

    def request_cancel(self, job_id: str, force: bool = False) -> bool:
        level = 2 if force else 1
        requested: bool = self._run("request_cancel", job_id, level, idempotent=True) == 1
        if requested:
            self._listener.notify()
        return requested

    def cancel(self, job_id: str, force: bool, now: int) -> CancelResult:
        job_id, force, now = cancel_arguments(job_id, force, require_time("now", now))
        reply = self._run("cancel", job_id, 2 if force else 1, now)
        result = CancelResult(reply.decode())
        if result in (CancelResult.CANCELLED, CancelResult.REQUESTED):
            self._listener.notify()
        return result

    def cancel_requests(self, job_ids: Collection[str]) -> dict[str, bool]:
        wanted = list(dict.fromkeys(job_ids))
        if not wanted:
            return {}
        key = self._keys.cancels
        levels = self._conn.call(lambda client: client.hmget(key, wanted), idempotent=True)
        return {
            job_id: int(level) > 1
            for job_id, level in zip(wanted, levels, strict=True)
            if level is not None
        }

    def purge_queue(self, queue: str, now: int) -> int:
        return self._bulk_cancel("queue", queue, now, "purged")

    def revoke_task(self, task_name: str, now: int) -> int:
        return self._bulk_cancel("task", task_name, now, "revoked")

    def _bulk_cancel(self, by: str, name: str, now: int, error: str) -> int:
        require_time("now", now)
        total = 0
        while True:
            cancelled, looked_at = self._run("bulk_cancel", by, name, now, error, CHUNK)
            total += cancelled
            if looked_at < CHUNK:
                break
        if total:
            self._listener.notify()
        return int(total)

    def purge_completed(self, before: int) -> int:
        return self._in_chunks("purge_completed", require_time("before", before))

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
        offset = self._offset()
        reply = self._run(
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
        require_lease(lease_ms)
        require_time("now", now)
        ids = list(job_ids)
        if not ids:
            return set()
        deadline = now + lease_ms + self._offset()
        held = self._run("extend", worker_id, deadline, *ids, idempotent=True)
        return {job_id.decode() for job_id in held}

    def finish_many(self, finishes: Sequence[Finish], now: int) -> list[bool]:
        batch = list(finishes)
        arguments = [finish_arguments(finish) for finish in batch]
        if not batch:
            return []
        flags = self._run("finish", require_time("now", now), len(batch), *arguments)
        applied = [flag == 1 for flag in flags]
        if any(applied):
            self._listener.notify()
        return applied

    def requeue_expired(self, now: int, max_rescues: int = DEFAULT_MAX_RESCUES) -> list[JobRecord]:
        require_time("now", now)
        require_count("max_rescues", max_rescues)
        offset = self._offset()
        requeued: list[JobRecord] = []
        while True:
            dead_ids = [new_job_id() for _ in range(_REQUEUE_CHUNK)]
            reply = self._run("requeue", now + offset, now, _REQUEUE_CHUNK, max_rescues, *dead_ids)
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
        offset = self._offset()
        spare = 4  # poison pills are rare; the script asks for more when it needs them
        while True:
            dead_ids = [new_job_id() for _ in range(spare)]
            reply = self._run("release", worker, now, cap, why, len(kept), *kept, *dead_ids)
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
        updated: bool = self._run("progress", job_id, progress, idempotent=True) == 1
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
        self._run("add_log", job_id, now, "1" if wake else "0", entry)
        if wake:
            self._listener.notify()

    def task_logs(self, job_id: str) -> list[LogEntry]:
        return redis_inspect.task_logs(self._conn, self._keys, job_id)

    def query_logs(
        self, task_name: str | None, level: str | None, since: int, limit: int
    ) -> list[LogEntry]:
        limit = require_count("limit", limit)
        since = require_time("since", since)
        return redis_inspect.query_logs(self._conn, self._keys, task_name, level, since, limit)

    def job_errors(self, job_id: str) -> list[JobError]:
        key = self._keys.errors(job_id)
        entries = self._conn.call(lambda client: client.lrange(key, 0, -1), idempotent=True)
        errors = [job_error_from_entry(job_id, entry) for entry in cast("list[bytes]", entries)]
        return sorted(errors, key=lambda error: (error.attempt, error.id))

    def dead_letters(self, limit: int, offset: int) -> list[DeadLetter]:
        limit = require_count("limit", limit)
        offset = require_count("offset", offset)
        if limit == 0:
            return []
        page = self._run("dead_letters", limit, offset, idempotent=True)
        return [dead_letter_from_fields(pairs(flat)) for flat in page]

    def dead_letter(self, dead_id: str) -> DeadLetter | None:
        key = self._keys.dead(require_text("dead_id", dead_id))
        fields = self._conn.call(lambda client: client.hgetall(key), idempotent=True)
        return dead_letter_from_fields(cast("dict[bytes, bytes]", fields)) if fields else None

    def retry_dead(
        self, dead_id: str, new_job_id: str, now: int, payload: bytes | None = None
    ) -> JobRecord | None:
        args: list[object] = [dead_id, new_job_id, require_time("now", now)]
        replacement = require_optional_bytes("payload", payload)
        if replacement is not None:
            args.append(replacement)
        packed = self._run("retry_dead", *args)
        if packed is None:
            return None
        self._listener.notify()
        return job_from_packed(packed, self._offset())

    def purge_dead(self, before: int) -> int:
        require_time("before", before)
        total = 0
        while True:
            deleted = self._run("purge_dead", before, CHUNK)
            total += deleted
            if deleted < CHUNK:
                return int(total)

    def task_metrics(self, task_name: str | None, since: int) -> list[TaskMetric]:
        return redis_metrics.task_metrics(self._conn, self._keys, task_name, since)

    def purge_metrics(self, before: int, limit: int) -> int:
        return redis_metrics.purge_metrics(self._run, before, limit)

    # --- workers ------------------------------------------------------------------------

    def register_worker(self, worker: WorkerInfo) -> None:
        redis_workers.register(self._conn, self._keys, worker)

    def heartbeat(self, worker_id: str, status: str, now: int) -> None:
        self._run("heartbeat", worker_id, status, require_time("now", now), idempotent=True)

    def unregister_worker(self, worker_id: str) -> None:
        redis_workers.unregister(self._conn, self._keys, worker_id)

    def list_workers(self) -> list[WorkerInfo]:
        return redis_workers.list_all(self._conn, self._keys)

    def reap_workers(self, stale_before: int) -> list[str]:
        reaped = self._run("reap", require_time("stale_before", stale_before))
        return [worker_id.decode() for worker_id in reaped]

    # --- change notification ------------------------------------------------------------

    def wait_for_change(self, timeout_s: float) -> bool:
        """See ``Storage.wait_for_change``. Writes through this object wake waiters at once;
        others arrive over pub/sub within a round trip. A change made since this thread's
        previous call counts, so a caller that checks, then waits, misses nothing between."""
        return self._listener.wait(wait_step(timeout_s))
