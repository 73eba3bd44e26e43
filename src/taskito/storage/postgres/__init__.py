"""The PostgreSQL backend: many machines share one database and one schema
(``storage.PostgresStorage``).

Parts: ``storage`` (the ``Storage`` half), ``control`` (the flow-control half), ``schedules``
(periodic schedules, archive, replays, expiry), ``enqueue``, ``reads``, ``claim``,
``transitions``, ``breakers``, ``queries`` and ``control_queries`` (SQL text), ``records`` (rows
as records), ``connections`` (the pool), ``schema`` (migrations) and ``notify``
(LISTEN/NOTIFY). This package imports without psycopg; the constructor names the extra.
"""

from __future__ import annotations

from taskito.storage.postgres.storage import INSTALL_HINT, PostgresStorage

__all__ = ["INSTALL_HINT", "PostgresStorage"]
