"""The SQLite backend: the default, embedded in one WAL-mode file (``storage.SqliteStorage``).

Parts: ``storage`` (the ``Storage`` half), ``control`` (the flow-control half), ``workflows``
(the workflow half), ``claim``, ``transitions``, ``breakers``, ``queries`` and
``control_queries`` (SQL text), ``connections`` (connections, write transactions and change
notification) and ``schema`` (migrations).
"""

from __future__ import annotations

from taskito.storage.sqlite.storage import SqliteStorage

__all__ = ["SqliteStorage"]
