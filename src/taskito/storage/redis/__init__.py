"""The Redis backend: any number of machines share one Redis, each job move is one Lua script
(``storage.RedisStorage``).

Parts: ``storage`` (``RedisStorage``, the ``Storage`` half) and ``control`` (``RedisControl``,
the flow-control half, periodic schedules, archive and replays included), both on ``core``
(the client, prefix and script runner every part uses); modules of functions over the
connection: ``reads`` (inspection walks) and ``workers`` (the worker registry); ``connections``
(the redis-py client and scripts), ``keys`` (the table of key names, script arguments),
``records`` (stored forms), ``notify`` (pub/sub) and ``lua/`` (the scripts). Importing it without
redis-py names the extra.
"""

from __future__ import annotations

from taskito.storage.redis.storage import RedisStorage

__all__ = ["RedisStorage"]
