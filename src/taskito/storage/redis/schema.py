"""The layout of a Redis prefix: the schema version this code writes, the check that refuses a
server or prefix it cannot work with, and the migration of a prefix of an older version
(``migrate_v1.lua``, docs/redis.md "Schema versions"), run when a storage object opens it.
"""

from __future__ import annotations

import logging
from typing import Any

from taskito.exceptions import SchemaVersionError
from taskito.storage.redis.keys import Keys
from taskito.storage.redis.scripts import CHUNK, Scripts

logger = logging.getLogger("taskito.storage.redis")

#: The layout this code writes. 2 added the ``ended`` and ``resultexpiry`` indexes; opening a
#: prefix of version 1 migrates it.
SCHEMA_VERSION = 2
# Each step of a migration looks at about this many jobs, so that no step blocks the server
# for long (as purges do, ``scripts.CHUNK``).
MIGRATION_BATCH = CHUNK


def open_prefix(scripts: Scripts, keys: Keys) -> None:
    """Refuse a server or prefix this code cannot work with; migrate an older prefix."""
    connection = scripts.connection
    connection.check_server()
    recorded = _schema_version(
        scripts, keys, scripts.run("schema", SCHEMA_VERSION, idempotent=True)
    )
    if recorded == 1:
        recorded = _migrate_from_v1(scripts, keys)
    if recorded > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"prefix {scripts.prefix!r} on redis at {connection.where} was written by a newer"
            f" taskito (schema {recorded}; this one knows {SCHEMA_VERSION})"
        )


def _schema_version(scripts: Scripts, keys: Keys, recorded: Any) -> int:
    """The version a script read from ``<prefix>:meta``; one no taskito writes is refused."""
    try:
        version = int(recorded)
    except (TypeError, ValueError):
        version = 0
    if version < 1:
        if isinstance(recorded, bytes):
            recorded = recorded.decode(errors="replace")
        raise SchemaVersionError(
            f"prefix {scripts.prefix!r} on redis at {scripts.connection.where} records schema"
            f" version {recorded!r} in {keys.meta}, which no taskito writes"
        )
    return version


def _migrate_from_v1(scripts: Scripts, keys: Keys) -> int:
    """Index the jobs a version-1 prefix finished (``migrate_v1.lua``), one short step after
    another, until a step writes version 2. Processes opening the prefix at once share the
    steps (the walk's position is in the prefix), and none of them returns before the last
    step is done. Returns the version recorded at the end."""
    where, prefix = scripts.connection.where, scripts.prefix
    logger.info(
        "migrating redis prefix %r from schema 1 to %d",
        prefix,
        SCHEMA_VERSION,
        extra={"redis": where, "prefix": prefix},
    )
    recorded, steps = 1, 0
    while recorded == 1:
        reply = scripts.run("migrate_v1", MIGRATION_BATCH, idempotent=True)
        recorded, steps = _schema_version(scripts, keys, reply), steps + 1
    logger.info(
        "redis prefix %r is at schema %d (%d migration steps run by this process)",
        prefix,
        recorded,
        steps,
        extra={"redis": where, "prefix": prefix, "steps": steps},
    )
    return recorded


__all__ = ["MIGRATION_BATCH", "SCHEMA_VERSION", "open_prefix"]
