"""What one run produced, and the ``Outcome`` it makes, for ``execution``: ``Invocation`` (the
task's return value, or its exception and traceback), its classification (success with the
result encoded, bound and signed as the queue says; a cancellation; a failure, retryable by the
task's rules), and the outcomes of runs that could not start or escaped."""

from __future__ import annotations

import asyncio
import time
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from taskito.context import ActiveJob
from taskito.exceptions import TaskCancelledError
from taskito.job import Outcome, OutcomeKind
from taskito.serializers import binds_context, dumps_bound
from taskito.signing import result_context, seal

if TYPE_CHECKING:
    from taskito.registry import ExecutionEnv, TaskSpec


@dataclass(frozen=True, slots=True)
class Invocation:
    """What calling a task produced: its return value, or the exception and its traceback."""

    value: Any
    error: BaseException | None
    traceback: str | None


def classify(
    invocation: Invocation,
    spec: TaskSpec,
    env: ExecutionEnv,
    active: ActiveJob,
    started_ns: int,
) -> Outcome:
    error = invocation.error
    if error is None:
        return encode_success(invocation.value, env, active, started_ns)
    wall_time_ns = time.perf_counter_ns() - started_ns
    error_text = invocation.traceback or repr(error)
    if is_cancellation(error, active):
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


def is_cancellation(error: BaseException, active: ActiveJob) -> bool:
    if isinstance(error, TaskCancelledError):
        return True
    # A force-cancelled coroutine ends with CancelledError; only a requested cancel counts.
    return isinstance(error, asyncio.CancelledError) and active.cancel_flag.is_set()


def encode_success(value: Any, env: ExecutionEnv, active: ActiveJob, started_ns: int) -> Outcome:
    if value is None:
        encoded = None
    else:
        try:
            encoded = encode_result(value, env, active)
        except BaseException as exc:  # pickling runs the value's own code
            text = (
                f"result could not be serialized: {type(value).__name__} value "
                f"({type(exc).__name__}: {exc})"
            )
            # The task already ran with its side effects; a retry would fail the same way.
            return fatal(text, "SerializationError", started_ns)
    return Outcome(
        OutcomeKind.SUCCESS,
        result=encoded,
        wall_time_ns=time.perf_counter_ns() - started_ns,
    )


def encode_result(value: Any, env: ExecutionEnv, active: ActiveJob) -> bytes:
    """The return value's bytes, bound to the job and signed when the queue signs."""
    if env.signer is None and not binds_context(env.serializer):
        return env.serializer.dumps(value)
    context = result_context(active.job_id, active.task_name)
    return seal(env.signer, context, dumps_bound(env.serializer, value, context))


def fatal(error: str, exception_type: str, started_ns: int) -> Outcome:
    return Outcome(
        OutcomeKind.FAILURE,
        error=error,
        retryable=False,
        wall_time_ns=time.perf_counter_ns() - started_ns,
        exception_type=exception_type,
    )


def escaped_outcome(error: BaseException) -> Outcome:
    """The failed attempt of a job whose run raised past ``run_job`` (a pool's last guard:
    the slot stays usable and the job is retried per its policy)."""
    return Outcome(
        OutcomeKind.FAILURE,
        error=format_traceback(error) or repr(error),
        exception_type=type(error).__name__,
    )


def format_traceback(error: BaseException | None) -> str | None:
    if error is None:
        return None
    return "".join(traceback.format_exception(error)).rstrip()


__all__ = [
    "Invocation",
    "classify",
    "encode_result",
    "encode_success",
    "escaped_outcome",
    "fatal",
    "format_traceback",
    "is_cancellation",
]
