"""A job claimed again by the worker that still runs its older attempt: an operator requeued
it (``Queue.requeue_job``) off this worker, whose lease keeper has seen the lease lost and
asked the old attempt to stop, but the attempt has not settled yet. The new attempt cannot be
held beside it (one attempt per job per worker), so it goes back to pending for a moment
(``defer_many``: fenced, no retry spent) and is claimed again once the old one has settled.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from taskito.registry import ClaimedJob
from taskito.storage.base import Storage
from taskito.storage.control import Deferral

#: How long such a job waits before it may be claimed again (ms).
HELD_AGAIN_DELAY_MS = 50


def defer_still_held(
    storage: Storage,
    worker_id: str,
    held_ids: Collection[str],
    claimed: Sequence[ClaimedJob],
    now: int,
) -> tuple[list[ClaimedJob], int | None]:
    """The claimed jobs this worker may start, and when the deferred ones are due again
    (None: none was deferred)."""
    again = [entry for entry in claimed if entry.job.id in held_ids]
    if not again:
        return list(claimed), None
    until = now + HELD_AGAIN_DELAY_MS
    storage.defer_many(
        [Deferral(e.job.id, e.job.attempt, until, worker_id=worker_id) for e in again], now
    )
    return [entry for entry in claimed if entry.job.id not in held_ids], until
