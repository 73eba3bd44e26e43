"""The Redis backend: any number of machines share one Redis, each job move is one Lua script
(``storage.RedisStorage``).

Parts: ``storage`` (``RedisStorage``, the ``Storage`` half, which holds the parts every module
shares: the connection, the key names, the script runner and the change listener) and
``control`` (``RedisControl``, the flow-control half, periodic schedules, archive and replays
included) call modules of functions over the connection and the script runner: ``enqueue``,
``reads`` (reads and inspection walks) and ``workers`` (the worker registry); ``workflows``
(``RedisWorkflows``, the workflow half, with its stored forms in ``workflow_records``); with
``scripts`` (the runner: prefix and change token first, removals in chunks), ``schema`` (the
prefix's version, checked and migrated), ``connections`` (the redis-py client and scripts),
``keys`` (the table of key names, script arguments), ``records`` (stored forms), ``notify``
(pub/sub) and ``lua/`` (the scripts). Importing it without redis-py names the extra.
"""

from __future__ import annotations

from taskito.storage.redis.storage import RedisStorage

__all__ = ["RedisStorage"]
