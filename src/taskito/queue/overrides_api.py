"""Runtime overrides on the Queue: per task (``set_task_override``: pause it, change its rate
limit, concurrency cap or timeout), per queue (rate limit, cap, pause) and middleware switched
off per task, with ``a``-prefixed async twins. They are stored in settings
(``worker/overrides.py`` says where) and running workers apply them within a second, at claim.

A task must be registered on this Queue and a middleware known to it (the queue's or the
task's): a typo raises ``ValueError`` instead of storing an override nothing reads. A queue
``paused`` is the queue pause itself (``Queue.pause``), seen by every worker at its next claim.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

from taskito.exceptions import StorageError
from taskito.job import now_ms
from taskito.queue import checks as check
from taskito.queue.state import QueueBase
from taskito.worker.overrides import (
    MIDDLEWARE_PREFIX,
    QUEUE_FIELDS,
    QUEUE_PREFIX,
    TASK_FIELDS,
    TASK_PREFIX,
    Overrides,
    QueueOverride,
    TaskOverride,
    checked_fields,
    middleware_name,
    override_json,
    queue_override_from_json,
    task_override_from_json,
)

#: Compare-and-set rounds of one change before giving up (each lost round means another writer
#: changed the same override in between).
MAX_UPDATE_ATTEMPTS = 50


class OverridesMixin(QueueBase):
    """``set_/get_/list_/clear_task_override``, the same for queues, and the middleware
    switches (``list_middleware``, ``disable_middleware_for_task`` and the rest)."""

    # --- tasks ----------------------------------------------------------------------------

    def set_task_override(self, task_name: str, **fields: Any) -> TaskOverride:
        """Override ``rate_limit``, ``max_concurrent``, ``timeout`` (seconds) or ``paused`` of
        task ``task_name`` on every worker; a field given as None goes back to the task's own
        value, a field not given keeps its override. Returns the override now stored."""
        name = self._known_task(task_name)
        changes = _cleared(checked_fields(fields, TASK_FIELDS), TaskOverride)

        def change(stored: str | None) -> str:
            current = TaskOverride() if stored is None else task_override_from_json(stored)
            return override_json(dataclasses.replace(current, **changes))

        return task_override_from_json(self._update_setting(TASK_PREFIX + name, change))

    def get_task_override(self, task_name: str) -> TaskOverride | None:
        stored = self._storage.get_setting(
            TASK_PREFIX + check.check_storable_name("task_name", task_name)
        )
        return None if stored is None else task_override_from_json(stored)

    def list_task_overrides(self) -> dict[str, TaskOverride]:
        return dict(self._stored_overrides().tasks)

    def clear_task_override(self, task_name: str) -> bool:
        """Drop every override of the task; False when it had none."""
        name = check.check_storable_name("task_name", task_name)
        return self._storage.delete_setting(TASK_PREFIX + name)

    # --- queues ---------------------------------------------------------------------------

    def set_queue_override(self, queue_name: str, **fields: Any) -> QueueOverride:
        """Override the ``rate_limit`` or ``max_concurrent`` of queue ``queue_name`` on every
        worker (None: back to the Queue's own), or pause/resume it (``paused``)."""
        name = check.check_storable_name("queue_name", queue_name)
        changes = checked_fields(fields, (*QUEUE_FIELDS, "paused"))
        paused = changes.pop("paused", None)
        limits = _cleared(changes, QueueOverride)

        def change(stored: str | None) -> str:
            current = QueueOverride() if stored is None else queue_override_from_json(stored)
            return override_json(dataclasses.replace(current, **limits))

        updated = self.get_queue_override(name) or QueueOverride()
        if limits:
            updated = queue_override_from_json(self._update_setting(QUEUE_PREFIX + name, change))
        if paused is not None:
            self._storage.set_queue_paused(name, bool(paused), now_ms())
        return updated

    def get_queue_override(self, queue_name: str) -> QueueOverride | None:
        name = check.check_storable_name("queue_name", queue_name)
        stored = self._storage.get_setting(QUEUE_PREFIX + name)
        return None if stored is None else queue_override_from_json(stored)

    def list_queue_overrides(self) -> dict[str, QueueOverride]:
        return dict(self._stored_overrides().queues)

    def clear_queue_override(self, queue_name: str) -> bool:
        """Drop the queue's limit overrides (a pause stays: ``resume`` ends it)."""
        name = check.check_storable_name("queue_name", queue_name)
        return self._storage.delete_setting(QUEUE_PREFIX + name)

    def registered_tasks(self) -> list[dict[str, Any]]:
        """Every task of this Queue by name: ``{name, queue, defaults, override, effective,
        paused, disabled_middleware}``; ``defaults`` and ``effective`` hold ``rate_limit``,
        ``max_concurrent`` and ``timeout`` (seconds), before and after the override."""
        stored = self._stored_overrides()
        rows = []
        for name, spec in sorted(self._task_registry.items()):
            rate = spec.rate_limit
            defaults = {
                "rate_limit": None if rate is None else _rate_text(rate.count, rate.period_s),
                "max_concurrent": spec.max_concurrent,
                "timeout": spec.timeout_s,
            }
            override = stored.tasks.get(name)
            effective = dict(defaults)
            if override is not None:
                for field, value in dataclasses.asdict(override).items():
                    if field in effective and value is not None:
                        effective[field] = value
            rows.append(
                {
                    "name": name,
                    "queue": spec.queue,
                    "defaults": defaults,
                    "override": None if override is None else dataclasses.asdict(override),
                    "effective": effective,
                    "paused": bool(override and override.paused),
                    "disabled_middleware": sorted(stored.disabled_middleware.get(name, ())),
                }
            )
        return rows

    # --- middleware -----------------------------------------------------------------------

    def list_middleware(self) -> list[dict[str, Any]]:
        """Every middleware of this Queue by name: ``{name, scope}`` (``"global"``, or the
        task it belongs to), global ones first."""
        listed = [{"name": middleware_name(m), "scope": "global"} for m in self._global_middleware]
        for task_name, spec in sorted(self._task_registry.items()):
            listed += [{"name": middleware_name(m), "scope": task_name} for m in spec.middleware]
        return listed

    def disable_middleware_for_task(self, task_name: str, middleware: str) -> list[str]:
        """Skip middleware ``middleware`` (its name) for the task's jobs from the next job
        on; returns the task's disabled names."""
        name = self._known_task(task_name)
        self._known_middleware(name, middleware)

        def change(stored: str | None) -> str:
            return json.dumps(sorted({*([] if stored is None else json.loads(stored)), middleware}))

        return list(json.loads(self._update_setting(MIDDLEWARE_PREFIX + name, change)))

    def enable_middleware_for_task(self, task_name: str, middleware: str) -> list[str]:
        name = self._known_task(task_name)
        self._known_middleware(name, middleware)
        disabled = [m for m in self.get_disabled_middleware_for(name) if m != middleware]
        if disabled:
            self._storage.set_setting(MIDDLEWARE_PREFIX + name, json.dumps(disabled), now_ms())
        else:
            self._storage.delete_setting(MIDDLEWARE_PREFIX + name)
        return disabled

    def get_disabled_middleware_for(self, task_name: str) -> list[str]:
        name = check.check_storable_name("task_name", task_name)
        stored = self._storage.get_setting(MIDDLEWARE_PREFIX + name)
        return [] if stored is None else sorted(json.loads(stored))

    def clear_middleware_disables(self, task_name: str) -> bool:
        name = check.check_storable_name("task_name", task_name)
        return self._storage.delete_setting(MIDDLEWARE_PREFIX + name)

    # --- async twins ---------------------------------------------------------------------

    async def aset_task_override(self, task_name: str, **fields: Any) -> TaskOverride:
        return await self._blocking.run(self.set_task_override, task_name, **fields)

    async def aget_task_override(self, task_name: str) -> TaskOverride | None:
        return await self._blocking.run(self.get_task_override, task_name)

    async def alist_task_overrides(self) -> dict[str, TaskOverride]:
        return await self._blocking.run(self.list_task_overrides)

    async def aclear_task_override(self, task_name: str) -> bool:
        return await self._blocking.run(self.clear_task_override, task_name)

    async def aset_queue_override(self, queue_name: str, **fields: Any) -> QueueOverride:
        return await self._blocking.run(self.set_queue_override, queue_name, **fields)

    async def aget_queue_override(self, queue_name: str) -> QueueOverride | None:
        return await self._blocking.run(self.get_queue_override, queue_name)

    async def alist_queue_overrides(self) -> dict[str, QueueOverride]:
        return await self._blocking.run(self.list_queue_overrides)

    async def aclear_queue_override(self, queue_name: str) -> bool:
        return await self._blocking.run(self.clear_queue_override, queue_name)

    async def aregistered_tasks(self) -> list[dict[str, Any]]:
        return await self._blocking.run(self.registered_tasks)

    async def alist_middleware(self) -> list[dict[str, Any]]:
        return self.list_middleware()  # no I/O

    async def adisable_middleware_for_task(self, task_name: str, middleware: str) -> list[str]:
        return await self._blocking.run(self.disable_middleware_for_task, task_name, middleware)

    async def aenable_middleware_for_task(self, task_name: str, middleware: str) -> list[str]:
        return await self._blocking.run(self.enable_middleware_for_task, task_name, middleware)

    async def aget_disabled_middleware_for(self, task_name: str) -> list[str]:
        return await self._blocking.run(self.get_disabled_middleware_for, task_name)

    async def aclear_middleware_disables(self, task_name: str) -> bool:
        return await self._blocking.run(self.clear_middleware_disables, task_name)

    # --- helpers --------------------------------------------------------------------------

    def _update_setting(self, key: str, change: Callable[[str | None], str]) -> str:
        """Read, change and compare-and-set ``key`` until no other writer got in between (a
        concurrent change is re-read and kept); return the value stored."""
        for _ in range(MAX_UPDATE_ATTEMPTS):
            stored = self._storage.get_setting(key)
            updated = change(stored)
            if self._storage.set_setting_if(key, stored, updated, now_ms()):
                return updated
        raise StorageError(f"setting {key!r} kept changing; {MAX_UPDATE_ATTEMPTS} tries failed")

    def _stored_overrides(self) -> Overrides:
        return Overrides.from_settings(self._storage.list_settings())

    def _known_task(self, task_name: str) -> str:
        name = check.check_storable_name("task_name", task_name)
        if name not in self._task_registry:
            raise ValueError(f"task {name!r} is not registered on this queue")
        return name

    def _known_middleware(self, task_name: str, middleware: str) -> None:
        if not isinstance(middleware, str) or not middleware:
            raise ValueError(f"middleware must be a middleware's name, got {middleware!r}")
        known = [m["name"] for m in self.list_middleware() if m["scope"] in ("global", task_name)]
        if middleware not in known:
            names = ", ".join(known) or "none"
            raise ValueError(
                f"no middleware named {middleware!r} runs for task {task_name!r} (known: {names})"
            )


def _rate_text(count: int, period_s: float) -> str:
    """A rate limit as it is written (``"10/m"``)."""
    unit = {1.0: "s", 60.0: "m", 3600.0: "h"}.get(period_s)
    return f"{count}/{unit}" if unit else f"{count}/{period_s:g}s"


def _cleared(changes: dict[str, object], record: type) -> dict[str, Any]:
    """``changes`` with a None ``paused`` as False (the only field whose default is not None)."""
    defaults = {f.name: f.default for f in dataclasses.fields(record)}
    return {name: defaults[name] if value is None else value for name, value in changes.items()}


__all__ = ["OverridesMixin"]
