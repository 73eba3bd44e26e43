"""What every part of the Redis backend stands on: the connection, the prefix and its schema
check (migrating a prefix of an older schema), running a script, the server clock offset,
reading packed jobs, and closing.

``RedisControl`` (``control.py``, the flow-control half) derives from ``RedisCore``, and
``RedisStorage`` (``storage.py``) from ``RedisControl``: both halves reach the same client, key
names and change listener.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from taskito.exceptions import SchemaVersionError
from taskito.job import JobRecord, NewJob
from taskito.storage.redis.connections import RedisConnection
from taskito.storage.redis.keys import Keys, check_prefix
from taskito.storage.redis.notify import ChangeListener
from taskito.storage.redis.records import job_from_packed

logger = logging.getLogger("taskito.storage.redis")

#: The layout this code writes. 2 added the ``ended`` and ``resultexpiry`` indexes; opening a
#: prefix of version 1 migrates it (``migrate_v1.lua``, docs/redis.md "Schema versions").
SCHEMA_VERSION = 2
# Purges and the archive run as several scripts of this many jobs, so one call over a huge
# backlog never blocks the server for long; each chunk is atomic.
CHUNK = 1000
# Each step of a migration looks at about this many jobs, for the same reason.
MIGRATION_BATCH = CHUNK


class RedisCore:
    """The shared state of one Redis storage object: every key lives under ``<prefix>:``."""

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
        self._token = uuid.uuid4().hex
        self._conn = RedisConnection(
            url,
            connect_timeout_s=connect_timeout_s,
            socket_timeout_s=socket_timeout_s,
            health_check_interval_s=health_check_interval_s,
            client_name=f"taskito-{prefix}",
        )
        self._listener = ChangeListener(self._conn, self._keys.changes, self._token)
        try:
            self._check_server()
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._conn.where} prefix={self.prefix!r}>"

    def describe(self) -> str:
        return f"redis {self._conn.url} prefix {self.prefix}"

    def _check_server(self) -> None:
        """Refuse a server or prefix this code cannot work with; migrate an older prefix."""
        self._conn.check_server()
        recorded = self._schema_version(self._run("schema", SCHEMA_VERSION, idempotent=True))
        if recorded == 1:
            recorded = self._migrate_from_v1()
        if recorded > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"prefix {self.prefix!r} on redis at {self._conn.where} was written by a newer"
                f" taskito (schema {recorded}; this one knows {SCHEMA_VERSION})"
            )

    def _schema_version(self, recorded: Any) -> int:
        """The version a script read from ``<prefix>:meta``; one no taskito writes is refused."""
        try:
            version = int(recorded)
        except (TypeError, ValueError):
            version = 0
        if version < 1:
            if isinstance(recorded, bytes):
                recorded = recorded.decode(errors="replace")
            raise SchemaVersionError(
                f"prefix {self.prefix!r} on redis at {self._conn.where} records schema version"
                f" {recorded!r} in {self._keys.meta}, which no taskito writes"
            )
        return version

    def _migrate_from_v1(self) -> int:
        """Index the jobs a version-1 prefix finished (``migrate_v1.lua``), one short step
        after another, until a step writes version 2. Processes opening the prefix at once
        share the steps (the walk's position is in the prefix), and none of them returns
        before the last step is done. Returns the version recorded at the end."""
        logger.info(
            "migrating redis prefix %r from schema 1 to %d",
            self.prefix,
            SCHEMA_VERSION,
            extra={"redis": self._conn.where, "prefix": self.prefix},
        )
        recorded, steps = 1, 0
        while recorded == 1:
            reply = self._run("migrate_v1", MIGRATION_BATCH, idempotent=True)
            recorded, steps = self._schema_version(reply), steps + 1
        logger.info(
            "redis prefix %r is at schema %d (%d migration steps run by this process)",
            self.prefix,
            recorded,
            steps,
            extra={"redis": self._conn.where, "prefix": self.prefix, "steps": steps},
        )
        return recorded

    def _run(self, script: str, *args: Any, idempotent: bool = False) -> Any:
        """Run script ``script`` with the prefix and change token before ``args``."""
        return self._conn.run_script(
            script, (self.prefix, self._token, *args), idempotent=idempotent
        )

    def _offset(self) -> int:
        return self._conn.clock_offset_ms()

    def _jobs(self, job_ids: Sequence[str | bytes]) -> list[JobRecord]:
        """The stored records of ``job_ids`` that exist, in the same order."""
        if not job_ids:
            return []
        packed = self._run("get_jobs", *job_ids, idempotent=True)
        offset = self._offset()
        return [job_from_packed(job, offset) for job in packed if job is not None]

    def _enqueued(self, job: NewJob, reply: list[bytes]) -> JobRecord:
        """The record an enqueue reply stands for: ``job`` as inserted, or the holder of its
        unique key."""
        if reply[0] == b"existing":
            return job_from_packed(reply[1], self._offset())
        self._listener.notify()
        return JobRecord.from_new(job)

    def _in_chunks(self, script: str, cutoff: int) -> int:
        """Run a removal script chunk after chunk until one looks at less than a chunk."""
        total = 0
        while True:
            removed, looked_at = self._run(script, cutoff, CHUNK)
            total += removed
            if looked_at < CHUNK:
                return int(total)

    def close(self) -> None:
        self._listener.close()
        self._conn.close()


__all__ = ["CHUNK", "MIGRATION_BATCH", "SCHEMA_VERSION", "RedisCore"]
