"""The operator's half of the Redis backend (``Storage``, storage/base.py): requeue and dead-letter
deletion in scripts (``requeue_job.lua``, ``delete_dead.lua``), keyset pages as walks over the
time indexes, retention counts and chunked purges.

A page orders rows of one millisecond by id (a sorted set orders them by member, which for dead
letters and log lines is not the id), so the walks read one score at a time. Like the other
reads, a walk is not one snapshot: a row that changes meanwhile is seen before or after.
Job error rows have no time index; their count and purge scan every job's error list.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import cast

from taskito.job import JobRecord, JobStatus
from taskito.storage import operation_rules as rules
from taskito.storage.base import DeadLetter, JobFilter, LogEntry
from taskito.storage.operations import Cursor, HistoryKind
from taskito.storage.redis.connections import RedisConnection, redis
from taskito.storage.redis.keys import Keys
from taskito.storage.redis.notify import ChangeListener
from taskito.storage.redis.reads import JobMatcher, get_jobs, walk_descending
from taskito.storage.redis.records import dead_letter_from_fields, job_from_packed, log_from_entry
from taskito.storage.redis.scripts import CHUNK, Scripts

_MEMBER_ID = 16  # a dead letter's index member: a 16-digit sequence, then its id


def _ns_args(namespace: str | None) -> tuple[str, str]:
    return ("0", "") if namespace is None else ("1", namespace)


def _by_score(client: redis.Redis, key: str, high: str) -> Iterator[tuple[int, list[bytes]]]:
    """Each score of sorted set ``key`` at or below ``high``, highest first, with its members."""
    upper = high
    while True:
        top = cast(
            "list[tuple[bytes, float]]",
            client.zrange(key, upper, "-inf", desc=True, byscore=True, withscores=True,
                          offset=0, num=1),
        )  # fmt: skip
        if not top:
            return
        score = int(top[0][1])
        yield score, cast("list[bytes]", client.zrange(key, score, score, byscore=True))
        upper = f"({score}"


class RedisOperations:
    """The operator's tools of ``Storage`` on Redis: ``RedisStorage`` sets the parts."""

    prefix: str
    _conn: RedisConnection
    _keys: Keys
    _scripts: Scripts
    _listener: ChangeListener

    def _key(self, name: str) -> str:
        return f"{self.prefix}:{name}"

    def requeue_job(self, job_id: str, namespace: str | None, now: int) -> bool:
        job_id, namespace, now = rules.requeue_args(job_id, namespace, now)
        moved = self._scripts.run("requeue_job", job_id, *_ns_args(namespace), now)
        if moved:
            self._listener.notify()
        return bool(moved)

    def delete_dead(self, dead_id: str, namespace: str | None) -> bool:
        dead_id, namespace = rules.dead_args(dead_id, namespace)
        deleted = self._scripts.run("delete_dead", *_ns_args(namespace), "", dead_id)
        return bool(deleted)

    def dead_letters_after(
        self,
        limit: int,
        after: Cursor | None,
        task_name: str | None,
        namespace: str | None,
    ) -> list[DeadLetter]:
        limit, after, task_name, namespace = rules.page_args(limit, after, task_name, namespace)
        if limit == 0:
            return []

        def read(client: redis.Redis) -> list[DeadLetter]:
            found: list[DeadLetter] = []
            high = "+inf" if after is None else str(after[0])
            for score, members in _by_score(client, self._key("deadindex"), high):
                ids = sorted((m[_MEMBER_ID:].decode() for m in members), reverse=True)
                if after is not None and score == after[0]:
                    ids = [i for i in ids if i < after[1]]
                for letter in self._letters(client, ids):
                    if letter.namespace == namespace and task_name in (None, letter.task_name):
                        found.append(letter)
                        if len(found) == limit:
                            return found
            return found

        return self._conn.call(read, idempotent=True)

    def _letters(self, client: redis.Redis, ids: Sequence[str]) -> list[DeadLetter]:
        pipe = client.pipeline(transaction=False)
        for dead_id in ids:
            pipe.hgetall(self._keys.dead(dead_id))
        return [dead_letter_from_fields(fields) for fields in pipe.execute() if fields]

    def purge_dead_by_task(self, task_name: str, namespace: str | None) -> int:
        task_name, namespace = rules.dead_args(task_name, namespace, name="task_name")

        def members(client: redis.Redis) -> list[bytes]:
            return cast("list[bytes]", client.zrange(self._key("deadindex"), 0, -1))

        ids = [m[_MEMBER_ID:].decode() for m in self._conn.call(members, idempotent=True)]
        deleted = 0
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            deleted += self._scripts.run("delete_dead", *_ns_args(namespace), task_name, *chunk)
        return int(deleted)

    def dead_letters_due(
        self,
        namespace: str | None,
        queues: Sequence[str] | None,
        failed_before: int,
        max_auto_retries: int,
        limit: int,
    ) -> list[DeadLetter]:
        args = rules.due_args(namespace, queues, failed_before, max_auto_retries, limit)
        namespace, queue_list, failed_before, max_auto_retries, limit = args

        def wanted(letter: DeadLetter) -> bool:
            return (
                letter.namespace == namespace
                and letter.dlq_retry_count < max_auto_retries
                and (queue_list is None or letter.queue in queue_list)
            )

        def read(client: redis.Redis) -> list[DeadLetter]:
            found: list[DeadLetter] = []
            offset = 0
            while len(found) < limit:
                members = cast(
                    "list[bytes]",
                    client.zrange(self._key("deadindex"), "-inf", f"({failed_before}",
                                  byscore=True, offset=offset, num=CHUNK),
                )  # fmt: skip
                found += filter(
                    wanted, self._letters(client, [m[_MEMBER_ID:].decode() for m in members])
                )
                if len(members) < CHUNK:
                    break
                offset += CHUNK
            found.sort(key=lambda letter: (letter.failed_at, letter.id))
            return found[:limit]

        return self._conn.call(read, idempotent=True)

    def list_jobs_after(
        self, filter: JobFilter, limit: int, after: Cursor | None
    ) -> list[JobRecord]:
        filter, limit, after = rules.jobs_page_args(filter, limit, after)
        status = None if filter.status is None else JobStatus.parse(filter.status)
        if status is not None:
            index, matcher = self._keys.by_status(status.code), JobMatcher(filter, True, False)
        else:
            index, matcher = self._keys.created, JobMatcher(filter, False, False)
        highs = [
            v for v in (filter.created_before, None if after is None else after[0]) if v is not None
        ]
        high: int | str = min(highs) if highs else "+inf"
        low: int | str = "-inf" if filter.created_after is None else filter.created_after
        if limit == 0:
            return []

        def read(client: redis.Redis) -> list[bytes]:
            found: list[bytes] = []
            for job_id in walk_descending(client, index, high, low):
                at_cursor = after is not None and job_id.decode() >= after[1]
                if at_cursor and client.zscore(index, job_id) == after[0]:  # type: ignore[index]
                    continue
                fields = client.hmget(self._keys.job(job_id.decode()), _FILTER_FIELDS)
                if matcher.matches(cast("list[bytes | None]", fields)):
                    found.append(job_id)
                    if len(found) == limit:
                        break
            return found

        return get_jobs(self._scripts, self._conn.call(read, idempotent=True))

    def list_archived_after(self, limit: int, after: Cursor | None) -> list[JobRecord]:
        limit, after = rules.archived_page_args(limit, after)
        if limit == 0:
            return []
        index = self._key("archive")
        high: int | str = "+inf" if after is None else after[0]

        def read(client: redis.Redis) -> list[bytes]:
            found: list[bytes] = []
            for job_id in walk_descending(client, index, high, "-inf"):
                at_cursor = after is not None and job_id.decode() >= after[1]
                if at_cursor and client.zscore(index, job_id) == after[0]:  # type: ignore[index]
                    continue
                found.append(job_id)
                if len(found) == limit:
                    break
            return found

        ids = self._conn.call(read, idempotent=True)
        if not ids:
            return []
        packed = self._scripts.run("archived_ids", *ids, idempotent=True)
        offset = self._conn.clock_offset_ms()
        return [job_from_packed(job, offset) for job in packed if job]

    def query_logs_after(
        self,
        task_name: str | None,
        level: str | None,
        limit: int,
        after: Cursor | None,
    ) -> list[LogEntry]:
        limit, after, task_name, level = rules.log_page_args(limit, after, task_name, level)
        if limit == 0:
            return []

        def read(client: redis.Redis) -> list[LogEntry]:
            found: list[LogEntry] = []
            high = "+inf" if after is None else str(after[0])
            for score, members in _by_score(client, self._keys.log_index, high):
                seqs = sorted(members, key=int, reverse=True)
                if after is not None and score == after[0]:
                    seqs = [s for s in seqs if int(s) < int(after[1])]
                entries = (
                    cast("list[bytes | None]", client.hmget(self._keys.logs, seqs)) if seqs else []
                )
                for seq, entry in zip(seqs, entries, strict=True):
                    if entry is None:
                        continue
                    line = log_from_entry(seq, entry)
                    if task_name in (None, line.task_name) and level in (None, line.level):
                        found.append(line)
                        if len(found) == limit:
                            return found
            return found

        return self._conn.call(read, idempotent=True)

    # --- retention ----------------------------------------------------------------------

    def _index_of(self, kind: HistoryKind) -> str:
        return {
            HistoryKind.COMPLETED_JOBS: self._key("done"),
            HistoryKind.DEAD_LETTERS: self._key("deadindex"),
            HistoryKind.TASK_LOGS: self._keys.log_index,
            HistoryKind.TASK_METRICS: self._key("metrics"),
        }[kind]

    def count_history(self, kind: HistoryKind, before: int) -> int:
        kind, before = rules.history_args(kind, before)
        if kind is HistoryKind.JOB_ERRORS:
            return sum(len(old) for _, old in self._old_errors(before))
        index = self._index_of(kind)
        return int(
            self._conn.call(lambda c: c.zcount(index, "-inf", f"({before}"), idempotent=True)
        )

    def purge_history(self, kind: HistoryKind, before: int, limit: int) -> int:
        kind, before, limit = rules.purge_args(kind, before, limit)
        if kind is HistoryKind.COMPLETED_JOBS:
            deleted, _ = self._scripts.run("purge_history", before, limit)
            return int(deleted)
        if kind is HistoryKind.DEAD_LETTERS:
            return int(self._scripts.run("purge_dead", before, limit))
        if kind is HistoryKind.TASK_METRICS:
            return int(self._scripts.run("purge_metrics", before, limit))
        if kind is HistoryKind.TASK_LOGS:
            return self._purge_logs(before, limit)
        return self._purge_errors(before, limit)

    def _purge_logs(self, before: int, limit: int) -> int:
        keys = self._keys

        def purge(client: redis.Redis) -> int:
            seqs = cast(
                "list[bytes]",
                client.zrange(
                    keys.log_index, "-inf", f"({before}", byscore=True, offset=0, num=limit
                ),
            )
            if not seqs:
                return 0
            entries = cast("list[bytes | None]", client.hmget(keys.logs, seqs))
            pipe = client.pipeline(transaction=True)
            for seq, entry in zip(seqs, entries, strict=True):
                if entry is not None:
                    pipe.lrem(keys.job_logs(log_from_entry(seq, entry).job_id), 0, seq.decode())
            pipe.hdel(keys.logs, *seqs)
            pipe.zrem(keys.log_index, *seqs)
            pipe.execute()
            return len(seqs)

        return int(self._conn.call(purge, idempotent=True))

    def _old_errors(self, before: int) -> list[tuple[str, list[bytes]]]:
        pattern = f"{self.prefix}:errors:*"

        def scan(client: redis.Redis) -> list[tuple[str, list[bytes]]]:
            found: list[tuple[str, list[bytes]]] = []
            for key in client.scan_iter(match=pattern, count=1000):
                entries = cast("list[bytes]", client.lrange(key, 0, -1))
                old = [e for e in entries if int(e.split(b"|", 3)[2]) < before]
                if old:
                    found.append((key.decode(), old))
            return found

        return self._conn.call(scan, idempotent=True)

    def _purge_errors(self, before: int, limit: int) -> int:
        chosen: list[tuple[str, bytes]] = []
        for key, old in self._old_errors(before):
            chosen += [(key, entry) for entry in old]
        chosen.sort(key=lambda pair: int(pair[1].split(b"|", 3)[2]))
        chosen = chosen[:limit]

        def purge(client: redis.Redis) -> int:
            pipe = client.pipeline(transaction=True)
            for key, entry in chosen:
                pipe.lrem(key, 1, entry)  # type: ignore[arg-type]  # bytes: the exact stored entry
            return sum(int(n) for n in pipe.execute())

        return int(self._conn.call(purge, idempotent=True)) if chosen else 0


_FILTER_FIELDS = (b"queue", b"task_name", b"namespace", b"metadata", b"error", b"status")
