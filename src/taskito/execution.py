"""The one place user code runs (docs/architecture.md, invariant 1): ``invoke`` calls a task with
middleware and hooks around it, ``run_job`` turns a ``ClaimedJob`` (the job with its task and
middleware chain, resolved once after the claim) into an ``Outcome``. Their ``_async`` twins, for
an event loop, drive the very same steps (``_invocation``) and classification.

The thread pool, the async pool, the prefork child and test mode all call these functions.
A job's arguments come from ``execution_arguments`` (decoded, and restored when the producer
intercepted them), its ``Outcome`` from ``execution_outcomes``.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Generator, Sequence
from typing import TYPE_CHECKING, Any

from taskito import context
from taskito.context import ActiveJob, CancelFlag
from taskito.exceptions import CryptoError, SignatureError
from taskito.execution_arguments import (
    Marked,
    decode_arguments,
    not_restored,
    restore,
    restore_off_loop,
)
from taskito.execution_hooks import (
    call_hooks,
    middleware_after,
    middleware_before,
    run_failure_hooks,
)
from taskito.execution_outcomes import (
    Invocation,
    classify,
    escaped_outcome,
    fatal,
    format_traceback,
)
from taskito.execution_resources import (
    acquire_injected,
    acquire_injected_off_loop,
    not_injected,
)
from taskito.job import Outcome, OutcomeKind

if TYPE_CHECKING:
    from taskito.interception.restore import RestoredCall
    from taskito.middleware import TaskMiddleware
    from taskito.registry import ClaimedJob, ExecutionEnv, TaskSpec

logger = logging.getLogger("taskito.execution")

#: Runs a coroutine to completion and returns its value (the async pool passes its own loop's).
CoroutineRunner = Callable[[Coroutine[Any, Any, Any]], Any]


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
        return Invocation(result, error, format_traceback(error))
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
    spec, active, args, kwargs, marked = prepared
    restored: RestoredCall | None = None
    if marked is not None:
        try:
            restored = restore(env, args, kwargs, marked)
        except BaseException as exc:  # rebuilding runs handlers' and resources' code
            return not_restored(exc, started_ns)
        args, kwargs = restored.args, restored.kwargs
    try:
        acquired = acquire_injected(spec, env, kwargs)
    except Exception as exc:
        if restored is not None:
            restored.release()
        return not_injected(exc, spec, started_ns)
    try:
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
    finally:
        acquired.release()
        if restored is not None:
            restored.release()
    return classify(invocation, spec, env, active, started_ns)


async def run_job_async(
    claimed: ClaimedJob, env: ExecutionEnv, cancel_flag: CancelFlag | None = None
) -> Outcome:
    """``run_job`` inside an asyncio task (the async pools): the task's coroutine is awaited
    on the running loop instead of blocking a thread."""
    started_ns = time.perf_counter_ns()
    prepared = _prepare(claimed, env, cancel_flag, started_ns)
    if isinstance(prepared, Outcome):
        return prepared
    spec, active, args, kwargs, marked = prepared
    restored: RestoredCall | None = None
    if marked is not None:
        try:
            restored = await restore_off_loop(env, args, kwargs, marked)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            return not_restored(exc, started_ns)
        args, kwargs = restored.args, restored.kwargs
    try:
        acquired = await acquire_injected_off_loop(spec, env, kwargs)
    except BaseException as exc:
        if restored is not None:
            await restored.arelease()
        if not isinstance(exc, Exception):
            raise
        return not_injected(exc, spec, started_ns)
    try:
        invocation = await invoke_async(
            spec, env, active, args, kwargs, middleware=claimed.middleware
        )
    finally:
        await acquired.arelease()
        if restored is not None:
            await restored.arelease()
    return classify(invocation, spec, env, active, started_ns)


_Prepared = tuple["TaskSpec", ActiveJob, tuple[Any, ...], dict[str, Any], Marked | None]


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
        return fatal(f"task {job.task_name!r} is not registered", "QueueError", started_ns)
    try:
        args, kwargs, marked = decode_arguments(job, spec, env)
    except SignatureError as exc:
        # Checked before anything is deserialised: the bytes are never loaded.
        return fatal(f"payload signature check failed: {exc}", "SignatureError", started_ns)
    except CryptoError as exc:  # a codec refused the bytes before the serializer saw them
        return fatal(f"payload of job {job.id} refused: {exc}", "CryptoError", started_ns)
    except BaseException as exc:  # unpickling runs code that may raise anything
        text = f"payload of job {job.id} could not be decoded: {type(exc).__name__}: {exc}"
        return fatal(text, "SerializationError", started_ns)
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
    return spec, active, args, kwargs, marked


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
