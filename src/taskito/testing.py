"""Test mode: ``with queue.test_mode() as results:`` runs each enqueued task at once, in the
calling thread, through the engine's one execution path (``execution.invoke``), and records
what happened. Arguments go through the queue's interception and are restored as a worker
restores them, so a strict queue refuses in a test what it refuses in production.
``MockResource`` stands in for a worker resource."""

from __future__ import annotations

import itertools
import time
import traceback
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from taskito.celery_habits import JOB_ATTRIBUTES, missing_attribute
from taskito.context import ActiveJob
from taskito.events import EventType, outcome_duration_ms
from taskito.exceptions import ResourceNotFoundError
from taskito.execution import Invocation, invoke
from taskito.interception.markers import read_envelope
from taskito.interception.restore import restore_call
from taskito.job import now_ms
from taskito.queue.arguments import as_args, as_kwargs
from taskito.resources.mock import MockResource

if TYPE_CHECKING:
    from taskito.middleware import TaskMiddleware
    from taskito.queue.protocol import EnqueueOptions, EnqueueSink, TestModeHost
    from taskito.registry import ExecutionEnv, TaskSpec


@dataclass(frozen=True, slots=True)
class TestResult:
    """One task run in test mode."""

    __test__ = False  # not a pytest test class

    job_id: str
    task_name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    return_value: Any
    error: BaseException | None
    traceback: str | None

    @property
    def succeeded(self) -> bool:
        return self.error is None

    @property
    def failed(self) -> bool:
        return self.error is not None


class TestResults(list[TestResult]):
    """The runs recorded by one ``test_mode()`` block, in order."""

    __test__ = False

    def filter(self, task_name: str | None = None, succeeded: bool | None = None) -> TestResults:
        """The runs of ``task_name`` (any when None) that succeeded or failed (any when None)."""
        return TestResults(
            r
            for r in self
            if (task_name is None or r.task_name == task_name)
            and (succeeded is None or r.succeeded == succeeded)
        )

    @property
    def succeeded(self) -> TestResults:
        return self.filter(succeeded=True)

    @property
    def failed(self) -> TestResults:
        return self.filter(succeeded=False)


class EagerJob:
    """What ``delay()`` returns in test mode: the finished job, with ``JobResult``'s surface."""

    __test__ = False

    def __init__(self, spec: TaskSpec, job_id: str, queue: str, run: TestResult) -> None:
        self.id = job_id
        self._spec = spec
        self._queue_name = queue
        self._run = run
        self._finished_at = now_ms()
        self.status = "complete" if run.succeeded else "failed"
        self.error = None if run.error is None else f"{type(run.error).__name__}: {run.error}"
        self.progress = 100 if run.succeeded else None

    def __repr__(self) -> str:
        return f"<EagerJob id={self.id} status={self.status}>"

    if not TYPE_CHECKING:  # hidden from type checkers, which still flag unknown attributes

        def __getattr__(self, name: str) -> Any:
            raise missing_attribute(self, name, JOB_ATTRIBUTES)

    def refresh(self) -> None:
        """Nothing to re-read: the job already ran."""

    def result(self, timeout: float = 30.0, *args: Any, **kwargs: Any) -> Any:
        """The task's return value; ``RuntimeError`` when the task raised."""
        if self._run.error is not None:
            raise RuntimeError(f"Job {self.id} failed: {self.error}") from self._run.error
        return self._run.return_value

    def get(self, timeout: float = 30.0, *args: Any, **kwargs: Any) -> Any:
        """``result()`` under Celery's name, as on ``JobResult``."""
        return self.result(timeout)

    async def aresult(self, timeout: float = 30.0, *args: Any, **kwargs: Any) -> Any:
        return self.result(timeout)

    def to_dict(self) -> dict[str, Any]:
        spec = self._spec
        return {
            "id": self.id,
            "queue": self._queue_name,
            "task_name": spec.name,
            "status": self.status,
            "priority": spec.priority,
            "progress": self.progress,
            "retry_count": 0,
            "max_retries": spec.max_retries,
            "created_at": self._finished_at,
            "scheduled_at": self._finished_at,
            "started_at": self._finished_at,
            "completed_at": self._finished_at,
            "error": self.error,
            "timeout_ms": None if spec.timeout_s is None else round(spec.timeout_s * 1000),
            "unique_key": None,
            "metadata": None,
            "namespace": None,
        }


class TestMode:
    """Context manager: while active, ``queue.enqueue`` (so ``delay``, ``apply_async`` and the
    canvas) hands each call to this object (the queue's ``_test_mode`` seam), which runs the
    task synchronously instead of storing a job. ``enqueue_many``/``map``
    still store jobs. Middleware ``before``/``after``, hooks and the completed/failed events
    run as they do in a worker; ``on_enqueue`` does not (nothing is enqueued).
    """

    __test__ = False

    def __init__(
        self,
        queue: TestModeHost,
        propagate_errors: bool = False,
        resources: dict[str, Any] | None = None,
    ) -> None:
        if resources is not None and not (
            isinstance(resources, dict) and all(isinstance(k, str) for k in resources)
        ):
            raise TypeError("resources must be a dict of resource name to value or MockResource")
        self._queue = queue
        self._propagate_errors = bool(propagate_errors)
        self._resources = dict(resources or {})
        self._ids = itertools.count(1)
        self._results = TestResults()
        self._previous: EnqueueSink | None = None

    @property
    def resources(self) -> dict[str, Any]:
        """The ``resources=`` overrides of this block."""
        return self._resources

    def __enter__(self) -> TestResults:
        # A nested block takes over until it exits, then hands back to the outer one.
        self._previous = self._queue._test_mode
        self._queue._test_mode = self
        return self._results

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._queue._test_mode = self._previous

    def _inject(self, spec: TaskSpec, job_id: str, kwargs: dict[str, Any]) -> None:
        for resource in spec.inject:
            if resource in kwargs:
                continue
            if resource not in self._resources:
                raise ResourceNotFoundError(
                    f"task {spec.name!r} injects resource {resource!r}: "
                    f"pass it with test_mode(resources={{{resource!r}: ...}})"
                )
            value = self._resources[resource]
            kwargs[resource] = value._hand_out(job_id) if isinstance(value, MockResource) else value

    def run_now(
        self,
        task_name: str,
        args: tuple[Any, ...] | list[Any],
        kwargs: dict[str, Any] | None,
        options: EnqueueOptions,
    ) -> EagerJob:
        """Stands in for ``Queue.enqueue``: the options are accepted and have no effect, except
        ``metadata``, which the task reads as ``current_job.metadata``."""
        owner = self._queue
        spec = owner._task_registry.get(task_name)
        if spec is None:
            raise KeyError(f"task {task_name!r} is not registered on this queue")
        job_id = f"test-{next(self._ids):06d}"
        queue_name = options.queue or spec.queue
        # Intercepted as a real enqueue would be (a strict queue raises here).
        call = owner._interception.intercept(as_args(args), dict(as_kwargs(kwargs)))
        call_args, call_kwargs = call.args, dict(call.kwargs)
        self._inject(spec, job_id, call_kwargs)
        spec.call_shape.check(spec.name, call_args, call_kwargs)  # as a real enqueue would
        active = ActiveJob(
            job_id, spec.name, 0, queue_name, storage=None, metadata=options.metadata
        )
        env = owner._execution_env()
        middleware = env.middleware_for(spec)
        started_ns = time.perf_counter_ns()
        outcome, call_args, call_kwargs = self._invoke(
            spec, env, active, call.envelope, call_args, call_kwargs, middleware
        )
        wall_time_ns = time.perf_counter_ns() - started_ns
        run = TestResult(
            job_id,
            spec.name,
            call_args,
            call_kwargs,
            outcome.value,
            outcome.error,
            outcome.traceback,
        )
        self._results.append(run)
        self._emit_outcome(run, queue_name, wall_time_ns)
        if outcome.error is not None and self._propagate_errors:
            raise outcome.error
        return EagerJob(spec, job_id, queue_name, run)

    def _invoke(
        self,
        spec: TaskSpec,
        env: ExecutionEnv,
        active: ActiveJob,
        envelope: dict[str, Any] | None,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        middleware: tuple[TaskMiddleware, ...],
    ) -> tuple[Invocation, tuple[Any, ...], dict[str, Any]]:
        """The task called, with intercepted arguments restored first (as a worker does; a
        failure to restore is the run's error) and given back after."""
        if envelope is None or env.arguments is None:
            return invoke(spec, env, active, args, kwargs, middleware=middleware), args, kwargs
        resources = _TestResources(self._resources, active.job_id)
        try:
            restored = restore_call(
                args,
                kwargs,
                env.arguments,
                resources=resources,
                max_depth=read_envelope(envelope)[1],
            )
        except Exception as exc:
            text = "".join(traceback.format_exception(exc)).rstrip()
            return Invocation(None, exc, text), args, kwargs
        try:
            invocation = invoke(
                spec, env, active, restored.args, restored.kwargs, middleware=middleware
            )
        finally:
            restored.release()
        return invocation, restored.args, restored.kwargs

    def _emit_outcome(self, run: TestResult, queue_name: str, wall_time_ns: int) -> None:
        bus = self._queue._event_bus
        payload: dict[str, Any] = {
            "task_name": run.task_name,
            "job_id": run.job_id,
            "queue": queue_name,
            "duration_ms": outcome_duration_ms(wall_time_ns),
        }
        if run.error is None:
            if bus.has_listeners(EventType.JOB_COMPLETED):
                bus.emit(EventType.JOB_COMPLETED, payload)
        elif bus.has_listeners(EventType.JOB_FAILED):
            bus.emit(EventType.JOB_FAILED, {**payload, "error": str(run.error)})


class _TestResources:
    """Test mode's resources (``test_mode(resources=...)``) as the restore step asks for
    them, for arguments a producer redirected to a worker resource."""

    def __init__(self, resources: dict[str, Any], job_id: str) -> None:
        self._resources = resources
        self._job_id = job_id

    def acquire_for_task(self, name: str) -> tuple[Any, None]:
        if name not in self._resources:
            raise ResourceNotFoundError(
                f"an argument was redirected to worker resource {name!r}: "
                f"pass it with test_mode(resources={{{name!r}: ...}})"
            )
        value = self._resources[name]
        return (value._hand_out(self._job_id) if isinstance(value, MockResource) else value), None


__all__ = ["EagerJob", "MockResource", "TestMode", "TestResult", "TestResults"]
