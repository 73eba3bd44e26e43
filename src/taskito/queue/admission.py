"""Admission caps (docs/operations.md, "Enqueue controls"): a queue's ``max_pending`` cap,
stored in the settings every producer on the database shares (key ``max_pending:<queue>``),
and read by each producer at most once a second per queue. Storage enforces a cap atomically
(``Storage.enqueue_capped``): the count of the queue's pending jobs and the insert are one
step, so producers in any number of processes never pass it together.
"""

from __future__ import annotations

from taskito import _checks
from taskito.exceptions import ConfigurationError
from taskito.job import now_ms
from taskito.queue import checks as check
from taskito.queue.caps import KEY_PREFIX, parse_cap
from taskito.queue.state import QueueBase


class AdmissionMixin(QueueBase):
    """``set_queue_max_pending`` and ``queue_max_pending``."""

    def set_queue_max_pending(self, queue: str, cap: int | None) -> None:
        """Cap the pending jobs of ``queue`` (every namespace, delayed jobs included) at
        ``cap``: an enqueue that would pass it raises ``QueueFullError`` and stores nothing;
        a batch is checked whole. 0 admits nothing; None removes the cap. Stored: every
        producer on the database applies it, within a second."""
        name = check.check_storable_name("queue", queue)
        if cap is None:
            self._storage.delete_setting(KEY_PREFIX + name)
        else:
            cap = _checks.check_count(
                "max_pending", cap, maximum=check.MAX_EXACT_INT, error=ConfigurationError
            )
            self._storage.set_setting(KEY_PREFIX + name, str(cap), now_ms())
        self._caps.remember(name, cap)

    def queue_max_pending(self, queue: str) -> int | None:
        """The stored cap of ``queue``, or None."""
        name = check.check_storable_name("queue", queue)
        cap = parse_cap(self._storage.get_setting(KEY_PREFIX + name))
        self._caps.remember(name, cap)
        return cap


__all__ = ["AdmissionMixin"]
