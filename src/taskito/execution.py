"""The one place user code runs (docs/architecture.md, invariant 1): ``invoke`` calls a task with
middleware and hooks around it, ``run_job`` turns a ``ClaimedJob`` (the job with its task and
middleware chain, resolved once after the claim) into an ``Outcome``. Their ``_async`` twins, for
an event loop, drive the very same steps (``_invocation``) and classification.

The thread pool, the async pool, the prefork child and test mode all call these functions.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import threading
import time
import traceback
from collections.abc import Callable, Coroutine, Generator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from taskito import context
from taskito.context import ActiveJob, CancelFlag
from taskito.exceptions import SignatureError, TaskCancelledError
from taskito.execution_hooks import (
    call_hooks,
    middleware_after,
    middleware_before,
    run_failure_hooks,
)
from taskito.job import Outcome, OutcomeKind
from taskito.serializers import binds_context, dumps_bound, loads_bound
from taskito.signing import payload_context, result_context, seal, strip_unverified, unseal

if TYPE_CHECKING:
    from taskito.job import JobRecord
    from taskito.middleware import TaskMiddleware
    from taskito.registry import ClaimedJob, ExecutionEnv, TaskSpec

logger = logging.getLogger("taskito.execution")

#: Runs a coroutine to completion and returns its value (the async pool passes its own loop's).
CoroutineRunner = Callable[[Coroutine[Any, Any, Any]], Any]


@dataclass(frozen=True, slots=True)
class Invocation:
    """What calling a task produced: its return value, or the exception and its traceback."""

    value: Any
    error: BaseException | None
    traceback: str | None


def invoke(
    spec: TaskSpec,
    env: ExecutionEnv,
    active: ActiveJob,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    middleware: Sequence[TaskMiddleware],
    run_coroutine: CoroutineRunner | None = None,
    contain_interrupts: bool = False,
) -> Invocation:
    """Call ``spec.fn`` with ``current_job`` bound to ``active``, middleware and hooks around it.

    ``middleware`` is the resolved chain (``ExecutionEnv.middleware_for``). Order:
    ``mw.before`` (global, then per-task) → ``before_task`` hooks →
    the function → ``on_success`` or ``on_failure`` hooks → ``after_task`` hooks →
    ``mw.after``. A hook that raises fails the attempt; a middleware that raises is logged and
    ignored (one whose ``before`` raised is left out of ``after``). Task errors never escape,
    whatever they derive from, except ``KeyboardInterrupt`` unless ``contain_interrupts``:
    test mode runs tasks in the caller's thread, where Ctrl+C must still stop the program; a
    worker contains it too (it can only come from the task, since a worker's pool threads and
    prefork children never receive SIGINT as an exception), and it fails the attempt.
    A coroutine the function returns runs through ``run_coroutine`` (default: ``asyncio.run``
    in this thread).
    """
    runner = run_coroutine or _run_coroutine_here
    steps = _invocation(spec, middleware, env, active, args, kwargs, contain_interrupts)
    try:
        coroutine = next(steps)
        while True:
            try:
                value = runner(coroutine)
            except BaseException as exc:
                coroutine = steps.throw(exc)
            else:
                coroutine = steps.send(value)
    except StopIteration as finished:
        invocation: Invocation = finished.value
        return invocation


async def invoke_async(
    spec: TaskSpec,
    env: ExecutionEnv,
    active: ActiveJob,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    middleware: Sequence[TaskMiddleware],
) -> Invocation:
    """``invoke`` for an event loop: the same steps, with the task's coroutine awaited in the
    calling asyncio task (so ``current_job`` is that task's own, and ``Task.cancel()`` reaches
    the coroutine as ``CancelledError``). Every exception is contained: only workers call it."""
    steps = _invocation(spec, middleware, env, active, args, kwargs, contain_interrupts=True)
    try:
        coroutine = next(steps)
        while True:
            try:
                value = await coroutine
            except BaseException as exc:
                task = asyncio.current_task()
                if isinstance(exc, asyncio.CancelledError) and task is not None:
                    # The cancellation becomes the job's outcome; the task goes on to report it.
                    task.uncancel()
                coroutine = steps.throw(exc)
            else:
                coroutine = steps.send(value)
    except StopIteration as finished:
        invocation: Invocation = finished.value
        return invocation


#: What ``_invocation`` yields: a coroutine the driver must run, sending back its value (or
#: throwing in its exception); it returns the ``Invocation`` when done.
_Steps = Generator[Coroutine[Any, Any, Any], Any, Invocation]


def _invocation(
    spec: TaskSpec,
    middleware: Sequence[TaskMiddleware],
    env: ExecutionEnv,
    active: ActiveJob,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    contain_interrupts: bool,
) -> _Steps:
    """The one ordering of middleware, hooks and the call, written once for both drivers."""
    # ``except ()`` matches nothing: with contain_interrupts every exception is the task's.
    passthrough: tuple[type[BaseException], ...] = (
        () if contain_interrupts else (KeyboardInterrupt,)
    )
    token = context.bind(active)
    try:
        entered = middleware_before(middleware, active)
        result: Any = None
        error: BaseException | None = None
        hooks = env.hooks
        try:
            call_hooks(hooks.before_task, spec.name, args, kwargs)
            result = spec.fn(*args, **kwargs)
            if inspect.iscoroutine(result):
                result = yield result
            call_hooks(hooks.on_success, spec.name, args, kwargs, result)
        except passthrough:
            raise
        except BaseException as exc:
            result = None
            error = run_failure_hooks(
                hooks.on_failure, spec.name, args, kwargs, exc, passthrough=passthrough
            )
        finally:
            try:
                call_hooks(hooks.after_task, spec.name, args, kwargs, result, error)
            except passthrough:
                raise
            except BaseException as exc:
                result, error = None, exc
            middleware_after(entered, result, error)
        return Invocation(result, error, _format_traceback(error))
    finally:
        context.unbind(token)


def run_job(
    claimed: ClaimedJob,
    env: ExecutionEnv,
    cancel_flag: CancelFlag | None = None,
    *,
    run_coroutine: CoroutineRunner | None = None,
) -> Outcome:
    """Run one claimed job and classify what happened. Never raises for anything the job did.

    ``claimed`` carries the task and middleware chain (``ExecutionEnv.resolve``); nothing is
    looked up here. An unknown task or an undecodable payload fails that job (not retryable);
    an unencodable result fails it too. ``cancel_flag`` is what the pool sets on a cancel
    request; one set before the start means the task never runs.
    """
    started_ns = time.perf_counter_ns()
    prepared = _prepare(claimed, env, cancel_flag, started_ns)
    if isinstance(prepared, Outcome):
        return prepared
    spec, active, args, kwargs = prepared
    invocation = invoke(
        spec,
        env,
        active,
        args,
        kwargs,
        middleware=claimed.middleware,
        run_coroutine=run_coroutine,
        contain_interrupts=True,
    )
    return _classify(invocation, spec, env, active, started_ns)


async def run_job_async(
    claimed: ClaimedJob, env: ExecutionEnv, cancel_flag: CancelFlag | None = None
) -> Outcome:
    """``run_job`` inside an asyncio task (the async pools): the task's coroutine is awaited
    on the running loop instead of blocking a thread."""
    started_ns = time.perf_counter_ns()
    prepared = _prepare(claimed, env, cancel_flag, started_ns)
    if isinstance(prepared, Outcome):
        return prepared
    spec, active, args, kwargs = prepared
    invocation = await invoke_async(spec, env, active, args, kwargs, middleware=claimed.middleware)
    return _classify(invocation, spec, env, active, started_ns)


_Prepared = tuple["TaskSpec", ActiveJob, tuple[Any, ...], dict[str, Any]]


def _prepare(
    claimed: ClaimedJob, env: ExecutionEnv, cancel_flag: CancelFlag | None, started_ns: int
) -> _Prepared | Outcome:
    """Everything a run needs, or the outcome of a job that cannot (or must not) start."""
    job = claimed.job
    if cancel_flag is not None and cancel_flag.is_set():
        # The request arrived between claim and start: the task never runs.
        return Outcome(
            OutcomeKind.CANCELLED,
            error=f"job {job.id} was cancelled before it started",
            retryable=False,
            wall_time_ns=time.perf_counter_ns() - started_ns,
            exception_type="TaskCancelledError",
        )
    spec = claimed.spec
    if spec is None:
        return _fatal(f"task {job.task_name!r} is not registered", "QueueError", started_ns)
    try:
        args, kwargs = _decode_arguments(job, spec, env)
    except SignatureError as exc:
        # Checked before anything is deserialised: the bytes are never loaded.
        return _fatal(f"payload signature check failed: {exc}", "SignatureError", started_ns)
    except BaseException as exc:  # unpickling runs code that may raise anything
        text = f"payload of job {job.id} could not be decoded: {type(exc).__name__}: {exc}"
        return _fatal(text, "SerializationError", started_ns)
    active = ActiveJob(
        job_id=job.id,
        task_name=job.task_name,
        retry_count=job.retry_count,
        queue_name=job.queue,
        storage=env.storage,
        soft_timeout_s=spec.soft_timeout_s,
        cancel_flag=cancel_flag if cancel_flag is not None else threading.Event(),
        metadata=job.metadata,
    )
    return spec, active, args, kwargs


# --- classification -------------------------------------------------------------------


def _classify(
    invocation: Invocation,
    spec: TaskSpec,
    env: ExecutionEnv,
    active: ActiveJob,
    started_ns: int,
) -> Outcome:
    error = invocation.error
    if error is None:
        return _encode_success(invocation.value, env, active, started_ns)
    wall_time_ns = time.perf_counter_ns() - started_ns
    error_text = invocation.traceback or repr(error)
    if _is_cancellation(error, active):
        return Outcome(
            OutcomeKind.CANCELLED,
            error=error_text,
            retryable=False,
            wall_time_ns=wall_time_ns,
            exception_type=type(error).__name__,
        )
    return Outcome(
        OutcomeKind.FAILURE,
        error=error_text,
        retryable=spec.allows_retry(error),
        wall_time_ns=wall_time_ns,
        exception_type=type(error).__name__,
    )


def _is_cancellation(error: BaseException, active: ActiveJob) -> bool:
    if isinstance(error, TaskCancelledError):
        return True
    # A force-cancelled coroutine ends with CancelledError; only a requested cancel counts.
    return isinstance(error, asyncio.CancelledError) and active.cancel_flag.is_set()


def _encode_success(value: Any, env: ExecutionEnv, active: ActiveJob, started_ns: int) -> Outcome:
    if value is None:
        encoded = None
    else:
        try:
            encoded = _encode_result(value, env, active)
        except BaseException as exc:  # pickling runs the value's own code
            text = (
                f"result could not be serialized: {type(value).__name__} value "
                f"({type(exc).__name__}: {exc})"
            )
            # The task already ran with its side effects; a retry would fail the same way.
            return _fatal(text, "SerializationError", started_ns)
    return Outcome(
        OutcomeKind.SUCCESS,
        result=encoded,
        wall_time_ns=time.perf_counter_ns() - started_ns,
    )


def _encode_result(value: Any, env: ExecutionEnv, active: ActiveJob) -> bytes:
    """The return value's bytes, bound to the job and signed when the queue signs."""
    if env.signer is None and not binds_context(env.serializer):
        return env.serializer.dumps(value)
    context = result_context(active.job_id, active.task_name)
    return seal(env.signer, context, dumps_bound(env.serializer, value, context))


def _fatal(error: str, exception_type: str, started_ns: int) -> Outcome:
    return Outcome(
        OutcomeKind.FAILURE,
        error=error,
        retryable=False,
        wall_time_ns=time.perf_counter_ns() - started_ns,
        exception_type=exception_type,
    )


def _decode_arguments(
    job: JobRecord, spec: TaskSpec, env: ExecutionEnv
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    serializer = spec.serializer or env.serializer
    if env.signer is None and not binds_context(serializer):
        decoded = serializer.loads(strip_unverified(job.payload))
    else:
        # Signature first (SignatureError): nothing is deserialised before it checks.
        context = payload_context(job.id, job.task_name)
        decoded = loads_bound(serializer, unseal(env.signer, context, job.payload), context)
    if not isinstance(decoded, list | tuple) or len(decoded) != 2:
        raise TypeError(f"expected an (args, kwargs) pair, got {type(decoded).__name__}")
    args, kwargs = decoded
    if not isinstance(args, list | tuple):
        raise TypeError(f"args must be a list or tuple, got {type(args).__name__}")
    if kwargs is None:
        kwargs = {}
    if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
        raise TypeError(f"kwargs must be a dict with string keys, got {type(kwargs).__name__}")
    return tuple(args), dict(kwargs)


def escaped_outcome(error: BaseException) -> Outcome:
    """The failed attempt of a job whose run raised past ``run_job`` (a pool's last guard:
    the slot stays usable and the job is retried per its policy)."""
    return Outcome(
        OutcomeKind.FAILURE,
        error=_format_traceback(error) or repr(error),
        exception_type=type(error).__name__,
    )


def _format_traceback(error: BaseException | None) -> str | None:
    if error is None:
        return None
    return "".join(traceback.format_exception(error)).rstrip()


# --- calling the task -----------------------------------------------------------------


def _run_coroutine_here(coro: Coroutine[Any, Any, Any]) -> Any:
    """``asyncio.run`` in this thread, or in a helper thread when a loop already runs here
    (test mode called from async code); the helper sees the same ``current_job``."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    outcome: dict[str, Any] = {}
    snapshot = contextvars.copy_context()

    def run_elsewhere() -> None:
        try:
            outcome["value"] = snapshot.run(asyncio.run, coro)
        except BaseException as exc:
            outcome["error"] = exc

    helper = threading.Thread(target=run_elsewhere, name="taskito-coroutine", daemon=True)
    helper.start()
    helper.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


__all__ = [
    "CancelFlag",
    "CoroutineRunner",
    "Invocation",
    "escaped_outcome",
    "invoke",
    "invoke_async",
    "run_job",
    "run_job_async",
]
