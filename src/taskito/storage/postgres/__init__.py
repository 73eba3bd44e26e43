"""The PostgreSQL backend: many machines share one database and one schema
(``storage.PostgresStorage``).

Parts: ``storage`` (``PostgresStorage``, the ``Storage`` half), ``control``
(``PostgresControl``, the flow-control half, periodic schedules, archive and replays included)
and ``workflows`` (``PostgresWorkflows``, the workflow half) call modules of functions over
the pool and a cursor: ``enqueue``, ``reads``, ``workers``, ``claim``, ``transitions``,
``breakers``; with ``queries`` and ``control_queries`` (SQL text), ``records`` (rows as
records), ``connections`` (the pool), ``schema`` (migrations) and ``notify`` (LISTEN/NOTIFY).
This package imports without psycopg; the constructor names the extra.
"""

from __future__ import annotations

from taskito.storage.postgres.storage import INSTALL_HINT, PostgresStorage

__all__ = ["INSTALL_HINT", "PostgresStorage"]
