"""Operations on the Queue: pause and resume, archive and replay, settings, the job DAG and
distributed locks, with their ``a*`` mirrors."""

from __future__ import annotations

import json
from typing import Any

from taskito.events import EventType
from taskito.exceptions import StorageError
from taskito.ids import new_job_id
from taskito.job import JobRecord, NewJob, now_ms
from taskito.locks import DistributedLock, OnLost
from taskito.queue import checks as check
from taskito.queue.payloads import rebound_payload
from taskito.queue.state import QueueBase
from taskito.result import JobResult, job_to_dict
from taskito.storable import check_storable
from taskito.storage.control import ReplayEntry


def _replay_dict(entry: ReplayEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "original_job_id": entry.original_job_id,
        "replay_job_id": entry.replay_job_id,
        "replayed_at": entry.replayed_at,
        "original_error": entry.original_error,
        "replay_error": entry.replay_error,
    }


def replay_metadata(original: str | None, job_id: str) -> str:
    """The replay's metadata: the original's JSON object plus ``replayed_from``.

    Metadata is an opaque string; one that is not a JSON object is kept whole under
    ``original_metadata`` rather than dropped.
    """
    merged: dict[str, Any] = {}
    if original is not None:
        try:
            decoded = json.loads(original)
        except ValueError:
            decoded = None
        if isinstance(decoded, dict):
            merged.update(decoded)
        else:
            merged["original_metadata"] = original
    merged["replayed_from"] = job_id
    return json.dumps(merged)


def replay_job(original: JobRecord, now: int) -> NewJob:
    """A fresh pending copy of ``original`` to run now.

    It keeps what defines the work (task, payload, queue, priority, retries, timeout, result
    ttl, namespace) and drops what belonged to the first run: no delay, no expiry, no
    dependencies, and no unique key (the original may still hold it).
    """
    return NewJob(
        new_job_id(),
        original.queue,
        original.task_name,
        original.payload,
        original.priority,
        now,
        now,
        original.max_retries,
        original.timeout_ms,
        None,
        replay_metadata(original.metadata, original.id),
        (),
        None,
        original.result_ttl_ms,
        original.namespace,
    )


class OpsMixin(QueueBase):
    """``pause``/``resume``/``paused_queues``, ``archive``/``list_archived``, ``replay``/
    ``replay_history``, settings, ``job_dag``, ``lock``/``alock``."""

    # --- queue state --------------------------------------------------------------------

    def pause(self, queue_name: str = "default") -> None:
        """Stop workers (in every process on this database) from starting jobs of a queue.

        Its jobs stay pending until ``resume``; running ones finish. ``QUEUE_PAUSED`` with
        ``{"queue": name}`` is emitted when the queue was not already paused.
        """
        self._set_paused(check.check_storable_name("queue_name", queue_name), True)

    def resume(self, queue_name: str = "default") -> None:
        """Let workers start jobs of a paused queue again; ``QUEUE_RESUMED`` is emitted when
        it was paused."""
        self._set_paused(check.check_storable_name("queue_name", queue_name), False)

    def _set_paused(self, queue_name: str, paused: bool) -> None:
        # Only a real change is an event: listeners (dashboards, webhooks) see transitions,
        # not every repeated call.
        if self._storage.set_queue_paused(queue_name, paused, now_ms()):
            event = EventType.QUEUE_PAUSED if paused else EventType.QUEUE_RESUMED
            self._event_bus.emit(event, {"queue": queue_name})

    def paused_queues(self) -> list[str]:
        """Names of the paused queues, sorted."""
        return self._storage.paused_queues()

    # --- archive and replay -------------------------------------------------------------

    def archive(self, older_than: float = 86400) -> int:
        """Move jobs that finished (complete, failed, dead, cancelled) more than
        ``older_than`` seconds ago out of the jobs table into the archive; return how many."""
        older_than_s = check.check_duration("older_than", older_than)
        return self._storage.archive_jobs(now_ms() - round(older_than_s * 1000))

    def list_archived(self, limit: int = 50, offset: int = 0) -> list[JobResult]:
        """Archived jobs, most recently finished first, as handles on the archived row."""
        records = self._storage.list_archived(*check.check_page(limit, offset))
        return [JobResult(record, self) for record in records]

    def replay(self, job_id: str) -> JobResult:
        """Enqueue a copy of a job under a new id (see ``replay_job``) and record it in the
        job's replay history. Any job may be replayed, whatever its status; an unknown id
        raises ``ValueError("Job not found: <id>")``. With a signing key, the stored payload
        is verified, then signed again for the new id (``SignatureError`` when it fails)."""
        original = self._storage.get_job(check.check_storable_name("job_id", job_id))
        if original is None:
            raise ValueError(f"Job not found: {job_id}")
        now = now_ms()
        job = replay_job(original, now)
        job.payload = rebound_payload(
            self, original.task_name, original.payload, original.id, job.id
        )
        record = self._storage.enqueue_replay(job, original.id, now)
        self._event_bus.emit(
            EventType.JOB_ENQUEUED,
            {"task_name": record.task_name, "job_id": record.id, "queue": record.queue},
        )
        return JobResult(record, self)

    def replay_history(self, job_id: str) -> list[dict[str, Any]]:
        """Replays of ``job_id``, oldest first: ``{id, original_job_id, replay_job_id,
        replayed_at, original_error, replay_error}``."""
        entries = self._storage.replay_history(check.check_storable_name("job_id", job_id))
        return [_replay_dict(entry) for entry in entries]

    # --- settings -----------------------------------------------------------------------

    def get_setting(self, key: str) -> str | None:
        """The stored value, or None. Settings are shared by every Queue on the database."""
        return self._storage.get_setting(check.check_storable_name("key", key))

    def set_setting(self, key: str, value: str) -> None:
        """Store ``value`` (a str; encode anything else, e.g. as JSON) under ``key``."""
        check.check_storable_name("key", key)
        if not isinstance(value, str):
            raise TypeError(f"setting value must be a str, not {type(value).__name__}")
        self._storage.set_setting(key, check_storable("setting value", value), now_ms())

    def set_setting_if(self, key: str, expected: str | None, value: str) -> bool:
        """Compare and set: store ``value`` only while ``key`` holds ``expected`` (None:
        while it is unset); True when stored. Read, change, then this, in a loop, is a
        read-modify-write that never loses another writer's change."""
        check.check_storable_name("key", key)
        for name, given in (("expected", expected), ("value", value)):
            if given is not None and not isinstance(given, str):
                raise TypeError(f"setting {name} must be a str, not {type(given).__name__}")
        if value is None:
            raise TypeError("setting value must be a str, not NoneType")
        stored = check_storable("setting value", value)
        return self._storage.set_setting_if(key, expected, stored, now_ms())

    def delete_setting(self, key: str) -> bool:
        """Remove ``key``; False when it was not set."""
        return self._storage.delete_setting(check.check_storable_name("key", key))

    def list_settings(self) -> dict[str, str]:
        return self._storage.list_settings()

    # --- the job DAG --------------------------------------------------------------------

    def job_dag(self, job_id: str) -> dict[str, list[dict[str, Any]]]:
        """The whole dependency graph ``job_id`` belongs to, followed both ways.

        ``{"nodes": [to_dict(), ...], "edges": [{"from": dependency, "to": dependent}]}``,
        nodes by id (creation order), edges sorted. Jobs already purged or archived are left
        out, with their edges. An unknown job raises ``StorageError`` (a RuntimeError).
        """
        start = self._storage.get_job(check.check_storable_name("job_id", job_id))
        if start is None:
            raise StorageError(f"job not found: {job_id}")
        nodes, edges = self._walk_graph(start)
        return {
            "nodes": [job_to_dict(nodes[node_id]) for node_id in sorted(nodes)],
            "edges": [
                {"from": source, "to": target}
                for source, target in sorted(edges)
                if source in nodes and target in nodes
            ],
        }

    def _walk_graph(self, start: JobRecord) -> tuple[dict[str, JobRecord], set[tuple[str, str]]]:
        """Breadth-first over dependencies and dependents from ``start``: the records found
        and every ``(dependency, dependent)`` edge met."""
        storage = self._storage
        nodes = {start.id: start}
        gone: set[str] = set()
        edges: set[tuple[str, str]] = set()
        frontier = [start.id]
        while frontier:
            found: list[str] = []
            for node_id in frontier:
                near = [(dep, node_id) for dep in storage.dependencies(node_id)]
                near += [(node_id, child) for child in storage.dependents(node_id)]
                edges.update(near)
                for neighbour in {end for edge in near for end in edge}:
                    if neighbour in nodes or neighbour in gone:
                        continue
                    record = storage.get_job(neighbour)
                    if record is None:
                        gone.add(neighbour)
                    else:
                        nodes[neighbour] = record
                        found.append(neighbour)
            frontier = found
        return nodes, edges

    # --- locks --------------------------------------------------------------------------

    def lock(
        self,
        name: str,
        ttl: float = 30.0,
        auto_extend: bool = True,
        owner_id: str | None = None,
        timeout: float | None = None,
        retry_interval: float = 0.1,
        on_lost: OnLost | None = None,
    ) -> DistributedLock:
        """A distributed lock on this Queue's storage, for ``with queue.lock("name"):``.

        See ``taskito.locks``: not reentrant; without ``timeout`` a held lock fails at once
        with ``LockNotAcquiredError``; ``auto_extend`` keeps it alive while held, and calls
        ``on_lost(lock)`` if it finds the lock lost. Its expiry is on the storage's clock;
        ``lock.fencing_token`` numbers the acquisition and ``lock.held()`` checks it.
        """
        return DistributedLock(
            self._storage,
            name,
            ttl=ttl,
            auto_extend=auto_extend,
            owner_id=owner_id,
            timeout=timeout,
            retry_interval=retry_interval,
            run_blocking=self._blocking.run,
            on_lost=on_lost,
        )


__all__ = ["OpsMixin", "replay_job", "replay_metadata"]
