"""The periodic schedule catalog on the Queue: pause, resume, update and delete the schedules
stored on the database (``list_periodic`` lists them), with ``a``-prefixed async twins.

These act on storage, not on this process's ``@queue.periodic`` declarations, so they reach
every worker at its next scheduler tick. A worker that starts registers its declarations again:
that keeps a paused schedule paused, puts back a deleted schedule it still declares, and puts
back its declared cron over an ``update_periodic`` (docs/operations.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from taskito._checks import check_text
from taskito.cron import CronSchedule
from taskito.job import now_ms
from taskito.queue.state import QueueBase
from taskito.worker.scheduler import NEVER_MS

if TYPE_CHECKING:
    from taskito.storage.control import PeriodicSchedule


class _Keep:
    """The default of ``update_periodic(timezone=...)``: keep the stored timezone."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP = _Keep()


class PeriodicCatalogMixin(QueueBase):
    """``pause_periodic``, ``resume_periodic``, ``update_periodic``, ``delete_periodic`` and
    their async twins."""

    def pause_periodic(self, name: str) -> bool:
        """Stop schedule ``name`` from firing until ``resume_periodic``; it stays paused across
        worker restarts. False when no such schedule is stored (nothing changes)."""
        stored = self._stored_schedule(name)
        if stored is None:
            return False
        return self._storage.set_periodic_enabled(stored.name, False, None)

    def resume_periodic(self, name: str) -> bool:
        """Let schedule ``name`` fire again, from the first slot after now: a slot missed
        while it was paused never fires late. Resuming a running schedule changes nothing.
        False when no such schedule is stored."""
        stored = self._stored_schedule(name)
        if stored is None:
            return False
        if stored.enabled:
            return True
        next_run = _first_slot_after(stored.cron, stored.timezone, now_ms())
        return self._storage.set_periodic_enabled(stored.name, True, next_run)

    def update_periodic(self, name: str, cron: str, timezone: str | _Keep | None = KEEP) -> bool:
        """Give schedule ``name`` a new ``cron`` (and ``timezone``; by default the stored one
        is kept), starting from the first slot after now; a paused schedule stays paused.

        A bad cron or timezone raises ``ConfigurationError`` (a ``ValueError``) naming it and
        changes nothing. False when no such schedule is stored. A worker that starts stores
        its own declaration again, so make the change in code too.
        """
        zone = None if isinstance(timezone, _Keep) else timezone
        CronSchedule.parse(cron, zone)  # a bad cron raises before anything is read
        stored = self._stored_schedule(name)
        if stored is None:
            return False
        if isinstance(timezone, _Keep):
            zone = stored.timezone
        next_run = _first_slot_after(cron, zone, now_ms())
        return self._storage.update_periodic(stored.name, cron, zone, next_run)

    def delete_periodic(self, name: str) -> bool:
        """Delete schedule ``name`` from the database (the jobs it fired stay). A worker
        whose app still declares it stores it again when it starts. False when no such
        schedule is stored."""
        stored = self._stored_schedule(name)
        if stored is None:
            return False
        return self._storage.delete_periodic(stored.name)

    async def apause_periodic(self, name: str) -> bool:
        return await self._blocking.run(self.pause_periodic, name)

    async def aresume_periodic(self, name: str) -> bool:
        return await self._blocking.run(self.resume_periodic, name)

    async def aupdate_periodic(
        self, name: str, cron: str, timezone: str | _Keep | None = KEEP
    ) -> bool:
        return await self._blocking.run(self.update_periodic, name, cron, timezone)

    async def adelete_periodic(self, name: str) -> bool:
        return await self._blocking.run(self.delete_periodic, name)

    def _stored_schedule(self, name: str) -> PeriodicSchedule | None:
        """The stored schedule ``name``: on a Queue with a namespace, its own schedule of that
        name (stored as ``namespace:name``) first, then the name as ``list_periodic`` shows
        it."""
        check_text("name", name)
        stored = {schedule.name: schedule for schedule in self._storage.periodic_schedules()}
        if self.namespace is not None and f"{self.namespace}:{name}" in stored:
            return stored[f"{self.namespace}:{name}"]
        return stored.get(name)


def _first_slot_after(cron: str, timezone: str | None, now: int) -> int:
    following = CronSchedule.parse(cron, timezone).next_after(now)
    return NEVER_MS if following is None else following


__all__ = ["KEEP", "PeriodicCatalogMixin"]
