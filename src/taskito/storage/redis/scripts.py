"""The script runner of one Redis storage object: every Lua script runs with the object's key
prefix and change token before its own arguments, so it touches only keys under
``<prefix>:`` and the changes it publishes are told apart from other objects' (``notify``).
Removals over many jobs run as a series of such scripts, a chunk at a time.
"""

from __future__ import annotations

from typing import Any

from taskito.storage.redis.connections import RedisConnection

# Purges and the archive run as several scripts of this many jobs, so one call over a huge
# backlog never blocks the server for long; each chunk is atomic.
CHUNK = 1000


class Scripts:
    """``run`` a script of ``lua/`` by name for the storage object with ``prefix`` and
    ``token``, on ``connection`` (which the object's other parts share)."""

    def __init__(self, connection: RedisConnection, prefix: str, token: str) -> None:
        self.connection = connection
        self.prefix = prefix
        self.token = token

    def run(self, script: str, *args: Any, idempotent: bool = False) -> Any:
        """Run script ``script`` with the prefix and change token before ``args``; an
        ``idempotent`` one may be repeated after a dropped connection."""
        return self.connection.run_script(
            script, (self.prefix, self.token, *args), idempotent=idempotent
        )

    def in_chunks(self, script: str, cutoff: int) -> int:
        """Run a removal script chunk after chunk until one looks at less than a chunk; return
        how many it removed in all."""
        total = 0
        while True:
            removed, looked_at = self.run(script, cutoff, CHUNK)
            total += removed
            if looked_at < CHUNK:
                return int(total)


__all__ = ["CHUNK", "Scripts"]
