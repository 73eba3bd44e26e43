"""The Redis backend: any number of machines share one Redis, each job move is one Lua script
(``storage.RedisStorage``).

Parts: ``storage`` (the ``Storage`` half), ``control`` (the flow-control half), ``schedules``
(periodic schedules, replays, archive, expiry), ``reads`` (inspection walks), ``workers`` (the
worker registry), ``core`` (what every part stands on), ``connections`` (the redis-py client
and scripts), ``keys`` (key names and script arguments), ``records`` (stored forms), ``notify``
(pub/sub) and ``lua/`` (the scripts). Importing it without redis-py names the extra.
"""

from __future__ import annotations

from taskito.storage.redis.storage import RedisStorage

__all__ = ["RedisStorage"]
