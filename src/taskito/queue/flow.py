"""Flow control on the Queue: periodic tasks (and ``list_periodic``, the stored schedules),
queue-level limits and circuit breakers.

These only declare and inspect; the worker enforces them (``worker/flow.py`` checks limits
right after each claim, ``worker/scheduler.py`` fires schedules), so everything set here
holds across every worker on the database (docs/limits.md, docs/periodic.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from taskito import _checks
from taskito.cron import CronSchedule
from taskito.exceptions import ConfigurationError, SerializationError
from taskito.queue import checks as check
from taskito.queue.arguments import as_args, as_kwargs
from taskito.queue.state import QueueBase
from taskito.registry import CallShape, PeriodicSpec, QueueLimits, parse_rate_limit
from taskito.task import TaskWrapper
from taskito.task_options import default_task_name
from taskito.worker.scheduler import NEVER_MS

if TYPE_CHECKING:
    from taskito.storage.control import BreakerState, PeriodicSchedule

    _TaskDecorator = Callable[[Callable[..., Any]], Any]


@dataclasses.dataclass(frozen=True, slots=True)
class PeriodicInfo:
    """A periodic schedule as stored on the database, which ``list_periodic()`` returns.

    ``name`` is the stored name (``namespace:name`` for a Queue with a namespace);
    ``cron_expr`` and ``timezone`` (None: UTC) are the declaration's. ``last_run`` is the
    slot last fired (None until the first), ``next_run`` the next one (None when the cron
    never fires again); both are ms since the epoch.
    """

    name: str
    task_name: str
    cron_expr: str
    queue: str
    enabled: bool
    last_run: int | None
    next_run: int | None
    timezone: str | None


def _periodic_info(schedule: PeriodicSchedule) -> PeriodicInfo:
    return PeriodicInfo(
        name=schedule.name,
        task_name=schedule.task_name,
        cron_expr=schedule.cron,
        queue=schedule.queue,
        enabled=schedule.enabled,
        last_run=schedule.last_run,
        next_run=None if schedule.next_run >= NEVER_MS else schedule.next_run,
        timezone=schedule.timezone,
    )


class FlowMixin(QueueBase):
    """``periodic``, ``list_periodic``, ``set_queue_rate_limit``, ``set_queue_concurrency``,
    ``circuit_breakers``."""

    if TYPE_CHECKING:
        # Defined by ``queue.Queue``; ``periodic`` registers its function through it.
        task: Callable[..., _TaskDecorator]

    # --- periodic tasks -------------------------------------------------------------------

    def periodic(
        self,
        cron: str,
        name: str | None = None,
        args: tuple[Any, ...] | list[Any] = (),
        kwargs: dict[str, Any] | None = None,
        queue: str = "default",
        timezone: str | None = None,
    ) -> _TaskDecorator:
        """Register the function as a task and run it on the schedule ``cron``.

        ``cron`` has 6 fields, seconds first (``"0 */5 * * * *"``: every five minutes), with
        an optional 7th year field; ``timezone`` is an IANA name (None: UTC). ``name`` names
        both the task and the schedule (default: the task's default name). Each slot fires
        once however many workers run; the job goes to ``queue`` with ``args``/``kwargs``.
        Stacked on ``@queue.task(...)``, it schedules that task with its options.

        Everything is checked now: a bad cron or timezone raises ``ValueError`` naming it,
        arguments the serializer cannot encode raise ``SerializationError``. The decorated
        function stays directly callable (a ``TaskWrapper``, as ``@queue.task()`` returns).
        """
        CronSchedule.parse(cron, timezone)  # raises ConfigurationError (a ValueError)
        if name is not None:
            check.check_storable_name("name", name)
        queue = check.check_storable_name("queue", queue)
        call_args, call_kwargs = self._periodic_arguments(name or cron, args, kwargs)

        def register(fn: Callable[..., Any]) -> Any:
            if getattr(fn, "_is_workflow_proxy", False):
                return self._periodic_workflow(fn, cron, queue, timezone)
            if not callable(fn):
                raise TypeError(f"@queue.periodic() decorates a function, not {type(fn).__name__}")
            task = self._own_task(fn)
            schedule_name = name or (task.name if task else default_task_name(fn))
            if schedule_name in self._periodic:
                raise ConfigurationError(
                    f"a periodic schedule named {schedule_name!r} is already declared on this "
                    "queue; pass name= to declare another"
                )
            # Arguments the function cannot take fail now, not at every firing.
            shape = task._spec.call_shape if task else CallShape(fn)
            shape.check(task.name if task else schedule_name, call_args, call_kwargs)
            wrapper = task or self.task(name=schedule_name)(fn)
            self._periodic[schedule_name] = PeriodicSpec(
                name=schedule_name,
                task_name=wrapper.name,
                cron=cron,
                timezone=timezone,
                queue=queue,
                args=call_args,
                kwargs=call_kwargs,
            )
            return wrapper

        return register

    def _periodic_workflow(self, proxy: Any, cron: str, queue: str, timezone: str | None) -> Any:
        """``@queue.periodic`` over a ``WorkflowProxy`` (workflows spec 2.12): a launcher task
        ``_wf_launcher_<name>`` that submits a run, on the schedule; the proxy is returned."""
        launcher_name = f"_wf_launcher_{proxy.name}"
        if launcher_name in self._periodic:
            raise ConfigurationError(
                f"workflow {proxy.name!r} already has a periodic schedule on this queue"
            )

        def launch() -> str:
            return f"submitted workflow run {proxy.submit().id}"

        launch.__name__ = launch.__qualname__ = launcher_name
        self.task(name=launcher_name)(launch)
        self._periodic[launcher_name] = PeriodicSpec(
            name=launcher_name, task_name=launcher_name, cron=cron, timezone=timezone, queue=queue
        )
        return proxy

    def list_periodic(self) -> list[PeriodicInfo]:
        """Every periodic schedule stored on the database, by name: those a worker of any
        app (any namespace) has registered. A schedule is stored when a worker that declares
        it starts, so one declared here appears once a worker of this app has run."""
        return [_periodic_info(schedule) for schedule in self._storage.periodic_schedules()]

    def _periodic_arguments(
        self, schedule: str, args: object, kwargs: object
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The arguments every firing of ``schedule`` passes, checked now to be storable."""
        call_args = as_args(args)
        call_kwargs = dict(as_kwargs(kwargs))
        try:
            self._serializer.dumps((call_args, call_kwargs))
        except Exception as exc:
            raise SerializationError(
                f"arguments of periodic schedule {schedule!r} could not be serialized: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        return call_args, call_kwargs

    def _own_task(self, fn: object) -> TaskWrapper | None:
        """``fn`` when it is a task of this queue (``@queue.periodic`` stacked on
        ``@queue.task(...)``), so the schedule runs that task, options and all."""
        if not isinstance(fn, TaskWrapper):
            return None
        owner: object = fn._queue  # typed as a protocol, which a Queue satisfies
        return fn if owner is self else None

    # --- queue-level limits ---------------------------------------------------------------

    def set_queue_rate_limit(self, queue_name: str, rate_limit: str | None) -> None:
        """Start at most ``rate_limit`` jobs of ``queue_name`` across all workers, evenly
        spaced (``"100/m"``: one every 0.6 s, no burst); None removes the limit.

        Workers of this Queue object see the change at their next claim; worker processes
        apply what their app sets when it is imported.
        """
        queue_name = check.check_storable_name("queue_name", queue_name)
        parsed = None if rate_limit is None else parse_rate_limit(rate_limit)
        current = self._queue_limits.get(queue_name, QueueLimits())
        self._store_limits(queue_name, dataclasses.replace(current, rate_limit=parsed))

    def set_queue_concurrency(self, queue_name: str, max_concurrent: int | None) -> None:
        """Run at most ``max_concurrent`` jobs of ``queue_name`` at once across all workers;
        None removes the cap."""
        queue_name = check.check_storable_name("queue_name", queue_name)
        cap = _checks.check_optional_int(
            "max_concurrent", max_concurrent, minimum=1, error=ConfigurationError
        )
        current = self._queue_limits.get(queue_name, QueueLimits())
        self._store_limits(queue_name, dataclasses.replace(current, max_concurrent=cap))

    def _store_limits(self, queue_name: str, limits: QueueLimits) -> None:
        if limits == QueueLimits():
            # No entry at all keeps the claim path free of limit checks for this queue.
            self._queue_limits.pop(queue_name, None)
        else:
            self._queue_limits[queue_name] = limits

    # --- circuit breakers -----------------------------------------------------------------

    def circuit_breakers(self) -> list[dict[str, Any]]:
        """Every task's circuit breaker as stored (created when a job of a task with
        ``circuit_breaker=`` is first claimed); times are ms since the epoch."""
        return [_breaker_dict(state) for state in self._storage.circuit_breakers()]


def _breaker_dict(state: BreakerState) -> dict[str, Any]:
    return {
        "task_name": state.task_name,
        "state": state.state,
        "failure_count": state.failure_count,
        "last_failure_at": state.last_failure_at,
        "opened_at": state.opened_at,
        "threshold": state.threshold,
        "window_ms": state.window_ms,
        "cooldown_ms": state.cooldown_ms,
    }


__all__ = ["FlowMixin", "PeriodicInfo"]
