"""Reads of the Redis backend: jobs by id (``get_jobs.lua``), counts, dependencies, cancel
requests, errors and dead letters; ``list_jobs`` and ``query_logs`` (a newest-first walk over a
time index with the remaining filters applied here) and task logs.

The walk reads the index in chunks, so it is not one atomic snapshot: a job that changes
while a long listing runs may be seen before or after the change, never twice.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from typing import cast

from taskito._checks import check_count, check_text
from taskito.job import JobRecord, JobStatus
from taskito.storage.base import DeadLetter, JobError, JobFilter, LogEntry
from taskito.storage.redis.connections import RedisConnection, redis
from taskito.storage.redis.keys import Keys, require_time
from taskito.storage.redis.records import (
    dead_letter_from_fields,
    job_error_from_entry,
    job_from_packed,
    log_from_entry,
    pairs,
)
from taskito.storage.redis.scripts import Scripts
from taskito.storage.validation import check_job_cursor, check_page

_CHUNK = 256
_FILTER_FIELDS = (b"queue", b"task_name", b"namespace", b"metadata", b"error", b"status")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

Score = int | str


def _contains(haystack: bytes | None, needle: str) -> bool:
    """SQL ``LIKE '%needle%'``: a substring test that ignores the case of ASCII letters only."""
    if haystack is None:
        return False
    return needle.translate(_ASCII_LOWER) in haystack.decode().translate(_ASCII_LOWER)


def get_jobs(scripts: Scripts, job_ids: Sequence[str | bytes]) -> list[JobRecord]:
    """The stored records of ``job_ids`` that exist, in the same order."""
    if not job_ids:
        return []
    packed = scripts.run("get_jobs", *job_ids, idempotent=True)
    offset = scripts.connection.clock_offset_ms()
    return [job_from_packed(job, offset) for job in packed if job is not None]


def list_jobs(
    scripts: Scripts, keys: Keys, filter: JobFilter, limit: int, offset: int
) -> list[JobRecord]:
    """See ``list_job_ids`` for the cost of each filter."""
    if not isinstance(filter, JobFilter):
        raise TypeError(f"filter must be a JobFilter, got {type(filter).__name__}")
    limit, offset = check_page(limit, offset)
    return get_jobs(scripts, list_job_ids(scripts.connection, keys, filter, limit, offset))


def count_jobs(scripts: Scripts, queue: str | None) -> dict[JobStatus, int]:
    scope = ("all",) if queue is None else ("queue", queue)
    counts = scripts.run("counts", *scope, idempotent=True)
    return {status: int(counts[status.code]) for status in JobStatus}


def count_jobs_by_queue(scripts: Scripts) -> dict[str, dict[JobStatus, int]]:
    flat = scripts.run("counts", "by_queue", idempotent=True)
    by_queue: dict[str, dict[JobStatus, int]] = {}
    for start in range(0, len(flat), 7):
        counts = flat[start + 1 : start + 7]
        by_queue[flat[start].decode()] = {s: int(counts[s.code]) for s in JobStatus}
    return by_queue


def read_list(connection: RedisConnection, key: str) -> list[str]:
    """The items of list ``key`` (a job's dependencies or dependents), decoded."""
    items = connection.call(lambda client: client.lrange(key, 0, -1), idempotent=True)
    return [item.decode() for item in cast("list[bytes]", items)]


def cancel_requests(
    connection: RedisConnection, keys: Keys, job_ids: Collection[str]
) -> dict[str, bool]:
    wanted = list(dict.fromkeys(job_ids))
    if not wanted:
        return {}
    key = keys.cancels
    levels = connection.call(lambda client: client.hmget(key, wanted), idempotent=True)
    return {
        job_id: int(level) > 1
        for job_id, level in zip(wanted, levels, strict=True)
        if level is not None
    }


def job_errors(connection: RedisConnection, keys: Keys, job_id: str) -> list[JobError]:
    key = keys.errors(job_id)
    entries = connection.call(lambda client: client.lrange(key, 0, -1), idempotent=True)
    errors = [job_error_from_entry(job_id, entry) for entry in cast("list[bytes]", entries)]
    return sorted(errors, key=lambda error: (error.attempt, error.id))


def dead_letters(scripts: Scripts, limit: int, offset: int) -> list[DeadLetter]:
    limit, offset = check_page(limit, offset)
    if limit == 0:
        return []
    page = scripts.run("dead_letters", limit, offset, idempotent=True)
    return [dead_letter_from_fields(pairs(flat)) for flat in page]


def dead_letters_before(
    connection: RedisConnection,
    keys: Keys,
    limit: int,
    offset: int,
    before: tuple[int, str] | None,
) -> list[DeadLetter]:
    """``Storage.dead_letters`` by key: the index's members (``<seq><id>``, scored by
    ``failed_at``) after the named letter's own member, or below its time when it is gone."""
    limit, offset = check_page(limit, offset)
    cursor = check_job_cursor(before)
    assert cursor is not None
    time_ms, dead_id = cursor
    index = f"{keys.prefix}:deadindex"

    def read(client: redis.Redis) -> list[DeadLetter]:
        member, failed_at = cast("list[bytes | None]", client.hmget(keys.dead(dead_id), _AT))
        ties: list[bytes] = []
        if member is not None and failed_at is not None and int(failed_at) == time_ms:
            at_time = cast("list[bytes]", client.zrange(index, time_ms, time_ms, byscore=True))
            ties = sorted((m for m in at_time if m < member), reverse=True)
        older = cast(
            "list[bytes]",
            client.zrange(
                index, f"({time_ms}", "-inf", desc=True, byscore=True, offset=0, num=offset + limit
            ),
        )
        members = (ties + older)[offset : offset + limit]
        pipe = client.pipeline(transaction=False)
        for each in members:
            pipe.hgetall(keys.dead(each[16:].decode()))
        found = cast("list[dict[bytes, bytes]]", pipe.execute()) if members else []
        return [dead_letter_from_fields(fields) for fields in found if fields]

    if limit == 0:
        return []
    return connection.call(read, idempotent=True)


#: The fields of a dead letter's hash that place it in the index.
_AT = ("member", "failed_at")


def dead_letter(connection: RedisConnection, keys: Keys, dead_id: str) -> DeadLetter | None:
    key = keys.dead(check_text("dead_id", dead_id))
    fields = connection.call(lambda client: client.hgetall(key), idempotent=True)
    return dead_letter_from_fields(cast("dict[bytes, bytes]", fields)) if fields else None


def walk_descending(
    client: redis.Redis, key: str, high: Score, low: Score, chunk: int = _CHUNK
) -> Iterator[bytes]:
    """Members of sorted set ``key`` with scores from ``high`` down to ``low`` (inclusive),
    highest first, ties by member descending, read ``chunk`` at a time.

    The cursor is (last score, members already seen at that score), so members added or
    removed elsewhere in the set between chunks neither repeat nor hide others.
    """
    upper: Score = high
    seen_at_upper = 0
    while True:
        rows = cast(
            "list[tuple[bytes, float]]",
            client.zrange(
                key, upper, low, desc=True, byscore=True, withscores=True,
                offset=seen_at_upper, num=chunk,
            ),
        )  # fmt: skip
        yield from (member for member, _ in rows)
        if len(rows) < chunk:
            return
        last = int(rows[-1][1])
        same = sum(1 for _, score in rows if int(score) == last)
        seen_at_upper = seen_at_upper + same if upper == last else same
        upper = last


class JobMatcher:
    """The part of a ``JobFilter`` that the chosen index does not already apply."""

    def __init__(self, filter: JobFilter, status_in_index: bool, queue_in_index: bool) -> None:
        self.status = None if filter.status is None or status_in_index else filter.status
        self.queue = None if queue_in_index else filter.queue
        self.task_name = filter.task_name
        self.namespace_exact = not filter.any_namespace
        self.namespace = filter.namespace
        self.metadata_like = filter.metadata_like
        self.error_like = filter.error_like

    @property
    def trivial(self) -> bool:
        return (
            self.status is None
            and self.queue is None
            and self.task_name is None
            and not self.namespace_exact
            and self.metadata_like is None
            and self.error_like is None
        )

    def matches(self, values: list[bytes | None]) -> bool:
        """``values``: the job's ``_FILTER_FIELDS``, as HMGET returns them."""
        queue, task_name, namespace, metadata, error, status = values
        if status is None:
            return False  # deleted meanwhile
        if self.status is not None and int(status) != self.status.code:
            return False
        if self.queue is not None and (queue is None or queue.decode() != self.queue):
            return False
        if self.task_name is not None and (
            task_name is None or task_name.decode() != self.task_name
        ):
            return False
        if self.namespace_exact:
            stored = None if namespace is None else namespace.decode()
            if stored != self.namespace:
                return False
        if self.metadata_like is not None and not _contains(metadata, self.metadata_like):
            return False
        return self.error_like is None or _contains(error, self.error_like)


def list_job_ids(
    connection: RedisConnection, keys: Keys, filter: JobFilter, limit: int, offset: int
) -> list[bytes]:
    """The ids of the page of ``Storage.list_jobs``, newest first. Uses the (status, queue)
    index when both are given, the status index for a status alone, else the created-time
    index of every job; the other filters cost one HMGET per job walked past."""
    status = None if filter.status is None else JobStatus.parse(filter.status)
    filter = JobFilter(
        status=status,
        queue=filter.queue,
        task_name=filter.task_name,
        namespace=filter.namespace,
        any_namespace=filter.any_namespace,
        metadata_like=filter.metadata_like,
        error_like=filter.error_like,
        created_after=filter.created_after,
        created_before=filter.created_before,
        before=check_job_cursor(filter.before),
    )
    before = filter.before
    if limit == 0:
        return []
    if status is not None and filter.queue is not None:
        index, matcher = keys.status(status.code, filter.queue), JobMatcher(filter, True, True)
    elif status is not None:
        index, matcher = keys.by_status(status.code), JobMatcher(filter, True, False)
    else:
        index, matcher = keys.created, JobMatcher(filter, False, False)
    high: Score = "+inf" if filter.created_before is None else filter.created_before
    low: Score = "-inf" if filter.created_after is None else filter.created_after
    if before is not None and (high == "+inf" or before[0] <= int(high)):
        high = before[0]
    else:
        before = None  # created_before already stops the walk below the cursor

    def read(client: redis.Redis) -> list[bytes]:
        # Members at the cursor's own time that are not after it (ties order by id, highest
        # first, so they come first in the walk) are read and dropped.
        passed: set[bytes] = set()
        if before is not None:
            time_ms, job_id = before[0], before[1].encode()
            ties = cast("list[bytes]", client.zrange(index, time_ms, time_ms, byscore=True))
            passed = {member for member in ties if member >= job_id}
        wanted = limit + offset + len(passed)
        ids = _matching_ids(client, keys, index, high, low, matcher, wanted)
        return [job_id for job_id in ids if job_id not in passed][offset : offset + limit]

    return connection.call(read, idempotent=True)


def _matching_ids(
    client: redis.Redis,
    keys: Keys,
    index: str,
    high: Score,
    low: Score,
    matcher: JobMatcher,
    wanted: int,
) -> list[bytes]:
    if matcher.trivial:
        ids = client.zrange(index, high, low, desc=True, byscore=True, offset=0, num=wanted)
        return cast("list[bytes]", ids)
    found: list[bytes] = []
    chunk: list[bytes] = []

    def sift() -> None:
        pipe = client.pipeline(transaction=False)
        for job_id in chunk:
            pipe.hmget(keys.job(job_id.decode()), _FILTER_FIELDS)
        for job_id, values in zip(chunk, pipe.execute(), strict=True):
            if len(found) < wanted and matcher.matches(values):
                found.append(job_id)
        chunk.clear()

    for job_id in walk_descending(client, index, high, low):
        chunk.append(job_id)
        if len(chunk) == _CHUNK:
            sift()
            if len(found) >= wanted:
                return found
    if chunk:
        sift()
    return found


def task_logs(connection: RedisConnection, keys: Keys, job_id: str) -> list[LogEntry]:
    def read(client: redis.Redis) -> list[LogEntry]:
        seqs = client.lrange(keys.job_logs(job_id), 0, -1)
        return _logs(client, keys, cast("list[bytes]", seqs))

    entries = connection.call(read, idempotent=True)
    return sorted(entries, key=lambda entry: (entry.logged_at, entry.id))


def query_logs(
    connection: RedisConnection,
    keys: Keys,
    task_name: str | None,
    level: str | None,
    since: int,
    limit: int,
) -> list[LogEntry]:
    """Logs at or after ``since``, newest first; task and level are filtered while walking the
    time index, so a rare task or level costs a walk over everything logged since."""
    limit = check_count("limit", limit, type_error=ValueError)
    since = require_time("since", since)

    def wanted(entry: LogEntry) -> bool:
        return (task_name is None or entry.task_name == task_name) and (
            level is None or entry.level == level
        )

    def read(client: redis.Redis) -> list[LogEntry]:
        found: list[LogEntry] = []
        chunk: list[bytes] = []
        for seq in walk_descending(client, keys.log_index, "+inf", since):
            chunk.append(seq)
            if len(chunk) == _CHUNK:
                found += filter(wanted, _logs(client, keys, chunk))
                chunk = []
                if len(found) >= limit:
                    return found[:limit]
        found += filter(wanted, _logs(client, keys, chunk))
        return found[:limit]

    if limit == 0:
        return []
    return connection.call(read, idempotent=True)


def _logs(client: redis.Redis, keys: Keys, seqs: list[bytes]) -> list[LogEntry]:
    if not seqs:
        return []
    entries = cast("list[bytes | None]", client.hmget(keys.logs, seqs))
    return [log_from_entry(seq, entry) for seq, entry in zip(seqs, entries, strict=True) if entry]


__all__ = [
    "JobMatcher",
    "cancel_requests",
    "count_jobs",
    "count_jobs_by_queue",
    "dead_letter",
    "dead_letters",
    "dead_letters_before",
    "get_jobs",
    "job_errors",
    "list_job_ids",
    "list_jobs",
    "query_logs",
    "read_list",
    "task_logs",
    "walk_descending",
]
